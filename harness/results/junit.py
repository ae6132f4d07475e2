"""JUnit XML as pytest writes it (``junit_family`` xunit1 and xunit2).

``test_id`` is ``<classname>::<name>`` (``name`` alone without a classname), which is
what pytest puts in both families, so ids are stable whichever a recipe uses.

Outcomes: ``<failure>`` → failed (a ``[XPASS(strict)]`` message stays failed),
``<error>`` → error, ``<skipped type="pytest.xfail">`` → xfailed, other ``<skipped>`` →
skipped, no child → passed. A non-strict xpass is indistinguishable from a pass in
pytest's JUnit; the harness's own streaming plugin marks it with
``harness-outcome="xpassed"``, which this parser honours.

pytest writes a second ``<testcase>`` with the same classname and name when a test passes
but its teardown errors (or fails in setup and teardown). Those are adjacent in the file;
they are merged into one result with the worse outcome and the durations added, keeping
only the previous case in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from harness.results.model import Outcome, ParseReport, TestResult, truncate_message
from harness.results.xmlstream import iter_testcases, text_of

#: Worse outcomes win when two records of one test are merged.
SEVERITY = {
    Outcome.PASSED: 0,
    Outcome.XPASSED: 1,
    Outcome.SKIPPED: 2,
    Outcome.XFAILED: 3,
    Outcome.FAILED: 4,
    Outcome.ERROR: 5,
}


def duration(elem: etree._Element) -> float:
    try:
        value = float(elem.get("time", "0") or 0)
    except ValueError:
        return 0.0
    return value if value >= 0 else 0.0


def message_of(child: etree._Element) -> str | None:
    head = child.get("message") or ""
    body = text_of(child)
    if head and body and head.strip() not in body[: len(head) + 50]:
        return truncate_message(f"{head}\n{body}")
    return truncate_message(body or head)


def pytest_outcome(case: etree._Element) -> tuple[Outcome, str | None]:
    for child in case:
        tag = child.tag
        if tag == "failure":
            return Outcome.FAILED, message_of(child)
        if tag == "error":
            return Outcome.ERROR, message_of(child)
        if tag == "skipped":
            if child.get("type") == "pytest.xfail":
                return Outcome.XFAILED, message_of(child)
            return Outcome.SKIPPED, message_of(child)
    if case.get("harness-outcome") == Outcome.XPASSED.value:
        return Outcome.XPASSED, None
    return Outcome.PASSED, None


def case_id(case: etree._Element) -> str:
    name = case.get("name") or "<unnamed>"
    classname = case.get("classname")
    return f"{classname}::{name}" if classname else name


def merge(a: TestResult, b: TestResult) -> TestResult:
    worse = a if SEVERITY[a.outcome] >= SEVERITY[b.outcome] else b
    return TestResult(
        test_id=a.test_id,
        outcome=worse.outcome,
        duration_s=a.duration_s + b.duration_s,
        message=worse.message,
    )


def parse_pytest_junit(path: Path, report: ParseReport) -> Iterator[TestResult]:
    previous: TestResult | None = None
    for case in iter_testcases(path, report):
        outcome, message = pytest_outcome(case)
        current = TestResult(case_id(case), outcome, duration(case), message)
        if previous is not None and previous.test_id == current.test_id:
            previous = merge(previous, current)
            continue
        if previous is not None:
            yield previous
        previous = current
    if previous is not None:
        yield previous
