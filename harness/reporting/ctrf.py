"""A stored run as a CTRF report (Common Test Report Format, https://ctrf.io), the JSON
that CTRF reporters and their GitHub/Slack/dashboard tools read.

Follows the CTRF JSON Schema as the ``ctrf`` npm package publishes it
(``ctrf-schema-0.0.json``, spec version 0.0.0; tests/reporting/data holds the copy the
tests validate against). Written incrementally: the tests array is streamed from the
store case by case and the summary follows it (JSON objects are unordered), so a run of a
million cases is exported in bounded memory.

Outcomes: passed → passed; failed and error → failed; skipped and xfailed → skipped;
xpassed → passed (pytest's JUnit report says the same); ``rawStatus`` keeps the
harness's outcome. A re-run test has ``retries`` and ``retryAttempts`` (the attempts
other than the one it is reported by, numbered from 1, the first) and ``flaky``.
``summary.suites`` is left out: the ``ctrf`` library counts the distinct ``suite`` paths,
which a streamed export would have to hold in memory.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, TextIO

from harness import __version__
from harness.reporting.run_cases import Attempt, Case, final_counts, iter_cases
from harness.results.model import Outcome
from harness.store import RunRecord, Store

#: the CTRF specification version written (the ``ctrf`` package's CURRENT_SPEC_VERSION)
SPEC_VERSION = "0.0.0"

CTRF_STATUS: dict[Outcome, str] = {
    Outcome.PASSED: "passed",
    Outcome.FAILED: "failed",
    Outcome.ERROR: "failed",
    Outcome.SKIPPED: "skipped",
    Outcome.XFAILED: "skipped",
    Outcome.XPASSED: "passed",
}


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _epoch_ms(when: datetime) -> int:
    return round(when.timestamp() * 1000)


def suite_path(test_id: str) -> list[str]:
    """The suite hierarchy of a test id: its ``::``-separated parts but the last (pytest's
    file and class); empty for ids without one (gtest ``Suite.Test``, ctest names)."""
    return test_id.split("::")[:-1]


def _attempt_json(a: Attempt) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attempt": a.number,
        "status": CTRF_STATUS[a.result.outcome],
        "duration": _ms(a.result.duration_s),
    }
    if a.result.message:
        out["message"] = a.result.message
    return out


def case_json(case: Case) -> dict[str, Any]:
    """One CTRF test object."""
    r = case.final.result
    test: dict[str, Any] = {
        "name": case.test_id,
        "testId": case.test_id,
        "status": CTRF_STATUS[r.outcome],
        "rawStatus": r.outcome.value,
        "duration": _ms(r.duration_s),
    }
    if suite := [s for s in suite_path(case.test_id) if s]:
        test["suite"] = suite
    if r.message:
        test["message"] = r.message
    if case.others:
        test["retries"] = case.retries
        test["retryAttempts"] = [_attempt_json(a) for a in case.others]
        test["flaky"] = case.flaky
    return test


def _environment(rec: RunRecord) -> dict[str, Any]:
    env: dict[str, Any] = {
        "reportName": f"{rec.cell} run {rec.id}",
        "appName": rec.upstream,
        "repositoryName": rec.upstream,
        "repositoryUrl": f"https://github.com/{rec.upstream}",
        "buildId": str(rec.id),
        "buildName": rec.cell,
        "healthy": rec.status == "passed",
        "extra": {"suite": rec.suite, "backend": rec.backend, "variant": rec.variant},
    }
    if rec.sha:
        env["commit"] = rec.sha
    if rec.ref:
        env["branchName"] = rec.ref
    return env


def write_ctrf(out: TextIO, store: Store, run_id: int, *, now: datetime | None = None) -> int:
    """Write run ``run_id`` to ``out`` as a CTRF document; returns how many tests."""
    rec = store.get_run(run_id)
    attempts = store.attempts(run_id)
    now = now or datetime.now(UTC)
    head = {
        "reportFormat": "CTRF",
        "specVersion": SPEC_VERSION,
        "reportId": str(uuid.uuid4()),
        "runId": f"{rec.cell}#{rec.id}",
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "generatedBy": f"accel-harness {__version__}",
    }
    out.write(json.dumps(head)[:-1] + ', "results": {')
    tool = {"name": "accel-harness", "version": __version__, "extra": {"suite": rec.suite}}
    out.write(f'"tool": {json.dumps(tool)}, "tests": [')
    n = 0
    for case in iter_cases(store, run_id, attempts):
        out.write(("," if n else "") + "\n" + json.dumps(case_json(case)))
        n += 1
    counts, flaky = final_counts(store.outcome_counts(run_id), attempts)
    start = _epoch_ms(rec.started_at)
    if rec.finished_at is not None:
        stop = _epoch_ms(rec.finished_at)
    else:
        stop = start + _ms(rec.duration_s or 0.0)
    summary = {
        "tests": n,
        "passed": counts["passed"] + counts["xpassed"],
        "failed": counts["failed"] + counts["error"],
        "skipped": counts["skipped"] + counts["xfailed"],
        "pending": 0,
        "other": 0,
        "flaky": flaky,
        "start": start,
        "stop": stop,
        "duration": max(0, stop - start),
        "extra": {"status": rec.status, "reason": rec.reason, "counts": counts},
    }
    out.write(f'\n], "summary": {json.dumps(summary)}, ')
    out.write(f'"environment": {json.dumps(_environment(rec))}}}}}\n')
    return n
