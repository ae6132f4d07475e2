"""Normalized test results: what every parser yields and the store keeps.

A parser never returns a list: it yields :class:`TestResult` objects one at a time so a
result file of any size is read in bounded memory. Problems with the file itself (it was
cut short by a crash, it is not XML) are reported through :class:`ParseReport` after the
iteration ends; the results parsed up to that point are kept.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

#: Messages longer than this are cut; the full text stays in the log files.
MAX_MESSAGE_CHARS = 4000


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"
    XFAILED = "xfailed"
    XPASSED = "xpassed"


#: The order of counts in summaries and in ``--json`` output.
OUTCOMES: tuple[Outcome, ...] = tuple(Outcome)


class TestResult(NamedTuple):
    """One test case, normalized across formats.

    ``test_id`` is stable across runs of the same suite: for pytest it is
    ``<classname>::<name>`` as written in the JUnit file, for gtest ``Suite.Test``,
    for ctest the test name.

    A named tuple rather than a dataclass: millions are made per large result file, and a
    tuple is several times cheaper to build and hands straight to the database driver.
    """

    test_id: str
    outcome: Outcome
    duration_s: float = 0.0
    message: str | None = None


#: Failing test ids a :class:`ParseReport` keeps (a broken build fails everything; its
#: failures are counted, not listed).
MAX_TRACKED_FAILURES = 1000


@dataclass(slots=True)
class ParseReport:
    """What a parser learned about the file besides its test cases.

    ``crashed`` is set when the file ended early or is malformed: the results yielded
    before the problem are valid and kept, and the run is marked ``crashed`` with
    ``crash_reason``.
    """

    path: str
    format: str
    cases: int = 0
    crashed: bool = False
    crash_reason: str | None = None
    counts: dict[str, int] = field(default_factory=lambda: {o.value: 0 for o in OUTCOMES})
    #: ids of failed and errored cases, in file order, at most :data:`MAX_TRACKED_FAILURES`
    #: (the runner re-runs them)
    failing: list[str] = field(default_factory=list)
    #: what a reader of the results should know that is not a crash (e.g. skips that could
    #: not be told apart from passes)
    notes: list[str] = field(default_factory=list)

    def note_failing(self, test_id: str) -> None:
        if len(self.failing) < MAX_TRACKED_FAILURES:
            self.failing.append(test_id)


#: longer test ids are cut, keeping a hash of the whole id so cut ids stay distinct
MAX_TEST_ID_CHARS = 1000


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def clean_test_id(test_id: str) -> str:
    """``test_id`` as stored: characters that do not print escaped (``\\x0a``,
    ``\\u2028``) and then `` [escaped #`` and 12 hex digits of the original's SHA-256 (so
    ``a<newline>b`` and a literal ``a\\nb`` stay two tests), and cut to
    :data:`MAX_TEST_ID_CHARS` with ``…#`` and 16 hex digits of the original's SHA-256.
    Clean ids come back unchanged."""
    original = test_id
    if not test_id.isprintable():
        test_id = "".join(
            c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in test_id
        )
        test_id += f" [escaped #{_digest(original)[:12]}]"
    if len(test_id) > MAX_TEST_ID_CHARS:
        test_id = f"{test_id[: MAX_TEST_ID_CHARS - 18]}…#{_digest(original)[:16]}"
    return test_id


#: what a message must not carry raw: control characters but newline and tab (terminal
#: escape sequences, BEL, C1 controls such as CSI), and lone surrogates (not text)
UNSAFE_IN_MESSAGE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape", "backslashreplace").decode("ascii")


def truncate_message(text: str | None, limit: int = MAX_MESSAGE_CHARS) -> str | None:
    """Cut ``text`` to ``limit`` characters, marking the cut, with control characters
    (but newline and tab) and lone surrogates escaped; ``None`` and "" stay ``None``."""
    if not text:
        return None
    text = text.strip()
    if len(text) > limit:
        text = text[: limit - 40].rstrip() + f"\n… [{len(text) - limit + 40} characters cut]"
    if UNSAFE_IN_MESSAGE.search(text):
        text = UNSAFE_IN_MESSAGE.sub(_escape, text)
    return text or None


TestResult.__test__ = False  # type: ignore[attr-defined]  # not a pytest test class
