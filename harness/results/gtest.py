"""googletest XML (``--gtest_output=xml:FILE``), including OpenCV's ts flavour.

``test_id`` is googletest's own ``Suite.Test`` (``classname.name``); typed and
parameterized names stay as googletest prints them (``Core/ArithmTest.accuracy/0``,
``Typed/1.Zero``).

Outcomes: one or more ``<failure>`` → failed (the messages joined); a ``<skipped>`` child
or ``result="skipped"`` (``GTEST_SKIP``) → skipped; ``status="notrun"`` /
``result="suppressed"`` (``DISABLED_`` tests, filtered-out tests) → skipped; otherwise
passed. Extra attributes (``value_param``, ``type_param``, ``file``, ``line``, OpenCV's
additions) and ``<properties>`` are ignored.

A failure outside any test (a global test environment's ``SetUp``/``TearDown``)
is written by googletest as a ``<testcase>`` with an empty name and classname inside a
``<testsuite name="NonTestSuiteFailure">``; it becomes an *error* whose ``test_id`` is
that suite's name.

googletest writes its XML file only when the whole program finishes; a binary that
crashes leaves no file at all (the caller reports a missing file), not a truncated one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from harness.results.model import Outcome, ParseReport, TestResult, truncate_message
from harness.results.xmlstream import duration, iter_testcases, join_message, text_of

_PASSED, _FAILED, _SKIPPED = Outcome.PASSED, Outcome.FAILED, Outcome.SKIPPED


def _messages(children: list[etree._Element]) -> str | None:
    parts = [join_message(c.get("message"), text_of(c)) for c in children]
    return truncate_message("\n\n".join(p for p in parts if p))


def gtest_outcome(case: etree._Element) -> tuple[Outcome, str | None]:
    """The outcome and message of one googletest ``<testcase>`` element."""
    failures: list[etree._Element] = []
    skipped: list[etree._Element] = []
    if len(case):  # one pass over the children; ``findall`` costs more per call
        for child in case:
            tag = child.tag
            if tag == "failure":
                failures.append(child)
            elif tag == "skipped":
                skipped.append(child)
    if failures:
        return _FAILED, _messages(failures)
    if skipped:
        return _SKIPPED, _messages(skipped)
    result = (case.get("result") or "").lower()
    status = (case.get("status") or "").lower()
    if result == "skipped":
        return _SKIPPED, None
    if status == "notrun" or result == "suppressed":
        return _SKIPPED, "not run (disabled or filtered out)"
    return _PASSED, None


def gtest_id(case: etree._Element) -> str:
    """``Suite.Test``; the enclosing suite's name for a failure outside any test."""
    classname = case.get("classname") or ""
    name = case.get("name") or ""
    if classname and name:
        return f"{classname}.{name}"
    parent = case.getparent()
    suite = parent.get("name") if parent is not None else None
    return classname or name or suite or "<unnamed>"


def parse_gtest_xml(path: Path, report: ParseReport) -> Iterator[TestResult]:
    """Stream googletest XML (format ``gtest-xml``)."""
    for case in iter_testcases(path, report):
        outcome, message = gtest_outcome(case)
        if outcome is _FAILED and not case.get("name"):
            outcome = Outcome.ERROR  # not a test: the environment or the program failed
        yield TestResult(gtest_id(case), outcome, duration(case), message)
