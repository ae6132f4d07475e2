"""The search over a component's versions: the first one that turns the tests bad.

A small binary search kept behind :func:`first_bad` so that the shared search of commit
bisection (``harness/bisect/search.py``, built in parallel) can replace it: same inputs
(candidates oldest first, the good end before the first, the last known bad; a probe
saying good, bad, skip or flaky), same answer (the first bad one, the probes made).
"""

from __future__ import annotations

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


@dataclass(slots=True)
class Found(Generic[T]):
    """``first_bad``: the first bad candidate, or ``None`` when a probe saw a flaky test
    (``flaky``: where) or skipped candidates hide it (``suspects``: which)."""

    first_bad: T | None
    suspects: list[T]
    steps: list[tuple[T, Verdict]] = field(default_factory=list)
    flaky: T | None = None


def first_bad(candidates: Sequence[T], probe: Callable[[T], Verdict]) -> Found[T]:
    """Binary search: the good end lies before ``candidates[0]``, the last is bad."""
    lo, hi = -1, len(candidates) - 1  # lo: last known good (or before), hi: first known bad
    skipped: set[int] = set()
    steps: list[tuple[T, Verdict]] = []
    while hi - lo > 1:
        open_ = [i for i in range(lo + 1, hi) if i not in skipped]
        if not open_:
            break
        mid = min(open_, key=lambda i: abs(i - (lo + hi) / 2))
        verdict = probe(candidates[mid])
        steps.append((candidates[mid], verdict))
        if verdict is Verdict.FLAKY:
            return Found(None, [candidates[mid]], steps, flaky=candidates[mid])
        if verdict is Verdict.BAD:
            hi = mid
        elif verdict is Verdict.GOOD:
            lo = mid
        else:
            skipped.add(mid)
    suspects = list(candidates[lo + 1 : hi + 1])
    return Found(candidates[hi] if len(suspects) == 1 else None, suspects, steps)
