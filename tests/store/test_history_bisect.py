"""A bisection's probes are not part of a cell's default-branch history: they run older
commits in the order the search picks, so counting them by start time would make a test
that broke once look as if it flipped (and a broken trunk look flaky on every PR)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.results.model import Outcome, TestResult
from harness.store import Store
from harness.store import history as h
from harness.verdict.flaky import flake_stats

T = "tests.test_a::test_b"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as s:
        yield s


def run(store: Store, job: str | None, sha: str, outcome: Outcome) -> int:
    run_id = store.start_run(
        job_id=job, cell="demo/cpu/host", suite="demo", backend="cpu", variant="host",
        upstream="example/demo", ref=None, sha=sha, executor="local", log_dir=None,
        out_dir=None,
    )  # fmt: skip
    counts = store.add_results(run_id, [TestResult(T, outcome, 0.1)])
    status = "failed" if counts["failed"] else "passed"
    store.finish_run(run_id, status=status, reason=None, counts=counts, duration_s=1.0)
    return run_id


def test_probes_of_a_bisection_are_left_out_of_the_history(store: Store) -> None:
    push = store.create_job("push", "demo/*", "main")
    good = run(store, push, "a" * 40, Outcome.PASSED)
    bad = run(store, push, "f" * 40, Outcome.FAILED)
    bisect = store.create_job("bisect", "demo/cpu/host", "aaaa..ffff")
    # the search jumps around the range: pass, fail, pass by start time
    for sha, outcome in (("b" * 40, Outcome.PASSED), ("d" * 40, Outcome.FAILED)):
        run(store, bisect, sha, outcome)
    run(store, bisect, "c" * 40, Outcome.PASSED)
    unjobbed = run(store, None, "0" * 40, Outcome.FAILED)  # a run of no job still counts
    window = h.default_branch_runs(store, "demo/cpu/host", limit=20, statuses=h.WITH_RESULTS)
    assert [r.id for r in window] == [unjobbed, bad, good]
    order = [r.id for r in reversed(window)]
    stat = flake_stats(h.iter_history(store, order, {T}), order)[T]
    assert stat.flips == 1  # broke once (pass → fail), not flipping
