"""JUnit XML as ``ctest --output-junit`` writes it (CMake ≥ 3.21).

Each ``<testcase>`` has ``name`` (the ctest test name, used as ``test_id``) and a
``status``: ``run`` (passed), ``fail`` (with a ``<failure>`` child), ``notrun`` or
``disabled`` (skipped; ctest also writes a ``<skipped>`` child for SKIP_RETURN_CODE and
SKIP_REGULAR_EXPRESSION). The ``<system-out>`` holds the test's output; only its tail is
kept as the message of a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from harness.results.junit import duration
from harness.results.model import (
    MAX_MESSAGE_CHARS,
    Outcome,
    ParseReport,
    TestResult,
    truncate_message,
)
from harness.results.xmlstream import iter_testcases, text_of


def _tail(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def _ctest_outcome(case: etree._Element) -> tuple[Outcome, str | None]:
    status = (case.get("status") or "").lower()
    failure = case.find("failure")
    skipped = case.find("skipped")
    output = case.find("system-out")
    if failure is not None or status == "fail":
        head = failure.get("message", "") if failure is not None else "failed"
        out = _tail(text_of(output).strip())
        return Outcome.FAILED, truncate_message(f"{head}\n{out}" if out else head)
    if skipped is not None or status in {"notrun", "disabled"}:
        msg = skipped.get("message") if skipped is not None else None
        return Outcome.SKIPPED, truncate_message(msg or f"ctest status {status}")
    return Outcome.PASSED, None


def parse_ctest_junit(path: Path, report: ParseReport) -> Iterator[TestResult]:
    for case in iter_testcases(path, report):
        outcome, message = _ctest_outcome(case)
        yield TestResult(case.get("name") or "<unnamed>", outcome, duration(case), message)
