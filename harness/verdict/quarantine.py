"""Quarantine: tests of a suite that a backend's verdicts do not hold against a change.

One file per suite, ``suites/quarantine/<suite>.yaml`` (beside the suite files, so it is
reviewed the same way), with one entry per (backend glob, test id glob)::

    quarantine:
      - backend: npu                # a glob over backend names (fnmatch): npu, "*", "c*"
        test: "tests.test_ops::test_conv[*]"
        reason: aclnnConvolution returns NaN for stride 3 on CANN 8.3
        link: https://github.com/Ascend/pytorch/issues/1234
        expires: 2026-06-30         # optional: after this day the entry no longer applies

Test id globs know two wildcards: ``*`` (any run of characters, ``::`` and ``/`` included)
and ``?`` (one character); everything else is literal, pytest's ``[param]`` brackets
included. Every key is required except ``expires``; unknown keys, a link that is not an
http(s) URL and a repeated (backend, test) pair are errors naming the file, line and key,
as for suite files. A suite's ``known_failures`` (which name cells, not backends) apply
the same way; both make a failing test ``quarantined`` rather than a new failure.

``harness quarantine suggest SUITE/BACKEND`` proposes entries from history, ``harness
quarantine export SUITE/BACKEND`` prints them as pytest ``--deselect`` arguments or a
gtest negative filter for upstreams to use.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.config.loader import load_document
from harness.config.suite import Suite
from harness.errors import ConfigError
from harness.matrix import matches_any
from harness.verdict.categories import QuarantineRule

QUARANTINE_DIR = "quarantine"
_BLANK = re.compile(r"^\s*(#.*)?$")


class QuarantineEntry(BaseModel):
    """One quarantined test id glob on the backends matching ``backend``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str = Field(min_length=1, description="Backend name glob (fnmatch): npu, *, c*")
    test: str = Field(min_length=1, description="Test id glob: * and ? are the wildcards.")
    reason: str = Field(min_length=1, description="Why, in one line.")
    link: str = Field(description="The issue that tracks it (http or https URL).")
    expires: date | None = Field(default=None, description="Last day the entry applies.")

    @field_validator("test", "backend")
    @classmethod
    def _one_line(cls, v: str) -> str:
        if "\n" in v or "\r" in v or not v.strip():
            raise ValueError("must be one non-blank line")
        return v

    @field_validator("link")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+\S*$", v):
            raise ValueError(f"{v!r} is not an http(s) URL (link the issue that tracks it)")
        return v


class QuarantineFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    quarantine: list[QuarantineEntry] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LocatedEntry:
    entry: QuarantineEntry
    #: ``path:line`` of the entry
    source: str


def quarantine_path(suites_dir: Path, suite: str) -> Path:
    return suites_dir / QUARANTINE_DIR / f"{suite}.yaml"


def load_quarantine(path: Path, text: str | None = None) -> list[LocatedEntry]:
    """The entries of one quarantine file; a missing or empty file has none.

    Raises :class:`ConfigError` naming file, line, column and key for every problem.
    """
    if text is None:
        if not path.is_file():
            return []
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from exc
    if all(_BLANK.match(line) for line in text.splitlines()):
        return []
    doc, parsed = load_document(
        path, text, QuarantineFile, "a quarantine file is a mapping with 'quarantine:'"
    )
    out: list[LocatedEntry] = []
    seen: dict[tuple[str, str], str] = {}
    problems: list[str] = []
    for i, entry in enumerate(parsed.quarantine):
        where = doc.where(("quarantine", i))
        pos = doc.position_of(("quarantine", i))
        source = f"{path}:{pos.line}" if pos else str(path)
        key = (entry.backend, entry.test)
        if key in seen:
            problems.append(
                f"{doc.where(('quarantine', i, 'test'))}: quarantine[{i}].test: "
                f"'{entry.test}' on backend '{entry.backend}' is already quarantined at {seen[key]}"
            )
            continue
        seen[key] = where
        out.append(LocatedEntry(entry, source))
    if problems:
        raise ConfigError("\n".join(problems))
    return out


def rules_for_backend(entries: Iterable[LocatedEntry], backend: str) -> list[QuarantineRule]:
    """The entries that apply to ``backend`` (expired ones included)."""
    return [
        QuarantineRule(
            tests=(e.entry.test,),
            reason=e.entry.reason,
            link=e.entry.link,
            source=e.source,
            expires=e.entry.expires,
        )
        for e in entries
        if fnmatch.fnmatchcase(backend, e.entry.backend)
    ]


def known_failure_rules(suite: Suite, cell: str, source: str) -> list[QuarantineRule]:
    """A suite's ``known_failures`` that apply to ``cell``; ``source`` names the file."""
    return [
        QuarantineRule(
            tests=tuple(kf.tests),
            reason=kf.reason.strip(),
            link=kf.link,
            source=f"{source} known_failures[{i}]",
        )
        for i, kf in enumerate(suite.known_failures)
        if matches_any(cell, kf.cells)
    ]


def split_expired(
    rules: Iterable[QuarantineRule], today: date
) -> tuple[list[QuarantineRule], list[QuarantineRule]]:
    """(active, expired): an entry applies up to and including its ``expires`` day."""
    active: list[QuarantineRule] = []
    expired: list[QuarantineRule] = []
    for rule in rules:
        (expired if rule.expires is not None and rule.expires < today else active).append(rule)
    return active, expired


def glob_regex(pattern: str) -> str:
    """A regular expression (unanchored) for a test id glob: ``*``, ``?``, the rest literal."""
    return "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)


def glob_match(pattern: str, test_id: str) -> bool:
    return re.fullmatch(glob_regex(pattern), test_id, re.DOTALL) is not None


class Matcher:
    """Which rule, if any, quarantines a test id (the first that matches, in order)."""

    def __init__(self, rules: Sequence[QuarantineRule]) -> None:
        self.rules = list(rules)
        self._any: re.Pattern[str] | None = None
        self._each: list[tuple[re.Pattern[str], QuarantineRule]] = []
        for rule in self.rules:
            for pattern in rule.tests:
                self._each.append((re.compile(glob_regex(pattern), re.DOTALL), rule))
        if self._each:
            either = "|".join(f"(?:{rx.pattern})" for rx, _r in self._each)
            self._any = re.compile(either, re.DOTALL)

    def __bool__(self) -> bool:
        return bool(self._each)

    def match(self, test_id: str) -> QuarantineRule | None:
        if self._any is None or self._any.fullmatch(test_id) is None:
            return None
        return next(rule for rx, rule in self._each if rx.fullmatch(test_id))
