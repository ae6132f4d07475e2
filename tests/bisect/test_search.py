"""The pure search: binary over any ordered candidates, skip and flaky verdicts, budget."""

from __future__ import annotations

import math
import random

import pytest

from harness.bisect.search import Outcome, Verdict, default_max_probes, search


def _oracle(
    first_bad: int, skip: frozenset[int] = frozenset(), flaky: frozenset[int] = frozenset()
):
    asked: list[int] = []

    def probe(c: int) -> Verdict:
        asked.append(c)
        if c in flaky:
            return Verdict.FLAKY
        if c in skip:
            return Verdict.SKIP
        return Verdict.BAD if c >= first_bad else Verdict.GOOD

    return probe, asked


@pytest.mark.parametrize("n", [1, 2, 3, 7, 31, 100, 1000])
def test_finds_every_first_bad_within_ceil_log2(n: int) -> None:
    for first_bad in range(n) if n <= 100 else random.Random(n).sample(range(n), 20):
        probe, asked = _oracle(first_bad)
        result = search(list(range(n)), probe)
        assert result.outcome is Outcome.FOUND
        assert result.first_bad == first_bad
        assert result.probes == len(asked) <= (math.ceil(math.log2(n)) if n > 1 else 0)
        assert n - 1 not in asked  # the bad end is known, never probed


def test_generic_over_candidates() -> None:
    versions = ["2.5.0", "2.6.0.dev1", "2.6.0.dev2", "2.6.0"]
    result = search(versions, lambda v: Verdict.BAD if v >= "2.6.0.dev2" else Verdict.GOOD)
    assert result.first_bad == "2.6.0.dev2"
    assert [s.candidate for s in result.steps] == ["2.6.0.dev1", "2.6.0.dev2"]


def test_a_skipped_candidate_is_stepped_around() -> None:
    probe, asked = _oracle(first_bad=20, skip=frozenset({14}))
    result = search(list(range(31)), probe)
    assert result.outcome is Outcome.FOUND
    assert result.first_bad == 20
    assert asked[0] == 14
    assert asked[1] != 14
    assert result.probes <= math.ceil(math.log2(31)) + 1


def test_only_skipped_between_good_and_bad_gives_a_range() -> None:
    # c0 good, c1 unbuildable, c2 bad, c3 bad(end): first bad is one of c1, c2
    probe, _ = _oracle(first_bad=1, skip=frozenset({1}))
    result = search([0, 1, 2, 3], probe)
    assert result.outcome is Outcome.RANGE
    assert result.first_bad is None
    assert result.suspects == [1, 2]


def test_flaky_ends_the_search_at_that_candidate() -> None:
    probe, asked = _oracle(first_bad=10, flaky=frozenset({7}))
    result = search(list(range(16)), probe)
    assert result.outcome is Outcome.FLAKY
    assert result.suspects == [7]
    assert asked[-1] == 7


def test_budget_bounds_the_probes() -> None:
    probe, asked = _oracle(first_bad=500)
    result = search(list(range(1000)), probe, max_probes=3)
    assert result.outcome is Outcome.EXHAUSTED
    assert len(asked) == 3
    assert 500 in result.suspects
    assert len(result.suspects) > 1
    assert default_max_probes(31) == 8
    assert default_max_probes(1) == 3


def test_no_candidates_is_refused() -> None:
    with pytest.raises(ValueError, match="no candidates"):
        search([], lambda _c: Verdict.GOOD)
