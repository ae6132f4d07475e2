"""Quarantine suggestions from history (pure: the counts come from
:mod:`harness.store.history`).

An addition is a test failing on each of the newest N default-branch runs of a cell
(default 3) that no rule quarantines yet; a removal is a rule whose tests were all ok on
each of the newest M default-branch runs (default 5) of every cell that has that many.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.verdict.categories import QuarantineRule
from harness.verdict.quarantine import Matcher, glob_match

DEFAULT_FAILURES = 3
DEFAULT_PASSES = 5


@dataclass(frozen=True, slots=True)
class Addition:
    test_id: str
    cell: str
    #: the consecutive failing runs seen (the newest N)
    runs: int
    #: the oldest and newest SHA of those runs
    since_sha: str | None
    message: str | None


@dataclass(frozen=True, slots=True)
class Removal:
    rule: QuarantineRule
    #: the tests the rule matched, each ok on every one of the newest M runs
    tests: tuple[str, ...]
    runs: int


@dataclass(frozen=True, slots=True)
class Observed:
    """A test over a cell's newest runs: how many it was ok in, failing in, seen in."""

    ok: int
    failing: int
    seen: int


def suggest_additions(
    failing: Mapping[str, Mapping[str, tuple[int, str | None]]],
    matcher: Matcher,
    *,
    runs: int,
    since: Mapping[str, str | None],
) -> list[Addition]:
    """``failing``: cell → test id → (failing runs among the newest ``runs``, a message).

    Tests failing in all of them and not quarantined yet, sorted by test id then cell;
    ``since`` gives each cell's oldest SHA in the window.
    """
    out = [
        Addition(test_id, cell, n, since.get(cell), message)
        for cell, tests in failing.items()
        for test_id, (n, message) in tests.items()
        if n >= runs and matcher.match(test_id) is None
    ]
    out.sort(key=lambda a: (a.test_id, a.cell))
    return out


def suggest_removals(
    rules: Sequence[QuarantineRule],
    observed: Mapping[str, Mapping[str, Observed]],
    *,
    runs: int,
) -> list[Removal]:
    """``observed``: cell → test id → counts over that cell's newest ``runs`` runs (only
    cells that had that many). A rule is suggested for removal when it matches at least
    one observed test and every test it matches was ok in all of them, in every cell."""
    out: list[Removal] = []
    for rule in rules:
        matched: set[str] = set()
        clean = True
        for tests in observed.values():
            for test_id, obs in tests.items():
                if not any(glob_match(p, test_id) for p in rule.tests):
                    continue
                matched.add(test_id)
                if obs.ok < runs or obs.failing:
                    clean = False
        if matched and clean:
            out.append(Removal(rule, tuple(sorted(matched)), runs))
    return out


def addition_yaml(additions: Sequence[Addition], backend: str) -> str:
    """Entries to paste under ``quarantine:`` (reason and link left for a person)."""
    lines: list[str] = []
    for a in additions:
        reason = f"failing on the last {a.runs} default-branch runs of {a.cell}"
        lines += [
            f"  - backend: {_yaml_str(backend)}",
            f"    test: {_yaml_str(a.test_id)}",
            f"    reason: {_yaml_str(reason)}",
            "    link: https://github.com/OWNER/REPO/issues/NUMBER  # TODO: the tracking issue",
        ]
    return "\n".join(lines) + ("\n" if lines else "")


def _yaml_str(text: str) -> str:
    """A double-quoted YAML scalar (JSON string syntax is valid YAML)."""
    return json.dumps(text, ensure_ascii=False)
