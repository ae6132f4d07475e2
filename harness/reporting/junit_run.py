"""A stored run as one JUnit XML file with its reruns, in the shape Maven Surefire and
pytest-rerunfailures write and Jenkins and GitLab read.

A test that failed and then passed on a rerun is a passing ``<testcase>`` with one
``<flakyFailure>`` (``<flakyError>`` for an error) per failing attempt; a test that
failed on every attempt has its first attempt's ``<failure>`` (``<error>``) and one
``<rerunFailure>`` (``<rerunError>``) per rerun. Each of those carries ``message``,
``type`` and the attempt's text in ``<stackTrace>``. The ``<testsuite>`` counts are the
cases as reported (a flaky test counts as passed, as in Surefire), with ``flaky`` in its
properties.

Written with lxml's incremental writer straight from the store, so a run of a million
cases is exported in bounded memory.
"""

from __future__ import annotations

import re
from typing import BinaryIO

from lxml import etree

from harness.reporting.run_cases import Case, failing, final_counts, iter_cases
from harness.results.model import Outcome
from harness.store import Store

_FIRST_TAG = {Outcome.FAILED: "failure", Outcome.ERROR: "error"}
_SKIP_TYPE = {Outcome.SKIPPED: "harness.skipped", Outcome.XFAILED: "harness.xfailed"}


#: characters XML 1.0 cannot carry (its Char production, negated)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """Replace the characters XML 1.0 cannot carry (test output sometimes has them) by
    ``?``."""
    return _NOT_XML.sub("?", text)


def split_test_id(test_id: str, default_class: str) -> tuple[str, str]:
    """``(classname, name)``: a pytest id ``<classname>::<name>`` splits back into the
    two it was made of; any other id keeps its name under ``default_class``."""
    if "::" in test_id:
        classname, name = test_id.rsplit("::", 1)
        return classname, name
    return default_class, test_id


def _problem(case_el: etree._Element, tag: str, outcome: Outcome, message: str | None) -> None:
    el = etree.SubElement(case_el, tag, type=f"harness.{outcome.value}")
    if message:
        el.set("message", xml_safe(message.splitlines()[0] if message.strip() else message))
        if tag.startswith(("flaky", "rerun")):
            etree.SubElement(el, "stackTrace").text = xml_safe(message)
        else:
            el.text = xml_safe(message)


def case_element(case: Case, default_class: str) -> etree._Element:
    """The ``<testcase>`` of one case, its reruns included."""
    r = case.final.result
    classname, name = split_test_id(case.test_id, default_class)
    el = etree.Element(
        "testcase",
        classname=xml_safe(classname),
        name=xml_safe(name),
        time=f"{r.duration_s:.3f}",
    )
    if case.flaky:
        for a in case.others:
            if failing(a.result.outcome):
                kind = "flakyError" if a.result.outcome is Outcome.ERROR else "flakyFailure"
                _problem(el, kind, a.result.outcome, a.result.message)
        return el
    if failing(r.outcome):
        # the first attempt is the failure; every failing rerun after it a rerun element
        first = case.others[0].result if case.others else r
        _problem(el, _FIRST_TAG[first.outcome], first.outcome, first.message)
        for a in [*case.others[1:], case.final] if case.others else []:
            if not failing(a.result.outcome):
                continue
            kind = "rerunError" if a.result.outcome is Outcome.ERROR else "rerunFailure"
            _problem(el, kind, a.result.outcome, a.result.message)
    elif r.outcome in _SKIP_TYPE:
        skipped = etree.SubElement(el, "skipped", type=_SKIP_TYPE[r.outcome])
        if r.message:
            skipped.set("message", xml_safe(r.message.splitlines()[0] if r.message else ""))
    return el


def write_junit(out: BinaryIO, store: Store, run_id: int) -> int:
    """Write run ``run_id`` to ``out`` as JUnit XML; returns how many test cases."""
    rec = store.get_run(run_id)
    attempts = store.attempts(run_id)
    counts, flaky = final_counts(store.outcome_counts(run_id), attempts)
    total = sum(counts.values())
    attrs = {
        "name": rec.cell,
        "tests": str(total),
        "failures": str(counts["failed"]),
        "errors": str(counts["error"]),
        "skipped": str(counts["skipped"] + counts["xfailed"]),
        "time": f"{rec.duration_s or 0.0:.3f}",
        "timestamp": rec.started_at.replace(tzinfo=None).isoformat(timespec="seconds"),
    }
    n = 0
    with etree.xmlfile(out, encoding="utf-8") as xf:
        xf.write_declaration()
        outer = {k: attrs[k] for k in attrs if k != "timestamp"}
        with xf.element("testsuites", outer), xf.element("testsuite", attrs):
            with xf.element("properties"):
                for key, value in _properties(rec.id, rec.status, rec.upstream, rec.sha, flaky):
                    xf.write(etree.Element("property", name=key, value=value))
            for case in iter_cases(store, run_id, attempts):
                xf.write(case_element(case, rec.cell))
                n += 1
                if n % 1000 == 0:
                    xf.flush()
    return n


def _properties(
    run_id: int, status: str, upstream: str, sha: str | None, flaky: int
) -> list[tuple[str, str]]:
    return [
        ("harness.run_id", str(run_id)),
        ("harness.status", status),
        ("harness.upstream", upstream),
        ("harness.sha", sha or ""),
        ("harness.flaky", str(flaky)),
    ]
