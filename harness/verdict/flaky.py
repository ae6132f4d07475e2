"""Flakiness: from a test's history on the default branch, and from reruns in one run.

A test whose outcome flips between ok and failing across recent default-branch runs of a
cell is flaky there, not broken by the next pull request; a failed test that passes when
it is run again in the same run is flaky by definition. Both checks are pure: history
arrives as a stream of ``(test_id, run_id, outcome)`` rows grouped by test, so a window of
many large runs is scored in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter

from harness.verdict.categories import FAILING, OK, FlakeStat

DEFAULT_MIN_FLIPS = 2
DEFAULT_WINDOW = 30
#: A history row: (test_id, run_id, outcome value).
HistoryRow = tuple[str, int, str]


@dataclass(frozen=True, slots=True)
class FlakePolicy:
    """When history makes a test flaky: at least ``min_flips`` outcome changes over the
    newest ``window`` default-branch runs of the cell (a test that broke once and was
    fixed changes twice too: in a short window the two look alike, and both are not the
    pull request's doing)."""

    min_flips: int = DEFAULT_MIN_FLIPS
    window: int = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if self.min_flips < 1:
            raise ValueError("min_flips must be at least 1")
        if self.window < 2:
            raise ValueError("a flake window needs at least 2 runs")

    def is_flaky(self, stat: FlakeStat | None) -> bool:
        return stat is not None and stat.flips >= self.min_flips


def sequence_stat(outcomes: Iterable[str]) -> FlakeStat:
    """The flake statistics of one test's outcomes, oldest first."""
    runs = failures = flips = 0
    last: bool | None = None
    for outcome in outcomes:
        if outcome in FAILING:
            failing = True
        elif outcome in OK:
            failing = False
        else:
            continue
        runs += 1
        failures += failing
        if last is not None and failing != last:
            flips += 1
        last = failing
    return FlakeStat(runs=runs, failures=failures, flips=flips)


def flake_stats(rows: Iterable[HistoryRow], run_order: Sequence[int]) -> dict[str, FlakeStat]:
    """Flake statistics per test from history rows grouped by test id.

    ``run_order`` lists the window's run ids oldest first; rows of other runs are ignored.
    Only tests that failed at least once are returned (the others cannot have flipped).
    """
    position = {run_id: i for i, run_id in enumerate(run_order)}
    out: dict[str, FlakeStat] = {}
    for test_id, group in groupby(rows, key=itemgetter(0)):
        seen = sorted((position[r], o) for _t, r, o in group if r in position)
        if not any(o in FAILING for _p, o in seen):
            continue
        out[test_id] = sequence_stat(o for _p, o in seen)
    return out


def iter_flaky(stats: Mapping[str, FlakeStat], policy: FlakePolicy) -> Iterator[str]:
    """The ids among ``stats`` that ``policy`` calls flaky."""
    return (t for t, s in stats.items() if policy.is_flaky(s))


def flaky_on_rerun(outcome: str, reruns: Sequence[str]) -> bool:
    """Whether the attempts of one test in one run (the first, then its reruns) were both
    failing and ok: it failed and then passed, or the other way round."""
    if not reruns:
        return False
    attempts = (outcome, *reruns)
    return any(o in FAILING for o in attempts) and any(o in OK for o in attempts)
