"""Bisect across the stack: which declared component (and version) flips the tests.

Given a good and a bad run of one cell at the same upstream commit whose fingerprints
differ in declared stack components (:func:`harness.stack.stack_diff`):

1. each changed component is tried alone: the good stack (every changed component pinned
   to its good version) with that one component at its bad version. A probe that turns
   the tests bad names the component; one that stays good clears it;
2. for the component named, when its declaration lists versions (a wheel folder, an
   index, the image matrix), the versions after the good one up to the bad one are
   bisected (:func:`harness.bisect.version_search.first_bad`), naming the first version
   that flips the tests.

Every probe is a real run (the ``probe`` callable runs the cell with the pins and judges
the tests, repeating a failing one: flaky ends the search as "flaky, not a regression").
Probes are remembered by their pins, so no stack is run twice.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.bisect.version_search import Verdict, first_bad
from harness.config.suite import Suite
from harness.stack import ComponentChange, available_versions, stack_diff, versions_between


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one probe saw: the verdict and the runs that are its evidence."""

    verdict: Verdict
    run_ids: tuple[int, ...]
    detail: str = ""


@dataclass(slots=True)
class StackProbe:
    pins: dict[str, str]
    #: what the probe tried: ``component`` at ``version`` on the good stack
    component: str
    version: str
    result: ProbeResult

    def as_json(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "version": self.version,
            "pins": dict(self.pins),
            "verdict": self.result.verdict.value,
            "runs": list(self.result.run_ids),
            "detail": self.result.detail,
        }


@dataclass(slots=True)
class StackBisection:
    """The answer: ``outcome`` is ``found`` (component and version), ``component`` (the
    component, its versions not bisectable to one), ``flaky``, ``none`` (no component
    alone flips the tests) or ``no-change`` (no declared component differs)."""

    outcome: str
    changes: list[ComponentChange]
    component: str | None = None
    version: str | None = None
    suspects: list[str] = field(default_factory=list)
    probes: list[StackProbe] = field(default_factory=list)
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "component": self.component,
            "version": self.version,
            "suspects": list(self.suspects),
            "reason": self.reason,
            "changes": [c.as_json() for c in self.changes],
            "probes": [p.as_json() for p in self.probes],
            "probe_count": len(self.probes),
        }


Prober = Callable[[Mapping[str, str]], ProbeResult]


def bisect_stack(
    suite: Suite,
    good_fingerprint: Mapping[str, Any],
    bad_fingerprint: Mapping[str, Any],
    probe: Prober,
    image_variants: Sequence[str] = (),
) -> StackBisection:
    """See the module docstring; ``probe`` runs the cell with the given pins."""
    changes = stack_diff(suite, good_fingerprint, bad_fingerprint)
    if not changes:
        return StackBisection(
            "no-change", [], reason="the runs' fingerprints differ in no declared component"
        )
    good_stack = {c.name: c.good for c in changes if c.good is not None}
    done: dict[tuple[tuple[str, str], ...], ProbeResult] = {}
    answer = StackBisection("none", changes)

    def run(component: str, version: str) -> Verdict:
        pins = {**good_stack, component: version}
        key = tuple(sorted(pins.items()))
        if key not in done:
            done[key] = probe(pins)
            answer.probes.append(StackProbe(pins, component, version, done[key]))
        return done[key].verdict

    flipping: list[tuple[ComponentChange, str]] = []
    for change in changes:
        if change.bad is None:
            continue  # not in the bad stack: nothing to pin
        verdict = run(change.name, change.bad)
        if verdict is Verdict.FLAKY:
            answer.outcome, answer.component = "flaky", change.name
            answer.reason = (
                f"flaky, not a regression: the tests both passed and failed with "
                f"{change.name} {change.bad}"
            )
            return answer
        if verdict is Verdict.BAD:
            flipping.append((change, change.bad))
    if not flipping:
        answer.reason = (
            "no changed component alone flips the tests (a combination, or not the stack)"
        )
        return answer
    (change, bad), others = flipping[0], [c.name for c, _ in flipping[1:]]
    note = f"; alone, {', '.join(others)} flip(s) them too" if others else ""
    answer.component = change.name
    listed = available_versions(change.name, suite.stack[change.name], image_variants)
    if listed is None or change.good is None:
        answer.outcome, answer.version, answer.suspects = "found", bad, [bad]
        answer.reason = f"{change.name} {change.good} → {bad} flips the tests{note}"
        return answer
    candidates = versions_between(listed, change.good, bad)
    found = first_bad(candidates, functools.partial(run, change.name))
    answer.suspects = list(found.suspects)
    if found.flaky is not None:
        answer.outcome = "flaky"
        answer.reason = (
            f"flaky, not a regression: the tests both passed and failed with "
            f"{change.name} {found.flaky}"
        )
    elif found.first_bad is not None:
        answer.outcome, answer.version = "found", found.first_bad
        answer.reason = (
            f"{change.name} {found.first_bad} is the first version that flips the tests "
            f"({len(candidates)} version(s) after {change.good} up to {bad}){note}"
        )
    else:
        answer.outcome = "component"
        answer.reason = (
            f"{change.name} flips the tests; the first bad version is one of "
            f"{', '.join(found.suspects)}{note}"
        )
    return answer
