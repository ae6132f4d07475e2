"""Flake statistics from history rows, and flakiness within one run's reruns."""

from __future__ import annotations

import pytest

from harness.verdict.categories import FlakeStat
from harness.verdict.flaky import FlakePolicy, flake_stats, flaky_on_rerun, sequence_stat


def test_sequence_counts_flips_between_ok_and_failing_only() -> None:
    assert sequence_stat(["passed", "failed", "skipped", "passed", "error"]) == FlakeStat(4, 2, 3)
    assert sequence_stat(["failed", "failed", "error"]) == FlakeStat(3, 3, 0)
    assert sequence_stat(["xfailed", "xpassed", "passed"]) == FlakeStat(3, 0, 0)
    assert FlakeStat(1, 1, 0).score == 0.0
    assert FlakeStat(5, 2, 4).score == 1.0


def test_history_rows_are_ordered_by_the_window_not_by_run_id() -> None:
    # run 30 is older than run 10 here (e.g. a run id from another database)
    order = [30, 10, 20]
    rows = [
        ("a::t", 10, "passed"),
        ("a::t", 20, "failed"),
        ("a::t", 30, "failed"),
        ("a::t", 99, "passed"),  # outside the window
        ("b::ok", 10, "passed"),
        ("b::ok", 20, "passed"),
    ]
    stats = flake_stats(rows, order)
    assert stats == {"a::t": FlakeStat(runs=3, failures=2, flips=2)}


def test_policy() -> None:
    policy = FlakePolicy(min_flips=2)
    assert policy.is_flaky(FlakeStat(4, 2, 2))
    assert not policy.is_flaky(FlakeStat(4, 1, 1))
    assert not policy.is_flaky(None)
    with pytest.raises(ValueError, match="min_flips"):
        FlakePolicy(min_flips=0)
    with pytest.raises(ValueError, match="window"):
        FlakePolicy(window=1)


def test_reruns() -> None:
    assert flaky_on_rerun("failed", ["passed"])
    assert flaky_on_rerun("failed", ["failed", "passed"])
    assert flaky_on_rerun("passed", ["failed"])
    assert not flaky_on_rerun("failed", ["failed", "error"])
    assert not flaky_on_rerun("failed", [])
    assert not flaky_on_rerun("failed", ["skipped"])
