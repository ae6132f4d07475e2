"""Files a job leaves in ``reports/out/<job-id>/``.

``summary.json``  the runs (the ``--json`` shape plus ids, reasons and paths)
``summary.md``    a human summary: a table per cell and the failing tests
``junit.xml``     every run's results merged, one ``<testsuite>`` per cell, written
                  incrementally from the store so a million results stay cheap
``logs/<cell>/``  one log per step; ``results/<cell>/`` the raw result files
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lxml import etree

from harness.config.suite import Suite
from harness.errors import ConfigError
from harness.results.model import OUTCOMES, Outcome
from harness.runner import RunSummary
from harness.store import Store
from harness.verdict.explained import rules_for_run
from harness.verdict.quarantine import Matcher

#: Failing tests listed per cell in summary.md.
MAX_LISTED_FAILURES = 50


def write_summary_json(path: Path, job_id: str, runs: Sequence[RunSummary]) -> None:
    data: dict[str, Any] = {
        "job": job_id,
        "runs": [
            {
                **r.as_json(),
                "run_id": r.run_id,
                "ref": r.ref,
                "reason": r.reason,
                "log_dir": str(r.log_dir) if r.log_dir else None,
                "args": r.args,
                "paths": {name: c.as_json() for name, c in r.paths.items()},
            }
            for r in runs
        ],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


def write_merged_junit(path: Path, store: Store, runs: Sequence[RunSummary]) -> None:
    """One JUnit file for all cells, streamed from the store."""
    with etree.xmlfile(str(path), encoding="utf-8") as xf:
        xf.write_declaration()
        with xf.element("testsuites", name="harness"):
            for run in runs:
                c = run.counts
                attrs = {
                    "name": run.cell.id,
                    "tests": str(sum(c.values())),
                    "failures": str(c["failed"]),
                    "errors": str(c["error"]),
                    "skipped": str(c["skipped"] + c["xfailed"]),
                    "time": f"{run.duration_s:.3f}",
                }
                with xf.element("testsuite", attrs):
                    with xf.element("properties"):
                        for key, value in (
                            ("harness.run_id", run.run_id),
                            ("harness.status", run.status.value),
                            ("harness.sha", run.sha or ""),
                        ):
                            xf.write(etree.Element("property", name=key, value=str(value)))
                    for result in store.iter_results(run.run_id):
                        case = etree.Element(
                            "testcase",
                            name=_xml_safe(result.test_id),
                            classname=run.cell.id,
                            time=f"{result.duration_s:.3f}",
                        )
                        tag = _JUNIT_TAG.get(result.outcome)
                        if tag:
                            child = etree.SubElement(case, tag)
                            if result.outcome in (Outcome.XFAILED, Outcome.XPASSED):
                                child.set("type", f"harness.{result.outcome.value}")
                            if result.message:
                                child.set("message", _xml_safe(result.message.splitlines()[0]))
                                child.text = _xml_safe(result.message)
                        xf.write(case)


_JUNIT_TAG = {
    Outcome.FAILED: "failure",
    Outcome.ERROR: "error",
    Outcome.SKIPPED: "skipped",
    Outcome.XFAILED: "skipped",
}


def _xml_safe(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (test output sometimes has them)."""
    return "".join(
        ch if ch in "\t\n\r" or " " <= ch <= "\ud7ff" or "\ue000" <= ch <= "\ufffd" else "?"
        for ch in text
    )


def write_summary_md(
    path: Path,
    job_id: str,
    store: Store,
    runs: Sequence[RunSummary],
    suites: dict[str, Suite],
    suites_dir: Path | None = None,
) -> None:
    """The job's summary in Markdown (GitHub's job summary): a row per cell, its status
    as the table says it, and its failures, each known one marked with its reason (the
    rules of :mod:`harness.verdict.explained`)."""
    from harness.reporting.console import status_label

    lines = [f"# harness job `{job_id}`", ""]
    header = "| cell | status | sha | " + " | ".join(o.value for o in OUTCOMES) + " | time |"
    lines += [header, "|" + "---|" * (len(OUTCOMES) + 4)]
    for r in runs:
        counts = " | ".join(str(r.counts[o.value]) for o in OUTCOMES)
        sha = (r.sha or "-")[:12]
        lines.append(
            f"| `{r.cell.id}` | **{status_label(r)}** | `{sha}` | {counts} | {r.duration_s:.1f}s |"
        )
    for r in runs:
        if r.reason:
            lines += ["", f"**{r.cell.id}**: {_md_escape(r.reason)}"]
        for choice in r.paths.values():
            lines += ["", f"**{r.cell.id}**: test path {_md_escape(choice.describe())}"]
        n_failing = r.counts["failed"] + r.counts["error"]
        if not n_failing:
            continue
        try:
            rules = rules_for_run(
                suites_dir, r.cell.suite, r.cell.id, r.cell.backend,
                suite_config=suites.get(r.cell.suite),
            )  # fmt: skip
        except ConfigError:
            rules = []
        matcher = Matcher(rules)
        known_n = f", {r.explained} known" if r.explained else ""
        lines += ["", f"## Failures in `{r.cell.id}` ({n_failing}{known_n})", ""]
        for listed, res in enumerate(store.iter_results(r.run_id, outcomes=["failed", "error"])):
            if listed == MAX_LISTED_FAILURES:
                lines.append(f"- … and {n_failing - listed} more (see junit.xml)")
                break
            rule = matcher.match(res.test_id) if matcher else None
            tag = f" (known failure: {_md_escape(rule.reason)})" if rule else ""
            head = (res.message or "").strip().splitlines()[:1]
            msg = f": {_md_escape(head[0][:200])}" if head else ""
            lines.append(f"- `{res.test_id}` {res.outcome.value}{tag}{msg}")
    path.write_text("\n".join(lines) + "\n")


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
