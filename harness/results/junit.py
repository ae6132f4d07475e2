"""JUnit XML as pytest writes it (``junit_family`` xunit1 and xunit2).

``test_id`` is ``<classname>::<name>`` (``name`` alone without a classname). pytest
writes the same classname and name in both families (xunit1 only adds ``file``/``line``
attributes and ``<properties>``, which are ignored), so ids do not depend on the family.

Outcomes, from the children of ``<testcase>``:

* no ``failure``/``error``/``skipped`` child → passed;
* ``<failure>`` → failed. A strict xpass is written as a failure whose message starts
  with ``[XPASS(strict)]`` and stays failed;
* ``<error>`` → error (pytest's report of a failing fixture setup or teardown);
* ``<skipped type="pytest.xfail">`` → xfailed, any other ``<skipped>`` → skipped.

A *non-strict* xpass is written by pytest exactly like a pass, so it is read as passed:
the information is not in the file. The harness's own streaming writer
(``harness_junit_stream``) marks it with ``harness-outcome="xpassed"``, which is honoured.

When a test case carries several of these children (pytest writes ``<skipped>`` and then
``<error>`` for a skipped test whose teardown fails) the worse outcome wins, in the order
of :data:`SEVERITY`; the message has the worse child's text first.

**Duplicate test cases.** When a test fails in its call *and* errors in teardown, pytest
writes two adjacent ``<testcase>`` elements with the same classname and name (a
``<failure>`` then an ``<error>``). They are merged into one result: the worse outcome
(error ranks above failed), both messages (the worse first) and the durations added.
Only the immediately preceding case is held back for this, so memory stays bounded; the
same id appearing again later, not adjacent, is yielded as a separate result.

``message`` is the ``message`` attribute followed by the element text, cut by
:func:`~harness.results.model.truncate_message`; a passing test has none.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from harness.results.model import (
    MAX_MESSAGE_CHARS,
    Outcome,
    ParseReport,
    TestResult,
    truncate_message,
)
from harness.results.xmlstream import duration, iter_testcases, join_message, text_of

#: Worse outcomes win when a case has several results or two records of one test merge.
SEVERITY: dict[Outcome, int] = {
    Outcome.PASSED: 0,
    Outcome.XPASSED: 1,
    Outcome.SKIPPED: 2,
    Outcome.XFAILED: 3,
    Outcome.FAILED: 4,
    Outcome.ERROR: 5,
}

XFAIL_TYPE = "pytest.xfail"

# Enum member lookups cost a descriptor call each: bind them once (hot path).
_PASSED, _XPASSED = Outcome.PASSED, Outcome.XPASSED
_XPASSED_VALUE = Outcome.XPASSED.value


def _child_outcome(child: etree._Element) -> Outcome | None:
    tag = child.tag
    if tag == "failure":
        return Outcome.FAILED
    if tag == "error":
        return Outcome.ERROR
    if tag == "skipped":
        return Outcome.XFAILED if child.get("type") == XFAIL_TYPE else Outcome.SKIPPED
    return None


def _combine(messages: list[str]) -> str | None:
    """The distinct messages, in order, joined and cut: linear in their number (a case
    with 50k ``<failure>`` children is one pass), and only what the cut keeps is joined."""
    seen: set[str] = set()
    kept: list[str] = []
    size = 0
    for m in messages:
        if not m or m in seen:
            continue
        seen.add(m)
        kept.append(m)
        size += len(m) + 2
        if size > MAX_MESSAGE_CHARS:
            break  # the rest would be cut anyway
    return truncate_message("\n\n".join(kept))


def pytest_outcome(case: etree._Element) -> tuple[Outcome, str | None]:
    """The outcome and message of one pytest ``<testcase>`` element."""
    if not len(case):  # the common case: passed, nothing inside
        if case.get("harness-outcome") == _XPASSED_VALUE:
            return _XPASSED, None
        return _PASSED, None
    found: list[tuple[Outcome, str]] = []
    for child in case:
        outcome = _child_outcome(child)
        if outcome is not None:
            found.append((outcome, join_message(child.get("message"), text_of(child))))
    if not found:  # only <properties>, <system-out>, ...
        if case.get("harness-outcome") == _XPASSED_VALUE:
            return _XPASSED, None
        return _PASSED, None
    # stable sort: the worst first, document order among equals
    found.sort(key=lambda item: -SEVERITY[item[0]])
    return found[0][0], _combine([message for _, message in found])


def case_id(case: etree._Element) -> str:
    """``classname::name``, or ``name`` alone when there is no classname."""
    name = case.get("name") or "<unnamed>"
    classname = case.get("classname")
    return f"{classname}::{name}" if classname else name


def merge(first: TestResult, second: TestResult) -> TestResult:
    """One result for two adjacent records of the same test; see the module docstring."""
    worse, other = (first, second)
    if SEVERITY[second.outcome] > SEVERITY[first.outcome]:
        worse, other = second, first
    return TestResult(
        test_id=first.test_id,
        outcome=worse.outcome,
        duration_s=first.duration_s + second.duration_s,
        message=_combine([worse.message or "", other.message or ""]),
    )


def parse_pytest_junit(path: Path, report: ParseReport) -> Iterator[TestResult]:
    """Stream pytest JUnit XML (format ``junit``).

    The loop is the hot path of ingesting a large file: the common case (a passing test,
    no child elements) is handled inline, without helper calls.
    """
    previous: TestResult | None = None
    for case in iter_testcases(path, report):
        get = case.get
        name = get("name") or "<unnamed>"
        classname = get("classname")
        test_id = f"{classname}::{name}" if classname else name
        if len(case):
            outcome, message = pytest_outcome(case)
        elif get("harness-outcome") == _XPASSED_VALUE:
            outcome, message = _XPASSED, None
        else:
            outcome, message = _PASSED, None
        current = TestResult(test_id, outcome, duration(case), message)
        if previous is not None:
            if previous.test_id == test_id:
                previous = merge(previous, current)
                continue
            yield previous
        previous = current
    if previous is not None:
        yield previous
