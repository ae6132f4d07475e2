"""A stored run's test cases with their reruns folded in: what the exports write.

Each case is one test id: the attempt it is reported by, the attempts before or beside it
(numbered from 1, the first attempt), and whether it was flaky in the harness's sense
(:func:`harness.verdict.flaky.flaky_on_rerun`: failing and ok attempts in the same run).
A flaky case is reported by its (last) ok attempt, the way Maven Surefire and
pytest-rerunfailures report a test that passed on a rerun; any other case by its last
attempt.

Cases are streamed from the store in the order the results were added; only the re-run
tests' attempts are held (:meth:`harness.store.Store.attempts`), so a run of a million
cases is read in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from harness.results.model import OUTCOMES, Outcome, TestResult
from harness.store import Store
from harness.verdict.categories import FAILING, OK
from harness.verdict.flaky import flaky_on_rerun


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int  # 1: the first attempt, 2: the first rerun, ...
    result: TestResult


@dataclass(frozen=True, slots=True)
class Case:
    test_id: str
    #: the attempt the case is reported by
    final: Attempt
    #: every other attempt, in order
    others: tuple[Attempt, ...]
    flaky: bool

    @property
    def outcome(self) -> Outcome:
        return self.final.result.outcome

    @property
    def retries(self) -> int:
        return len(self.others)


def make_case(first: TestResult, attempts: list[TestResult] | None) -> Case:
    """The case of one test from its first result and (when it was re-run) every
    attempt, the first included, as :meth:`Store.attempts` gives them."""
    if not attempts or len(attempts) < 2:
        return Case(first.test_id, Attempt(1, first), (), False)
    numbered = [Attempt(i, r) for i, r in enumerate(attempts, start=1)]
    outcomes = [str(a.result.outcome) for a in numbered]
    flaky = flaky_on_rerun(outcomes[0], outcomes[1:])
    final = numbered[-1]
    if flaky and str(final.result.outcome) not in OK:
        final = [a for a in numbered if str(a.result.outcome) in OK][-1]
    others = tuple(a for a in numbered if a is not final)
    return Case(first.test_id, final, others, flaky)


def failing(outcome: Outcome) -> bool:
    return str(outcome) in FAILING


def iter_cases(store: Store, run_id: int, attempts: dict[str, list[TestResult]]) -> Iterator[Case]:
    """The run's cases in the order their results were added, streamed."""
    for result in store.iter_results(run_id):
        yield make_case(result, attempts.get(result.test_id))


def final_counts(
    first_counts: dict[str, int], attempts: dict[str, list[TestResult]]
) -> tuple[dict[str, int], int]:
    """Counts per outcome of the cases as reported (a re-run test by its final attempt)
    from the counts of first attempts, and how many cases are flaky."""
    counts = {o.value: first_counts.get(o.value, 0) for o in OUTCOMES}
    flaky = 0
    for tries in attempts.values():
        case = make_case(tries[0], tries)
        counts[tries[0].outcome.value] -= 1
        counts[case.outcome.value] += 1
        flaky += case.flaky
    return counts, flaky
