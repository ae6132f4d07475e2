"""How much of a suite runs and passes on a backend (pure).

``collected`` is every result of the run, ``executed`` the ones not skipped, ``passed``
those that passed (``passed`` or ``xpassed``). Against a reference backend at the same
SHA: of the tests passing there, the share that passes here too ("npu passes 93.1% of
what cpu passes"), and the tests that fail only here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from harness.results.model import Outcome
from harness.verdict.categories import FAILING

PASSED: frozenset[str] = frozenset({Outcome.PASSED, Outcome.XPASSED})


@dataclass(frozen=True, slots=True)
class ReferenceCoverage:
    backend: str
    run_id: int
    sha: str | None
    #: tests passing on the reference
    passed: int
    #: of those, passing here too
    both_passed: int
    #: passing on the reference, failing (failed/error) here; sorted
    fail_only_here: list[str] = field(default_factory=list)
    #: passing on the reference, skipped, xfailed or absent here
    not_run_here: int = 0

    @property
    def relative_pass_rate(self) -> float | None:
        return self.both_passed / self.passed if self.passed else None


@dataclass(frozen=True, slots=True)
class Coverage:
    collected: int
    executed: int
    passed: int
    failed: int
    skipped: int
    reference: ReferenceCoverage | None = None

    @property
    def pass_rate(self) -> float | None:
        """Passed over executed."""
        return self.passed / self.executed if self.executed else None


@dataclass(frozen=True, slots=True)
class ReferenceRun:
    backend: str
    run_id: int
    sha: str | None
    outcomes: Mapping[str, Outcome]


def coverage(outcomes: Mapping[str, Outcome], reference: ReferenceRun | None = None) -> Coverage:
    passed = failed = skipped = 0
    for outcome in outcomes.values():
        if outcome in PASSED:
            passed += 1
        elif outcome in FAILING:
            failed += 1
        elif outcome == Outcome.SKIPPED:
            skipped += 1
    ref = None
    if reference is not None:
        ref_passed = both = not_run = 0
        fail_only: list[str] = []
        for test_id, there in reference.outcomes.items():
            if there not in PASSED:
                continue
            ref_passed += 1
            here = outcomes.get(test_id)
            if here in PASSED:
                both += 1
            elif here in FAILING:
                fail_only.append(test_id)
            else:
                not_run += 1
        fail_only.sort()
        ref = ReferenceCoverage(
            reference.backend, reference.run_id, reference.sha, ref_passed, both, fail_only, not_run
        )
    return Coverage(
        collected=len(outcomes),
        executed=len(outcomes) - skipped,
        passed=passed,
        failed=failed,
        skipped=skipped,
        reference=ref,
    )
