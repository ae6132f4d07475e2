"""Per-test verdicts and the per-cell conclusion: pure functions, no I/O.

:func:`classify` puts every test id of a run and of its baseline in one
:class:`~harness.verdict.categories.Category`. For a test that fails here the first rule
that applies wins:

1. a quarantine rule (or known failure) matches it → ``quarantined``;
2. it failed again when re-run in the same test order (the same pytest-randomly seed,
   after the same tests) and passed in another one (fixed order, another seed) →
   ``order_dependent`` (:mod:`harness.test_order`);
3. it was ok on a rerun in this run, or its outcome flips on the default branch →
   ``flaky``;
4. it is not in the baseline → ``new_test_failing``;
4. it failed on the baseline too → ``pre_existing_failure``;
5. the software stack changed since the baseline (:data:`EXPLAINING_KEYS`) →
   ``new_failure_env_drift``;
6. otherwise → ``new_failure``.

A test ok here is ``new_test_passing`` (not in the baseline), ``fixed`` (failing there and
not flaky), or ``passing``; one that failed and passed across reruns is ``flaky``. Skipped
tests are ``skipped``. A baseline test missing here is ``removed``, or ``infra_error`` when
the run did not complete.

:func:`conclude` turns the counts into ``failure`` (exactly when there is a new failure or
a new failing test, and a baseline to say so), ``neutral`` (failures explained by
environment drift, no baseline, or a run that did not complete) or ``success``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harness.fingerprint import STACK_KEYS, EnvChange
from harness.results.model import Outcome
from harness.verdict.baseline import COMPLETE_STATUSES
from harness.verdict.categories import (
    BLAMED,
    CATEGORIES,
    FAILING,
    LABELS,
    LISTED,
    OK,
    Category,
    Classification,
    Conclusion,
    FlakeStat,
    TestVerdict,
)
from harness.verdict.flaky import FlakePolicy, flaky_on_rerun
from harness.verdict.quarantine import Matcher

#: Stack components whose change explains new failures (see :func:`harness.fingerprint.drift`).
#: A new harness version alone does not.
EXPLAINING_KEYS: frozenset[str] = frozenset(STACK_KEYS) - {"harness"}

#: Categories of baseline tests that are not in the run.
_NOT_HERE = frozenset({Category.REMOVED, Category.INFRA_ERROR})
_NO_RERUNS: Mapping[str, Sequence[Outcome]] = {}
_NO_FLAKES: Mapping[str, FlakeStat] = {}
_NO_ORDERINGS: Mapping[str, Sequence[tuple[Outcome, str | None]]] = {}


def order_evidence(
    runs: Sequence[tuple[Outcome, str | None]], run_orders: Sequence[str] = ()
) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """From a failing test's reruns ``(outcome, ordering)``: the orders it failed in
    (``run_orders``, the first attempt's, first), those it passed in, and whether that
    makes it order-dependent: it failed again in an order and passed in another one."""
    failed_again = [o for out, o in runs if o is not None and out in FAILING]
    passed = [o for out, o in runs if o is not None and out in OK]
    failed = tuple(dict.fromkeys([*run_orders, *failed_again]))
    passed_t = tuple(dict.fromkeys(passed))
    dependent = bool(failed_again) and bool(passed_t) and not set(passed_t) & set(failed)
    return failed, passed_t, dependent


@dataclass(frozen=True, slots=True)
class RunOutcomes:
    """A run's results as the verdict needs them: outcome per test id, and the message
    head of failing tests."""

    outcomes: dict[str, Outcome]
    messages: dict[str, str] = field(default_factory=dict)


def explaining(changes: Sequence[EnvChange]) -> list[EnvChange]:
    """The changes that explain new failures."""
    return [c for c in changes if c.key in EXPLAINING_KEYS]


def classify(
    current: RunOutcomes,
    baseline: RunOutcomes | None,
    *,
    flakes: Mapping[str, FlakeStat] = _NO_FLAKES,
    reruns: Mapping[str, Sequence[Outcome]] = _NO_RERUNS,
    quarantine: Matcher | None = None,
    drift_explains: bool = False,
    run_complete: bool = True,
    policy: FlakePolicy | None = None,
    orderings: Mapping[str, Sequence[tuple[Outcome, str | None]]] = _NO_ORDERINGS,
    run_orders: Sequence[str] = (),
) -> Classification:
    """Every test id of ``current`` and ``baseline`` in one category (module docstring).

    ``flakes``: history statistics of (at least) the tests failing here or on the
    baseline; ``reruns``: per test, the outcomes of its reruns in this run;
    ``drift_explains``: the stack changed since the baseline in a way that explains
    failures; ``run_complete``: the run finished (``passed``/``failed``), so a missing
    test was removed rather than not reached. ``orderings``: per test, its reruns'
    ``(outcome, ordering)``; ``run_orders``: the orderings of the run's first attempt
    (``seed=N`` of its randomized steps).
    """
    policy = policy or FlakePolicy()
    cur = current.outcomes
    base: Mapping[str, Outcome] = baseline.outcomes if baseline is not None else {}
    messages = current.messages
    ids: dict[Category, list[str]] = {c: [] for c in CATEGORIES}
    details: dict[str, TestVerdict] = {}
    passing = ids[Category.PASSING]
    skipped = ids[Category.SKIPPED]
    match = quarantine.match if quarantine else None

    for test_id, outcome in cur.items():
        before = base.get(test_id)
        again = reruns.get(test_id, ()) if reruns else ()
        if outcome in FAILING:
            rule = match(test_id) if match else None
            flake = flakes.get(test_id)
            failed_in: tuple[str, ...] = ()
            passed_in: tuple[str, ...] = ()
            dependent = False
            if test_id in orderings:
                failed_in, passed_in, dependent = order_evidence(orderings[test_id], run_orders)
            if rule is not None:
                cat = Category.QUARANTINED
            elif dependent:
                cat = Category.ORDER_DEPENDENT
            elif flaky_on_rerun(outcome, again) or policy.is_flaky(flake):
                cat = Category.FLAKY
            elif before is None:
                cat = Category.NEW_TEST_FAILING
            elif before in FAILING:
                cat = Category.PRE_EXISTING
            elif drift_explains:
                cat = Category.NEW_FAILURE_DRIFT
            else:
                cat = Category.NEW_FAILURE
            details[test_id] = TestVerdict(
                test_id,
                cat,
                outcome,
                before,
                messages.get(test_id),
                flake,
                tuple(again),
                rule,
                failed_in,
                passed_in,
            )
        elif outcome in OK:
            if again and flaky_on_rerun(outcome, again):
                cat = Category.FLAKY
            elif before is None:
                cat = Category.NEW_TEST_PASSING
            elif before in FAILING:
                if policy.is_flaky(flakes.get(test_id)):
                    passing.append(test_id)
                    continue
                cat = Category.FIXED
            else:
                passing.append(test_id)
                continue
            details[test_id] = TestVerdict(
                test_id, cat, outcome, before, None, flakes.get(test_id), tuple(again)
            )
        else:
            skipped.append(test_id)
            continue
        ids[cat].append(test_id)

    gone = Category.REMOVED if run_complete else Category.INFRA_ERROR
    for test_id, before in base.items():
        if test_id not in cur:
            ids[gone].append(test_id)
            details[test_id] = TestVerdict(test_id, gone, None, before)
    for cat in LISTED:
        ids[cat].sort()
    return Classification(ids=ids, details=details)


def _names(ids: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _plural(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def conclude(
    result: Classification,
    *,
    has_baseline: bool,
    run_status: str,
    run_reason: str | None = None,
    drift: Sequence[EnvChange] = (),
) -> tuple[Conclusion, str]:
    """The cell's conclusion and a one-line reason (module docstring)."""
    counts = {Category(k): v for k, v in result.counts().items()}
    failing_here = sum(
        counts[c]
        for c in (
            Category.NEW_FAILURE,
            Category.NEW_FAILURE_DRIFT,
            Category.NEW_TEST_FAILING,
            Category.FLAKY,
            Category.ORDER_DEPENDENT,
            Category.QUARANTINED,
            Category.PRE_EXISTING,
        )
    )
    complete = run_status in COMPLETE_STATUSES
    status_line = f"the run is {run_status}" + (f" ({run_reason})" if run_reason else "")
    if not has_baseline:
        if failing_here:
            return Conclusion.NEUTRAL, (
                f"no baseline to compare with: {_plural(failing_here, 'failing test')} not judged"
            )
        if not complete:
            return Conclusion.NEUTRAL, f"{status_line}; no baseline to compare with"
        if result.total == 0:
            return Conclusion.NEUTRAL, "no test results"
        return Conclusion.SUCCESS, "no failures (no baseline to compare with)"
    blamed = [t for c in CATEGORIES if c in BLAMED for t in result.ids[c]]
    if blamed:
        parts = [_plural(counts[Category.NEW_FAILURE], "new failure")]
        if counts[Category.NEW_TEST_FAILING]:
            parts = [p for p in parts if not p.startswith("0 ")]
            parts.append(_plural(counts[Category.NEW_TEST_FAILING], "new failing test"))
        return Conclusion.FAILURE, f"{', '.join(parts)}: {_names(sorted(blamed))}"
    drifted = counts[Category.NEW_FAILURE_DRIFT]
    if drifted:
        changes = "; ".join(str(c) for c in explaining(drift)) or "environment changed"
        return Conclusion.NEUTRAL, (
            f"{_plural(drifted, 'new failure')} explained by environment drift ({changes})"
        )
    here = sum(n for c, n in counts.items() if c not in _NOT_HERE)
    if not complete:
        if not here:
            return Conclusion.NEUTRAL, status_line
        return (
            Conclusion.NEUTRAL,
            f"{status_line}; no new failures among its {_plural(here, 'result')}",
        )
    if not here:
        return Conclusion.NEUTRAL, "no test results"
    others = [
        f"{counts[c]} {LABELS[c]}"
        for c in (
            Category.PRE_EXISTING,
            Category.FLAKY,
            Category.ORDER_DEPENDENT,
            Category.QUARANTINED,
        )
        if counts[c]
    ]
    return Conclusion.SUCCESS, "no new failures" + (f" ({', '.join(others)})" if others else "")
