"""A run's whole verdict, assembled from the pure parts (still pure: the caller reads
the store, see :mod:`harness.verdict.gather`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.fingerprint import EnvChange
from harness.results.model import Outcome
from harness.store.models import RunRecord
from harness.test_order import ordering_seed, seed_args, seed_ordering
from harness.verdict.baseline import COMPLETE_STATUSES, BaselineChoice
from harness.verdict.categories import (
    Category,
    Classification,
    Conclusion,
    FlakeStat,
    QuarantineRule,
)
from harness.verdict.classify import RunOutcomes, classify, conclude, explaining
from harness.verdict.coverage import Coverage, ReferenceRun, coverage
from harness.verdict.flaky import FlakePolicy
from harness.verdict.quarantine import Matcher
from harness.verdict.testids import reproduce_command


@dataclass(frozen=True, slots=True)
class Verdict:
    run: RunRecord
    baseline: BaselineChoice
    classification: Classification
    conclusion: Conclusion
    reason: str
    #: every stack change from the baseline's environment to the run's
    drift: tuple[EnvChange, ...]
    coverage: Coverage
    #: quarantine rules for this cell whose ``expires`` day has passed
    expired_quarantine: tuple[QuarantineRule, ...] = ()
    #: the result format of the cell's test steps when they all use one (for the
    #: reproduce commands)
    result_format: str | None = None
    #: the working directory of the cell's test steps (relative to the source root) when
    #: they all use one: the reproduce commands' test paths are relative to it
    test_workdir: str = "."

    @property
    def drift_explains(self) -> bool:
        return bool(explaining(self.drift))

    def reproduce(self, test_id: str) -> str:
        """The command that runs ``test_id`` locally on this run's commit, in the test
        order the run used; an order-dependent failure with the tests that ran before it
        (the run's whole selection and seed)."""
        seeds = sorted(set((self.run.seeds or {}).values()))
        order_args = seed_args(seeds[0]) if len(seeds) == 1 else None
        t = self.classification.details.get(test_id)
        selection = None
        if t is not None and t.category is Category.ORDER_DEPENDENT:
            seed = next((ordering_seed(o) for o in t.failed_orders if ordering_seed(o)), None)
            order_args = seed_args(seed) if seed is not None else order_args
            selection = self.run.args
        return reproduce_command(
            self.run.cell,
            self.run.sha or self.run.ref,
            test_id,
            self.result_format,
            self.test_workdir,
            order_args=order_args,
            selection=selection,
        )

    def counts(self) -> dict[str, int]:
        return self.classification.counts()

    def headline(self) -> str:
        """``1 new failure, 2 flaky, 40 pre-existing failures`` (non-zero listed counts)."""
        counts = self.counts()
        parts = [
            f"{counts[c.value]} {_label(c, counts[c.value])}"
            for c in HEADLINE_ORDER
            if counts[c.value]
        ]
        return ", ".join(parts) or "no tests"


#: The categories a headline names, most important first.
HEADLINE_ORDER: tuple[Category, ...] = (
    Category.NEW_FAILURE,
    Category.NEW_TEST_FAILING,
    Category.NEW_FAILURE_DRIFT,
    Category.FLAKY,
    Category.ORDER_DEPENDENT,
    Category.PRE_EXISTING,
    Category.QUARANTINED,
    Category.INFRA_ERROR,
    Category.FIXED,
    Category.NEW_TEST_PASSING,
    Category.REMOVED,
)

_SHORT: dict[Category, tuple[str, str]] = {
    Category.NEW_FAILURE: ("new failure", "new failures"),
    Category.NEW_TEST_FAILING: ("new failing test", "new failing tests"),
    Category.NEW_FAILURE_DRIFT: (
        "new failure explained by environment drift",
        "new failures explained by environment drift",
    ),
    Category.FLAKY: ("flaky", "flaky"),
    Category.ORDER_DEPENDENT: ("order-dependent failure", "order-dependent failures"),
    Category.PRE_EXISTING: ("pre-existing failure", "pre-existing failures"),
    Category.QUARANTINED: ("quarantined", "quarantined"),
    Category.INFRA_ERROR: ("not run (infrastructure)", "not run (infrastructure)"),
    Category.FIXED: ("fixed", "fixed"),
    Category.NEW_TEST_PASSING: ("new passing test", "new passing tests"),
    Category.REMOVED: ("removed", "removed"),
}


def _label(category: Category, n: int) -> str:
    one, many = _SHORT[category]
    return one if n == 1 else many


def build_verdict(
    run: RunRecord,
    current: RunOutcomes,
    baseline: BaselineChoice,
    baseline_outcomes: RunOutcomes | None,
    *,
    flakes: Mapping[str, FlakeStat] | None = None,
    reruns: Mapping[str, Sequence[Outcome]] | None = None,
    quarantine: Sequence[QuarantineRule] = (),
    expired_quarantine: Sequence[QuarantineRule] = (),
    drift: Sequence[EnvChange] = (),
    reference: ReferenceRun | None = None,
    result_format: str | None = None,
    test_workdir: str = ".",
    policy: FlakePolicy | None = None,
    orderings: Mapping[str, Sequence[tuple[Outcome, str | None]]] | None = None,
) -> Verdict:
    """Classify, conclude and measure coverage for ``run``; see :mod:`.classify`."""
    has_baseline = baseline.run is not None and baseline_outcomes is not None
    drift_explains = bool(explaining(drift)) and has_baseline
    result = classify(
        current,
        baseline_outcomes if has_baseline else None,
        flakes=flakes or {},
        reruns=reruns or {},
        quarantine=Matcher(quarantine),
        drift_explains=drift_explains,
        run_complete=run.status in COMPLETE_STATUSES,
        policy=policy,
        orderings=orderings or {},
        run_orders=[seed_ordering(s) for s in sorted(set((run.seeds or {}).values()))],
    )
    conclusion, reason = conclude(
        result,
        has_baseline=has_baseline,
        run_status=run.status,
        run_reason=run.reason,
        drift=drift,
    )
    if baseline.run is not None and not baseline.exact and conclusion is Conclusion.FAILURE:
        reason += " (baseline not at the merge base)"
    return Verdict(
        run=run,
        baseline=baseline,
        classification=result,
        conclusion=conclusion,
        reason=reason,
        drift=tuple(drift),
        coverage=coverage(current.outcomes, reference),
        expired_quarantine=tuple(expired_quarantine),
        result_format=result_format,
        test_workdir=test_workdir,
    )


@dataclass(frozen=True, slots=True)
class Comparison:
    """Run ``b`` against run ``a``: the same categories, without history or quarantine."""

    a: RunRecord
    b: RunRecord
    classification: Classification
    drift: tuple[EnvChange, ...]
    coverage_a: Coverage
    coverage_b: Coverage


def compare_runs(
    a: RunRecord,
    a_outcomes: RunOutcomes,
    b: RunRecord,
    b_outcomes: RunOutcomes,
    *,
    drift: Sequence[EnvChange] = (),
) -> Comparison:
    """What changed from ``a`` to ``b`` (any two runs: two commits, two backends)."""
    result = classify(
        b_outcomes,
        a_outcomes,
        drift_explains=bool(explaining(drift)),
        run_complete=b.status in COMPLETE_STATUSES,
    )
    reference = ReferenceRun(a.backend, a.id, a.sha, a_outcomes.outcomes)
    return Comparison(
        a=a,
        b=b,
        classification=result,
        drift=tuple(drift),
        coverage_a=coverage(a_outcomes.outcomes),
        coverage_b=coverage(b_outcomes.outcomes, reference),
    )
