"""The search over candidates: which one first turns a test bad (pure, runs nothing).

Generic over what a candidate is (an upstream commit, a component version): the caller
gives an ordered list, oldest first, where the good end lies *before* the first item and
the last item is the known bad end, and a ``probe`` that says of one candidate whether it
is :attr:`Verdict.GOOD`, :attr:`Verdict.BAD`, :attr:`Verdict.SKIP` (could not be tested:
it does not build, the tests cannot be collected) or :attr:`Verdict.FLAKY` (the test
both passed and failed there). The search is binary, with ``git bisect skip`` semantics:
a skipped candidate is left out and the nearest untested one to the middle is tried
instead; when only skipped candidates lie between the last good and the first bad one,
the answer is a range (``first bad is one of X, Y``). A flaky verdict ends the search:
"flaky, not a regression". ``max_probes`` bounds the probes; past it the answer is the
range still open.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class Verdict(StrEnum):
    GOOD = "good"
    BAD = "bad"
    SKIP = "skip"
    FLAKY = "flaky"


class Outcome(StrEnum):
    """How a search ended."""

    #: one first bad candidate
    FOUND = "found"
    #: skipped candidates hide which one of several is the first bad one
    RANGE = "range"
    #: a probe saw the test pass and fail at one candidate
    FLAKY = "flaky"
    #: the probe budget ran out with more than one candidate left
    EXHAUSTED = "exhausted"


@dataclass(frozen=True, slots=True)
class Step(Generic[T]):
    """One probe: which candidate (its index in the list) and what it said."""

    index: int
    candidate: T
    verdict: Verdict


@dataclass(slots=True)
class SearchResult(Generic[T]):
    outcome: Outcome
    #: the first bad candidate (FOUND), else ``None``
    first_bad: T | None
    #: the candidates the first bad one is among (FOUND: one; RANGE/EXHAUSTED: several;
    #: FLAKY: the candidate where the test flaked)
    suspects: list[T]
    steps: list[Step[T]] = field(default_factory=list)

    @property
    def probes(self) -> int:
        return len(self.steps)


def default_max_probes(n_candidates: int, slack: int = 3) -> int:
    """ceil(log2(n)) plus ``slack`` (room for skipped candidates)."""
    return math.ceil(math.log2(max(n_candidates, 1))) + slack if n_candidates > 1 else slack


def _next_index(lo: int, hi: int, skipped: set[int]) -> int | None:
    """The untested, unskipped index in (lo, hi) nearest to the middle, or ``None``."""
    mid = (lo + hi) // 2
    for offset in range(hi - lo):
        for i in (mid - offset, mid + offset + 1):
            if lo < i < hi and i not in skipped:
                return i
    return None


def search(
    candidates: Sequence[T],
    probe: Callable[[T], Verdict],
    *,
    max_probes: int | None = None,
) -> SearchResult[T]:
    """Find the first bad candidate of ``candidates`` (oldest first; the good end is
    before the first, the last is bad and is not probed) by asking ``probe``."""
    if not candidates:
        raise ValueError("no candidates: the bad end must be one of them")
    budget = default_max_probes(len(candidates)) if max_probes is None else max_probes
    lo, hi = -1, len(candidates) - 1  # lo: last known good; hi: first known bad
    skipped: set[int] = set()
    steps: list[Step[T]] = []
    while hi - lo > 1:
        i = _next_index(lo, hi, skipped)
        if i is None:  # only skipped candidates between: a range
            suspects = [candidates[j] for j in range(lo + 1, hi + 1)]
            return SearchResult(Outcome.RANGE, None, suspects, steps)
        if len(steps) >= budget:
            suspects = [candidates[j] for j in range(lo + 1, hi + 1)]
            return SearchResult(Outcome.EXHAUSTED, None, suspects, steps)
        verdict = probe(candidates[i])
        steps.append(Step(i, candidates[i], verdict))
        if verdict is Verdict.FLAKY:
            return SearchResult(Outcome.FLAKY, None, [candidates[i]], steps)
        if verdict is Verdict.SKIP:
            skipped.add(i)
        elif verdict is Verdict.GOOD:
            lo = i
        else:
            hi = i
    return SearchResult(Outcome.FOUND, candidates[hi], [candidates[hi]], steps)
