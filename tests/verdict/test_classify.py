"""Per-test categories and the cell conclusion: examples, then properties."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harness.fingerprint import EnvChange
from harness.results.model import Outcome
from harness.verdict.categories import (
    BLAMED,
    CATEGORIES,
    FAILING,
    LISTED,
    Category,
    Classification,
    Conclusion,
    FlakeStat,
    QuarantineRule,
)
from harness.verdict.classify import RunOutcomes, classify, conclude, explaining
from harness.verdict.flaky import FlakePolicy, flaky_on_rerun
from harness.verdict.quarantine import Matcher
from tests.verdict.strategies import OUTCOME, TEST_IDS, run_outcomes

P, F, E, S, XF, XP = (
    Outcome.PASSED,
    Outcome.FAILED,
    Outcome.ERROR,
    Outcome.SKIPPED,
    Outcome.XFAILED,
    Outcome.XPASSED,
)
FLAKY = FlakeStat(runs=6, failures=3, flips=5)
STABLE_FAIL = FlakeStat(runs=6, failures=6, flips=0)


def rule(*tests: str) -> QuarantineRule:
    return QuarantineRule(tests=tests, reason="tracked", link="https://x.invalid/1", source="q:1")


def category_of(result: Classification, test_id: str) -> Category:
    (found,) = [c for c, ids in result.ids.items() if test_id in ids]
    return found


def test_every_category_by_example() -> None:
    base = RunOutcomes(
        {
            "a::regressed": P,
            "a::still_broken": F,
            "a::fixed": F,
            "a::flaky": P,
            "a::rerun_flaky": P,
            "a::quarantined": P,
            "a::removed": P,
            "a::ok": P,
            "a::skipped_now": P,
            "a::was_skipped": S,
            "a::xfail": XF,
        }
    )
    cur = RunOutcomes(
        {
            "a::regressed": F,
            "a::still_broken": E,
            "a::fixed": P,
            "a::flaky": F,
            "a::rerun_flaky": F,
            "a::quarantined": E,
            "a::ok": P,
            "a::skipped_now": S,
            "a::was_skipped": F,
            "a::xfail": XF,
            "a::new_ok": XP,
            "a::new_bad": F,
        },
        {"a::regressed": "AssertionError: boom"},
    )
    result = classify(
        cur,
        base,
        flakes={"a::flaky": FLAKY, "a::still_broken": STABLE_FAIL},
        reruns={"a::rerun_flaky": [P]},
        quarantine=Matcher([rule("a::quar*")]),
    )
    expected = {
        "a::regressed": Category.NEW_FAILURE,
        "a::was_skipped": Category.NEW_FAILURE,
        "a::still_broken": Category.PRE_EXISTING,
        "a::fixed": Category.FIXED,
        "a::flaky": Category.FLAKY,
        "a::rerun_flaky": Category.FLAKY,
        "a::quarantined": Category.QUARANTINED,
        "a::removed": Category.REMOVED,
        "a::ok": Category.PASSING,
        "a::xfail": Category.PASSING,
        "a::skipped_now": Category.SKIPPED,
        "a::new_ok": Category.NEW_TEST_PASSING,
        "a::new_bad": Category.NEW_TEST_FAILING,
    }
    assert {t: category_of(result, t) for t in expected} == expected
    regressed = result.details["a::regressed"]
    assert (regressed.outcome, regressed.baseline_outcome) == (F, P)
    assert regressed.message == "AssertionError: boom"
    assert result.details["a::rerun_flaky"].reruns == (P,)
    assert result.details["a::quarantined"].quarantine == rule("a::quar*")
    assert result.details["a::flaky"].flake == FLAKY
    state, reason = conclude(result, has_baseline=True, run_status="failed")
    assert state is Conclusion.FAILURE
    assert reason == "2 new failures, 1 new failing test: a::new_bad, a::regressed, a::was_skipped"


def test_drift_explains_new_failures_but_not_new_tests() -> None:
    base = RunOutcomes({"t::a": P, "t::b": P})
    drift = [EnvChange("sdk", "CANN 8.3.RC2", "CANN 8.5.0")]
    result = classify(RunOutcomes({"t::a": F, "t::b": P}), base, drift_explains=True)
    assert result.ids[Category.NEW_FAILURE_DRIFT] == ["t::a"]
    state, reason = conclude(result, has_baseline=True, run_status="failed", drift=drift)
    assert state is Conclusion.NEUTRAL
    assert reason == "1 new failure explained by environment drift (sdk CANN 8.3.RC2 → CANN 8.5.0)"
    result = classify(RunOutcomes({"t::a": P, "t::c": F}), base, drift_explains=True)
    assert result.ids[Category.NEW_TEST_FAILING] == ["t::c"]
    assert conclude(result, has_baseline=True, run_status="failed")[0] is Conclusion.FAILURE


def test_a_new_harness_version_explains_nothing() -> None:
    changes = [EnvChange("harness", "0.1.0", "0.2.0"), EnvChange("torch", "2.8.0", "2.9.0")]
    assert explaining(changes) == [changes[1]]
    assert explaining(changes[:1]) == []


def test_an_incomplete_run_does_not_remove_tests() -> None:
    base = RunOutcomes({"t::a": P, "t::b": P, "t::c": F})
    result = classify(RunOutcomes({"t::a": P}), base, run_complete=False)
    assert result.ids[Category.INFRA_ERROR] == ["t::b", "t::c"]
    assert result.ids[Category.REMOVED] == []
    state, reason = conclude(
        result, has_baseline=True, run_status="crashed", run_reason="unit.xml cut short"
    )
    assert state is Conclusion.NEUTRAL
    assert reason == "the run is crashed (unit.xml cut short); no new failures among its 1 result"
    empty = classify(RunOutcomes({}), base, run_complete=False)
    assert conclude(empty, has_baseline=True, run_status="error", run_reason="setup failed") == (
        Conclusion.NEUTRAL,
        "the run is error (setup failed)",
    )


def test_without_a_baseline_failures_are_not_judged() -> None:
    result = classify(RunOutcomes({"t::a": F, "t::b": P}), None)
    assert result.ids[Category.NEW_TEST_FAILING] == ["t::a"]
    assert conclude(result, has_baseline=False, run_status="failed") == (
        Conclusion.NEUTRAL,
        "no baseline to compare with: 1 failing test not judged",
    )
    passing = classify(RunOutcomes({"t::b": P}), None)
    assert conclude(passing, has_baseline=False, run_status="passed")[0] is Conclusion.SUCCESS


def test_success_reason_names_what_was_excused() -> None:
    base = RunOutcomes({"t::a": F, "t::b": P, "t::c": P})
    cur = RunOutcomes({"t::a": F, "t::b": F, "t::c": P})
    result = classify(cur, base, flakes={"t::b": FLAKY})
    assert conclude(result, has_baseline=True, run_status="failed") == (
        Conclusion.SUCCESS,
        "no new failures (1 pre-existing failure, 1 flaky)",
    )


def test_fixed_is_not_claimed_for_a_flaky_test() -> None:
    base = RunOutcomes({"t::a": F, "t::b": F})
    result = classify(RunOutcomes({"t::a": P, "t::b": P}), base, flakes={"t::a": FLAKY})
    assert result.ids[Category.FIXED] == ["t::b"]
    assert result.ids[Category.PASSING] == ["t::a"]


def test_rerun_that_fails_after_a_pass_is_flaky() -> None:
    result = classify(RunOutcomes({"t::a": P}), RunOutcomes({"t::a": P}), reruns={"t::a": [F]})
    assert result.ids[Category.FLAKY] == ["t::a"]
    # reruns that fail again do not excuse a failure
    result = classify(RunOutcomes({"t::a": F}), RunOutcomes({"t::a": P}), reruns={"t::a": [F, E]})
    assert result.ids[Category.NEW_FAILURE] == ["t::a"]


def test_order_dependent_needs_a_reproduction_and_a_pass_in_another_order() -> None:
    base = RunOutcomes({"t::a": P, "t::b": P, "t::c": P, "t::d": P})
    here = RunOutcomes({"t::a": F, "t::b": F, "t::c": F, "t::d": F})
    orderings = {
        # failed again with the run's seed after the same tests, passed in a fixed order
        "t::a": [(F, "seed=7"), (P, "fixed")],
        # passed when re-run with the same seed: flaky, whatever the order
        "t::b": [(P, "seed=7")],
        # failed in every order: a failure
        "t::c": [(F, "seed=7"), (F, "fixed")],
        # not reproduced (too many earlier tests), passed in a fixed order: flaky
        "t::d": [(P, "fixed")],
    }
    reruns = {t: [o for o, _ in runs] for t, runs in orderings.items()}
    result = classify(here, base, reruns=reruns, orderings=orderings, run_orders=["seed=7"])
    assert result.ids[Category.ORDER_DEPENDENT] == ["t::a"]
    assert result.ids[Category.FLAKY] == ["t::b", "t::d"]
    assert result.ids[Category.NEW_FAILURE] == ["t::c"]
    a = result.details["t::a"]
    assert (a.failed_orders, a.passed_orders) == (("seed=7",), ("fixed",))
    # another seed passing counts as another order too
    other = classify(
        RunOutcomes({"t::a": F}),
        None,
        orderings={"t::a": [(F, "seed=7"), (P, "seed=8")]},
        run_orders=["seed=7"],
    )
    assert other.ids[Category.ORDER_DEPENDENT] == ["t::a"]
    # quarantine still comes first; an order-dependent failure is not blamed
    quarantined = classify(
        RunOutcomes({"t::a": F}), base, orderings=orderings, quarantine=Matcher([rule("t::a")])
    )
    assert quarantined.ids[Category.QUARANTINED] == ["t::a"]
    assert Category.ORDER_DEPENDENT not in BLAMED
    assert conclude(result, has_baseline=True, run_status="failed")[0] is Conclusion.FAILURE
    only = classify(RunOutcomes({"t::a": F}), base, orderings=orderings, run_orders=["seed=7"])
    assert conclude(only, has_baseline=True, run_status="failed") == (
        Conclusion.SUCCESS,
        "no new failures (1 order-dependent)",
    )


# -- properties -----------------------------------------------------------------------------


def _union(*runs: RunOutcomes | None) -> set[str]:
    return {t for r in runs if r is not None for t in r.outcomes}


@given(run_outcomes(), st.none() | run_outcomes(), st.booleans(), st.booleans())
def test_categories_partition_the_union_of_test_ids(
    cur: RunOutcomes, base: RunOutcomes | None, drift: bool, complete: bool
) -> None:
    result = classify(cur, base, drift_explains=drift, run_complete=complete)
    every = [t for c in CATEGORIES for t in result.ids[c]]
    assert len(every) == len(set(every))
    assert set(every) == _union(cur, base)
    assert set(result.details) == {t for c in LISTED for t in result.ids[c]}
    assert sum(result.counts().values()) == len(_union(cur, base))


@given(run_outcomes(), st.booleans())
def test_a_run_compared_with_itself_has_no_change(run: RunOutcomes, drift: bool) -> None:
    result = classify(run, run, drift_explains=drift)
    counts = result.counts()
    for category in (
        Category.NEW_FAILURE,
        Category.NEW_FAILURE_DRIFT,
        Category.NEW_TEST_FAILING,
        Category.NEW_TEST_PASSING,
        Category.FIXED,
        Category.REMOVED,
        Category.INFRA_ERROR,
    ):
        assert counts[category] == 0
    failing = sum(o in FAILING for o in run.outcomes.values())
    assert counts[Category.PRE_EXISTING] == failing
    state, _ = conclude(result, has_baseline=True, run_status="failed" if failing else "passed")
    assert state is not Conclusion.FAILURE


@given(
    run_outcomes(),
    run_outcomes(),
    st.permutations([f"renamed::{i}" for i in range(12)]),
    st.sets(TEST_IDS, max_size=3),
)
def test_relabelling_ids_consistently_keeps_the_counts(
    cur: RunOutcomes, base: RunOutcomes, names: list[str], flaky: set[str]
) -> None:
    universe = sorted(_union(cur, base) | flaky)
    rename = dict(zip(universe, names, strict=False))

    def relabel(r: RunOutcomes) -> RunOutcomes:
        return RunOutcomes(
            {rename[t]: o for t, o in r.outcomes.items()},
            {rename[t]: m for t, m in r.messages.items()},
        )

    flakes = dict.fromkeys(flaky, FLAKY)
    before = classify(cur, base, flakes=flakes)
    after = classify(relabel(cur), relabel(base), flakes={rename[t]: s for t, s in flakes.items()})
    assert before.counts() == after.counts()
    for category in CATEGORIES:
        assert sorted(rename[t] for t in before.ids[category]) == sorted(after.ids[category])


@st.composite
def verdict_inputs(draw: st.DrawFn) -> dict[str, object]:
    cur = draw(run_outcomes())
    base = draw(st.none() | run_outcomes())
    ids = sorted(_union(cur, base)) or ["tests.test_m0::test_0"]
    return {
        "cur": cur,
        "base": base,
        "quarantined": draw(st.sets(st.sampled_from(ids))),
        "flaky": draw(st.sets(st.sampled_from(ids))),
        "reruns": draw(st.dictionaries(st.sampled_from(ids), st.lists(OUTCOME, max_size=2))),
        "drift": draw(st.booleans()),
        "status": draw(st.sampled_from(["passed", "failed", "crashed", "error", "timeout"])),
    }


@given(verdict_inputs())
def test_failure_iff_an_unexplained_unquarantined_non_flaky_new_failure(
    data: dict[str, object],
) -> None:
    cur = data["cur"]
    base = data["base"]
    assert isinstance(cur, RunOutcomes)
    assert base is None or isinstance(base, RunOutcomes)
    quarantined: set[str] = data["quarantined"]  # type: ignore[assignment]
    flaky: set[str] = data["flaky"]  # type: ignore[assignment]
    reruns: dict[str, list[Outcome]] = data["reruns"]  # type: ignore[assignment]
    drift = bool(data["drift"])
    status = str(data["status"])
    result = classify(
        cur,
        base,
        flakes=dict.fromkeys(flaky, FLAKY),
        reruns=reruns,
        quarantine=Matcher([rule(*sorted(quarantined))] if quarantined else []),
        drift_explains=drift,
        run_complete=status in {"passed", "failed"},
        policy=FlakePolicy(),
    )
    state, reason = conclude(result, has_baseline=base is not None, run_status=status)

    def blamed(test_id: str, outcome: Outcome) -> bool:
        if outcome not in FAILING or test_id in quarantined or test_id in flaky:
            return False
        if flaky_on_rerun(outcome, reruns.get(test_id, [])):
            return False
        before = base.outcomes.get(test_id) if base is not None else None
        return before is None or (before not in FAILING and not drift)

    expected = base is not None and any(blamed(t, o) for t, o in cur.outcomes.items())
    assert (state is Conclusion.FAILURE) == expected, reason
    assert (state is Conclusion.FAILURE) == bool(
        base is not None and any(result.ids[c] for c in BLAMED)
    )
    assert reason
    assert "\n" not in reason
