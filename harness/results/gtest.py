"""googletest XML (``--gtest_output=xml:FILE``), including OpenCV's ts flavour.

``test_id`` is googletest's own ``Suite.Test`` (``classname.name``; typed and
parameterised names stay as googletest prints them, e.g.
``Core/ArithmTest.accuracy/0``). ``<failure>`` → failed; ``result="skipped"`` or a
``<skipped>`` child (GTEST_SKIP) → skipped; ``status="notrun"`` (``DISABLED_`` tests) →
skipped; ``result="suppressed"`` → skipped. Extra attributes and properties that OpenCV's
test harness adds are ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from harness.results.junit import duration
from harness.results.model import Outcome, ParseReport, TestResult, truncate_message
from harness.results.xmlstream import iter_testcases, text_of


def _gtest_outcome(case: etree._Element) -> tuple[Outcome, str | None]:
    failures = case.findall("failure")
    if failures:
        parts = [f.get("message") or text_of(f) for f in failures]
        return Outcome.FAILED, truncate_message("\n".join(p for p in parts if p))
    skipped = case.find("skipped")
    if skipped is not None:
        return Outcome.SKIPPED, truncate_message(skipped.get("message") or text_of(skipped))
    result = (case.get("result") or "").lower()
    status = (case.get("status") or "").lower()
    if result in {"skipped", "suppressed"} or status == "notrun":
        return Outcome.SKIPPED, truncate_message(f"gtest {status or result}")
    return Outcome.PASSED, None


def parse_gtest_xml(path: Path, report: ParseReport) -> Iterator[TestResult]:
    for case in iter_testcases(path, report):
        classname = case.get("classname")
        name = case.get("name") or "<unnamed>"
        test_id = f"{classname}.{name}" if classname else name
        outcome, message = _gtest_outcome(case)
        yield TestResult(test_id, outcome, duration(case), message)
