"""JUnit XML as ``ctest --output-junit FILE`` writes it (CMake ≥ 3.21).

Every ``<testcase>`` has ``name`` (the ctest test name, the ``test_id``), a ``status``
and a ``<system-out>`` with the test's output. The mapping follows what ctest itself
counts as passed, failed and "did not run":

* ``status="run"`` → passed (a ``WILL_FAIL`` test that failed included);
* ``status="fail"`` (with ``<failure>``) → failed: non-zero exit, timeout, signal;
* ``status="disabled"`` → skipped (ctest: "Not Run (Disabled)");
* ``status="notrun"`` with ``<skipped message="SKIP_…">`` → skipped: the test skipped
  itself through ``SKIP_RETURN_CODE`` or ``SKIP_REGULAR_EXPRESSION``;
* ``status="notrun"`` for any other reason → error. ctest counts these as *failed*
  ("Not Run"): the executable was not found, a fixture dependency failed, required
  files are missing. Mapping them to skipped would hide a broken build;
* any other status → error.

``message``: for failed and error cases the ``message`` attribute (often empty: ctest
writes its reason only for some failures) followed by the *end* of the test's output,
which is where the cause usually is; for skipped cases the skip reason. The output of
passing tests is not read. ctest itself caps what it keeps of a test's output
(``--test-output-size-passed``/``--test-output-size-failed``, 1 kB and 300 kB by
default), which bounds the text held for one case.
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
from harness.results.xmlstream import duration, iter_testcases, text_of

#: ``<skipped message>`` prefixes ctest writes for a test that skipped itself.
SKIP_PREFIXES = ("SKIP_RETURN_CODE", "SKIP_REGULAR_EXPRESSION")

_PASSED, _FAILED, _SKIPPED, _ERROR = Outcome.PASSED, Outcome.FAILED, Outcome.SKIPPED, Outcome.ERROR


def _tail(text: str, limit: int) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    return f"[… {len(text) - limit} characters of output cut]\n" + text[-limit:]


def _with_output(head: str, output: etree._Element | None) -> str | None:
    """``head`` and the end of the test's output, within the message limit."""
    head = head.strip()
    room = MAX_MESSAGE_CHARS - len(head) - 60
    text = _tail(text_of(output), room) if room > 0 else ""
    return truncate_message(f"{head}\n{text}" if head and text else head or text)


def ctest_outcome(case: etree._Element) -> tuple[Outcome, str | None]:
    """The outcome and message of one ctest ``<testcase>`` element."""
    status = case.get("status") or ""
    failure = skipped = output = None
    for child in case:  # one pass; ``find`` costs more per call
        tag = child.tag
        if tag == "failure":
            failure = child
        elif tag == "skipped":
            skipped = child
        elif tag == "system-out":
            output = child
    if status == "run" and failure is None:
        return _PASSED, None
    if failure is not None or status == "fail":
        head = (failure.get("message") or "") if failure is not None else ""
        # ctest's JUnit records no exit code or timeout: say so rather than nothing
        return _FAILED, _with_output(head, output) or "failed with no output"
    if status == "disabled":
        return _SKIPPED, "disabled"
    reason = (skipped.get("message") or "") if skipped is not None else ""
    if status == "notrun":
        if reason.startswith(SKIP_PREFIXES):
            return _SKIPPED, truncate_message(reason)
        return _ERROR, _with_output(reason or "not run", output)
    return _ERROR, truncate_message(f"unknown ctest status {status!r} {reason}")


def parse_ctest_junit(path: Path, report: ParseReport) -> Iterator[TestResult]:
    """Stream ctest JUnit XML (format ``ctest-junit``)."""
    for case in iter_testcases(path, report):
        outcome, message = ctest_outcome(case)
        yield TestResult(case.get("name") or "<unnamed>", outcome, duration(case), message)
