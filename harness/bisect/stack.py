"""The search across the stack: which declared component (and version) flips the tests.

Given the components that differ between a good and a bad run at one upstream commit
(:func:`harness.stack.stack_diff`) and a ``probe`` that judges the tests with some
components pinned:

1. each changed component is tried alone: the good stack (every changed component at its
   good version) with that one component at its bad version. A probe that turns the
   tests bad names the component; one that stays good clears it;
2. for the component named, when its declaration lists versions (a wheel folder, an
   index, the image matrix), the versions after the good one up to the bad one are
   searched with the commit bisection's own search (:func:`harness.bisect.search.search`:
   the same skip and flaky semantics and probe budget), naming the first version that
   flips the tests.

Pure: runs nothing itself (the probe does); a stack already probed is not probed again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.bisect.search import Outcome, Verdict, default_max_probes, search
from harness.stack import ComponentChange, versions_between

#: (component tried, its version, the full pins) → the verdict of the tests there
StackProbe = Callable[[str, str, dict[str, str]], Verdict]


@dataclass(slots=True)
class StackAnswer:
    """``outcome``: ``found`` (component and version), ``component`` (the component; its
    first bad version is one of ``suspects``: skipped versions or the budget spent),
    ``flaky`` (a probe saw the tests pass and fail: ``flaky_at`` is where) or ``none``
    (no changed component alone flips the tests)."""

    outcome: str
    reason: str
    component: str | None = None
    version: str | None = None
    suspects: list[str] = field(default_factory=list)
    flaky_at: tuple[str, str] | None = None
    #: the version candidates searched for the component named (oldest first)
    candidates: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "component": self.component,
            "version": self.version,
            "suspects": list(self.suspects),
            "flaky_at": list(self.flaky_at) if self.flaky_at else None,
            "candidates": list(self.candidates),
        }


def good_stack(changes: Sequence[ComponentChange]) -> dict[str, str]:
    """The pins of the good end: every changed component at its good version."""
    return {c.name: c.good for c in changes if c.good is not None}


def bad_stack(changes: Sequence[ComponentChange]) -> dict[str, str]:
    """The pins of the bad end: every changed component at its bad version."""
    return {c.name: c.bad for c in changes if c.bad is not None}


def search_stack(
    changes: Sequence[ComponentChange],
    probe: StackProbe,
    versions: Mapping[str, Sequence[str] | None],
    *,
    max_probes: int | None = None,
) -> StackAnswer:
    """See the module docstring. ``versions``: component → the versions its declaration
    lists, oldest first (``None``: not listed); ``max_probes`` bounds the version search
    (default: :func:`harness.bisect.search.default_max_probes` of its candidates)."""
    base = good_stack(changes)
    seen: dict[tuple[tuple[str, str], ...], Verdict] = {}

    def run(component: str, version: str) -> Verdict:
        pins = {**base, component: version}
        key = tuple(sorted(pins.items()))
        if key not in seen:
            seen[key] = probe(component, version, pins)
        return seen[key]

    flipping: list[ComponentChange] = []
    for change in changes:
        if change.bad is None:
            continue  # gone from the bad stack: nothing to pin
        verdict = run(change.name, change.bad)
        if verdict is Verdict.FLAKY:
            return StackAnswer(
                "flaky",
                f"flaky, not a regression: the tests both passed and failed with "
                f"{change.name} {change.bad}",
                component=change.name,
                flaky_at=(change.name, change.bad),
            )
        if verdict is Verdict.BAD:
            flipping.append(change)
    if not flipping:
        return StackAnswer(
            "none", "no changed component alone flips the tests (a combination, or not the stack)"
        )
    change, others = flipping[0], [c.name for c in flipping[1:]]
    assert change.bad is not None
    note = f"; alone, {', '.join(others)} flip(s) them too" if others else ""
    listed = versions.get(change.name)
    candidates = (
        versions_between(listed, change.good, change.bad)
        if listed is not None and change.good is not None
        else [change.bad]
    )
    answer = StackAnswer("found", "", component=change.name, candidates=candidates)
    if len(candidates) == 1:
        answer.version, answer.suspects = change.bad, [change.bad]
        answer.reason = f"{change.name} {change.good} → {change.bad} flips the tests{note}"
        return answer
    budget = max_probes if max_probes is not None else default_max_probes(len(candidates))
    found = search(candidates, lambda v: run(change.name, v), max_probes=budget)
    answer.suspects = list(found.suspects)
    if found.outcome is Outcome.FOUND:
        answer.version = found.first_bad
        answer.reason = (
            f"{change.name} {found.first_bad} is the first version that flips the tests "
            f"({len(candidates)} version(s) after {change.good} up to {change.bad}){note}"
        )
    elif found.outcome is Outcome.FLAKY:
        answer.outcome, answer.flaky_at = "flaky", (change.name, found.suspects[0])
        answer.reason = (
            f"flaky, not a regression: the tests both passed and failed with "
            f"{change.name} {found.suspects[0]}"
        )
    else:
        answer.outcome = "component"
        why = (
            "the others could not be tested"
            if found.outcome is Outcome.RANGE
            else (f"probe budget ({budget}) spent")
        )
        answer.reason = (
            f"{change.name} flips the tests; its first bad version is one of "
            f"{', '.join(found.suspects)} ({why}){note}"
        )
    return answer
