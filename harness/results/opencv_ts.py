"""OpenCV's test binaries (``opencv_test_*``, its ``ts`` module): googletest XML plus the
console log, for the tests OpenCV skips (format ``opencv-ts``).

OpenCV's ts does not use ``GTEST_SKIP``. A test that throws ``SkipTestException`` (test
data it may go without, a tag in the skip list, a missing hardware feature) prints
``[     SKIP ] <reason>`` on the console and then *passes*: its ``<testcase>`` in the XML
has no mark at all. Read alone, the XML counts every such test as passed. So the parser
reads the console output of the same run first, from the file beside the XML with the
suffix ``.log`` (``core.xml`` → ``core.log``; a recipe writes it with
``... 2>&1 | tee {results_dir}/core.log``), and reports those tests as skipped with
OpenCV's reason.

Test data a test *requires* (``findDataFile(..., required=true)``) that is not there
raises ``OpenCV tests: Can't find required data file: PATH`` and the test fails. That is
a missing download, never a verdict on the backend, so a failure whose only message is
that one is reported as skipped, its reason naming the file (``needs test data ...``).
The opencv suite runs with opencv_extra's test data when the companion is available and
without it otherwise; either way such tests are visible as skipped with the file they
need, not hidden among passes or mixed with real failures.

Without the console log the results are the plain ``gtest-xml`` ones, and the report
says why the skips could not be told (a note on the file, not a crash).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from harness.results.collect import open_result
from harness.results.gtest import gtest_id, gtest_outcome
from harness.results.model import Outcome, ParseReport, TestResult, truncate_message
from harness.results.xmlstream import duration, iter_testcases

#: the console lines the parser reads (googletest's fixed-width tags)
#: a parameterized test's line goes on: "[ RUN      ] Suite/Case.name/3, where GetParam() = ..."
_RUN = re.compile(rb"^\[ RUN      \] ([^\s,]+)")
_SKIP = re.compile(rb"^\[     SKIP \] ?(.*)$")
_END = re.compile(rb"^\[ +(?:OK|FAILED) +\] (\S+)")
#: the failure ts raises for required test data that is missing (file or directory)
_MISSING_DATA = re.compile(r"OpenCV tests: Can't find required (?:data file|directory): (\S+)")
#: a reason is kept short; the number of skipped tests remembered is bounded
MAX_REASON = 500
MAX_SKIPS = 200_000
#: ... and so is the text kept for them (ids can be as long as a console line)
MAX_SKIP_BYTES = 32 * 1024 * 1024
#: a console line longer than this is not one of googletest's tags (read in pieces)
_LINE_LIMIT = 64 * 1024


def console_log(xml: Path) -> Path:
    """Where the console output of the run that wrote ``xml`` is expected."""
    return xml.with_suffix(".log")


def read_skips(log: Path) -> tuple[dict[str, str], bool]:
    """Test id → OpenCV's skip reason, read from a console log line by line; and whether
    the log was read whole (False when it holds more skipped tests than are kept)."""
    skips: dict[str, str] = {}
    current: str | None = None
    kept = 0
    with open_result(log) as f:
        while line := f.readline(_LINE_LIMIT):
            if len(line) == _LINE_LIMIT and not line.endswith(b"\n"):
                while (rest := f.readline(_LINE_LIMIT)) and not rest.endswith(b"\n"):
                    pass  # a long line is output, not a tag: skip to its end
                continue
            line = line.rstrip(b"\r\n")
            if m := _RUN.match(line):
                current = m.group(1).decode("utf-8", "replace")
            elif current is not None and (m := _SKIP.match(line)):
                if current not in skips:
                    reason = m.group(1).decode("utf-8", "replace").strip()[:MAX_REASON]
                    kept += len(current) + len(reason)
                    if len(skips) >= MAX_SKIPS or kept > MAX_SKIP_BYTES:
                        return skips, False
                    skips[current] = reason or "skipped by OpenCV's ts"
            elif _END.match(line):
                current = None
    return skips, True


def missing_data(message: str | None) -> str | None:
    """The path in a failure that is only ts's "can't find required data", else None."""
    if not message:
        return None
    found = _MISSING_DATA.findall(message)
    if not found:
        return None
    # every failure message of the test must be about missing data
    parts = [p for p in message.split("\n\n") if p.strip()]
    if not all(_MISSING_DATA.search(p) for p in parts):
        return None
    return ", ".join(dict.fromkeys(found))


def parse_opencv_ts(path: Path, report: ParseReport) -> Iterator[TestResult]:
    """Stream OpenCV ts googletest XML with its console log's skips (format ``opencv-ts``)."""
    log = console_log(path)
    skips: dict[str, str] = {}
    try:
        skips, whole = read_skips(log)
    except FileNotFoundError:
        report.notes.append(
            f"no console log {log.name} beside {path.name}: tests OpenCV skipped "
            "are counted as passed"
        )
    except OSError as exc:
        report.notes.append(f"console log {log.name} not read ({exc}): skips not told")
    else:
        if not whole:
            report.notes.append(
                f"console log {log.name}: more skipped tests than are kept "
                f"({MAX_SKIPS} or {MAX_SKIP_BYTES // 2**20} MB); the rest are counted as passed"
            )
    for case in iter_testcases(path, report):
        outcome, message = gtest_outcome(case)
        test_id = gtest_id(case)
        if outcome is Outcome.FAILED and not case.get("name"):
            outcome = Outcome.ERROR  # not a test: the environment or the program failed
        elif outcome is Outcome.PASSED and test_id in skips:
            outcome, message = Outcome.SKIPPED, truncate_message(skips[test_id])
        elif outcome is Outcome.FAILED and (needed := missing_data(message)) is not None:
            outcome, message = Outcome.SKIPPED, f"needs test data {needed} (not found)"
        yield TestResult(test_id, outcome, duration(case), message)
