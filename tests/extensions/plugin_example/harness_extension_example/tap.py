"""A result format: TAP (Test Anything Protocol), ``ok 1 - name`` / ``not ok 2 - name``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from harness.results.model import Outcome, ParseReport, TestResult

LINE = re.compile(r"^(not )?ok\b\s*\d*\s*(?:-\s*)?(?P<name>[^#]*?)\s*(?:#\s*(?P<directive>.*))?$")


def parse_tap(path: Path, report: ParseReport) -> Iterator[TestResult]:
    """One result per test line; a plan (``1..N``) that promises more lines than the file
    has marks it cut short."""
    planned: int | None = None
    seen = 0
    with path.open(encoding="utf-8", errors="replace") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if m := re.match(r"^1\.\.(\d+)", line):
                planned = int(m.group(1))
                continue
            m = LINE.match(line)
            if m is None:
                continue
            seen += 1
            directive = (m.group("directive") or "").strip()
            if directive.upper().startswith("SKIP"):
                outcome = Outcome.SKIPPED
            elif m.group(1):
                outcome = Outcome.FAILED
            else:
                outcome = Outcome.PASSED
            yield TestResult(m.group("name") or f"test {seen}", outcome, 0.0, directive or None)
    if planned is None or seen < planned:
        report.crashed = True
        report.crash_reason = f"TAP plan {planned} but {seen} test line(s)"
