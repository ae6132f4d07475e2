"""What a verdict says about each test, and about the run as a whole.

Every test id seen in a run or in its baseline lands in exactly one :class:`Category`
(the categories partition the union of the two id sets). Outcomes fall into three
classes: *failing* (``failed``, ``error``), *ok* (``passed``, ``xfailed``, ``xpassed``:
the test met its expectation) and *skipped*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from harness.results.model import Outcome

FAILING: frozenset[str] = frozenset({Outcome.FAILED, Outcome.ERROR})
OK: frozenset[str] = frozenset({Outcome.PASSED, Outcome.XFAILED, Outcome.XPASSED})


class Category(StrEnum):
    """Per-test verdict; the value is the key in ``--json`` output."""

    #: failing here, not failing on the baseline: the change most likely broke it
    NEW_FAILURE = "new_failure"
    #: as NEW_FAILURE, but the software stack changed since the baseline (SDK, driver,
    #: torch, device plugin, image…), which explains it as well as the change does
    NEW_FAILURE_DRIFT = "new_failure_env_drift"
    #: not in the baseline, failing here
    NEW_TEST_FAILING = "new_test_failing"
    #: failing here, but it passed on a rerun in this run, or its outcome flips on the
    #: default branch
    FLAKY = "flaky"
    #: failing here in pytest-randomly's order, failing again when re-run with the same
    #: seed after the same tests, and passing in another order (fixed order or another
    #: seed): it depends on the tests that ran before it (:mod:`harness.test_order`)
    ORDER_DEPENDENT = "order_dependent"
    #: failing here and listed in the suite's quarantine file (or its known failures)
    QUARANTINED = "quarantined"
    #: failing here and on the baseline
    PRE_EXISTING = "pre_existing_failure"
    #: on the baseline, but not run here because the run was cut short (crash, timeout,
    #: infrastructure error)
    INFRA_ERROR = "infra_error"
    #: failing on the baseline, ok here
    FIXED = "fixed"
    #: not in the baseline, ok here
    NEW_TEST_PASSING = "new_test_passing"
    #: on the baseline, not here, and the run completed
    REMOVED = "removed"
    #: ok here and not failing on the baseline (the bulk: only counted)
    PASSING = "passing"
    #: skipped here, whatever the baseline said (only counted)
    SKIPPED = "skipped"


#: Display and JSON order.
CATEGORIES: tuple[Category, ...] = tuple(Category)

#: Categories that make a run's conclusion ``failure``.
BLAMED: frozenset[Category] = frozenset({Category.NEW_FAILURE, Category.NEW_TEST_FAILING})

#: Categories whose tests are listed one by one (the others are only counted).
LISTED: tuple[Category, ...] = tuple(
    c for c in CATEGORIES if c not in {Category.PASSING, Category.SKIPPED}
)

LABELS: dict[Category, str] = {
    Category.NEW_FAILURE: "new failure",
    Category.NEW_FAILURE_DRIFT: "new failure, explained by environment drift",
    Category.NEW_TEST_FAILING: "new test, failing",
    Category.FLAKY: "flaky",
    Category.ORDER_DEPENDENT: "order-dependent",
    Category.QUARANTINED: "quarantined",
    Category.PRE_EXISTING: "pre-existing failure",
    Category.INFRA_ERROR: "not run (infrastructure error)",
    Category.FIXED: "fixed",
    Category.NEW_TEST_PASSING: "new test, passing",
    Category.REMOVED: "removed",
    Category.PASSING: "passing",
    Category.SKIPPED: "skipped",
}


class Conclusion(StrEnum):
    """Per-cell conclusion, as a GitHub check run's conclusion."""

    SUCCESS = "success"
    NEUTRAL = "neutral"
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class FlakeStat:
    """A test's record over recent default-branch runs of a cell.

    ``runs`` counts the runs where it was ok or failing (skips and absences are left out),
    ``flips`` how often its outcome changed between two such consecutive runs.
    """

    runs: int
    failures: int
    flips: int

    @property
    def score(self) -> float:
        """Flips per chance to flip, 0 (stable) … 1 (alternates every run)."""
        return self.flips / (self.runs - 1) if self.runs > 1 else 0.0


@dataclass(frozen=True, slots=True)
class QuarantineRule:
    """A quarantine entry or a suite's known failure, reduced to what matching needs."""

    tests: tuple[str, ...]
    reason: str
    link: str | None
    #: where it is written: ``suites/quarantine/demo.yaml:4`` or ``suites/demo.yaml:31``
    source: str
    expires: date | None = None


@dataclass(frozen=True, slots=True)
class TestVerdict:
    """One listed test: what it did here and on the baseline, and why it is where it is."""

    __test__ = False  # not a pytest test class

    test_id: str
    category: Category
    #: ``None``: not in this run (removed, infrastructure error)
    outcome: Outcome | None
    #: ``None``: not in the baseline (new test), or no baseline
    baseline_outcome: Outcome | None
    message: str | None = None
    flake: FlakeStat | None = None
    reruns: tuple[Outcome, ...] = ()
    quarantine: QuarantineRule | None = None
    #: the test orders (:mod:`harness.test_order`: ``seed=N``, ``fixed``) it failed in,
    #: its first attempt's included, and those it passed in on a rerun
    failed_orders: tuple[str, ...] = ()
    passed_orders: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Classification:
    """Every test id in exactly one category; details for the listed ones."""

    ids: dict[Category, list[str]]
    details: dict[str, TestVerdict] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Category value → count, every category, in :data:`CATEGORIES` order."""
        return {c.value: len(self.ids.get(c, ())) for c in CATEGORIES}

    def tests(self, category: Category) -> list[TestVerdict]:
        """The listed tests of ``category``, sorted by id."""
        return [self.details[t] for t in self.ids.get(category, ())]

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.ids.values())
