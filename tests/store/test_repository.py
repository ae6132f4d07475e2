"""The Store API on SQLite and PostgreSQL (every test taking ``store`` runs on both)."""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from harness.results.model import OUTCOMES, Outcome, TestResult
from harness.store import NotFound, RunNotFound, RunRecord, Store
from harness.store.repository import glob_to_like


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store.open(db_url) as s:
        yield s


def start(store: Store, cell: str = "demo/cpu/host", job: str | None = None) -> int:
    suite, backend, variant = cell.split("/")
    return store.start_run(
        job_id=job,
        cell=cell,
        suite=suite,
        backend=backend,
        variant=variant,
        upstream="example/demo",
        ref="main",
        sha=None,
        executor="local",
        log_dir="/logs",
        out_dir="/out",
    )


def gen(n: int, prefix: str = "tests/t.py::test_") -> Iterator[TestResult]:
    for i in range(n):
        yield TestResult(
            f"{prefix}{i}", OUTCOMES[i % 6], i / 1000, None if i % 3 else f"message {i}"
        )


def test_jobs(store: Store) -> None:
    job = store.create_job("pull_request", "comfyui/*", "refs/pull/7/head")
    assert re.fullmatch(r"\d{8}T\d{6}-[0-9a-f]{6}", job)
    store.finish_job(job, "done")
    with store.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM jobs")).one()._mapping
    assert (row["id"], row["trigger"], row["pattern"], row["ref"], row["status"]) == (
        job,
        "pull_request",
        "comfyui/*",
        "refs/pull/7/head",
        "done",
    )
    with pytest.raises(ValueError, match="unknown trigger"):
        store.create_job("cron", "x", None)
    with pytest.raises(NotFound):
        store.finish_job("20990101T000000-000000", "done")


def test_run_lifecycle(store: Store) -> None:
    before = datetime.now(UTC)
    job = store.create_job("cli", "demo", "main")
    run_id = start(store, job=job)
    rec = store.get_run(run_id)
    assert rec == RunRecord(
        id=run_id,
        job_id=job,
        cell="demo/cpu/host",
        suite="demo",
        backend="cpu",
        variant="host",
        upstream="example/demo",
        ref="main",
        sha=None,
        status="running",
        reason=None,
        executor="local",
        started_at=rec.started_at,
        finished_at=None,
        duration_s=None,
        counts=dict.fromkeys(["passed", "failed", "error", "skipped", "xfailed", "xpassed"], 0),
        environment_id=None,
        log_dir="/logs",
        out_dir="/out",
    )
    assert rec.started_at.tzinfo is UTC
    assert before - timedelta(seconds=1) <= rec.started_at <= datetime.now(UTC)

    store.set_run_sha(run_id, "a" * 40)
    counts = store.add_results(run_id, gen(12))
    assert counts == dict.fromkeys([o.value for o in OUTCOMES], 2)
    store.finish_run(run_id, status="failed", reason="2 failed", counts=counts, duration_s=1.5)
    rec = store.get_run(run_id)
    assert (rec.status, rec.reason, rec.sha, rec.duration_s) == (
        "failed",
        "2 failed",
        "a" * 40,
        1.5,
    )
    assert list(rec.counts) == [o.value for o in OUTCOMES]
    assert rec.counts == counts
    assert rec.finished_at is not None
    assert rec.finished_at.tzinfo is UTC
    assert rec.finished_at >= rec.started_at
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.status = "passed"  # type: ignore[misc]
    assert dataclasses.asdict(rec)["counts"] == counts


def test_finish_run_with_partial_counts(store: Store) -> None:
    run_id = start(store)
    store.finish_run(
        run_id, status="crashed", reason="segfault", counts={"passed": 3}, duration_s=0
    )
    assert store.get_run(run_id).counts == {"passed": 3} | dict.fromkeys(
        ["failed", "error", "skipped", "xfailed", "xpassed"], 0
    )
    with pytest.raises(ValueError, match="unknown run status"):
        store.finish_run(run_id, status="ok", reason=None, counts={}, duration_s=0)


def test_missing_run_everywhere(store: Store) -> None:
    with pytest.raises(RunNotFound, match="no run with id 4242") as info:
        store.get_run(4242)
    assert isinstance(info.value, KeyError)
    with pytest.raises(RunNotFound):
        store.set_run_sha(4242, "b" * 40)
    with pytest.raises(RunNotFound):
        store.finish_run(4242, status="passed", reason=None, counts={}, duration_s=1)
    with pytest.raises(RunNotFound):
        store.add_results(4242, gen(3))
    with pytest.raises(RunNotFound):
        store.set_environment(4242, {"a": 1})
    with pytest.raises(NotFound):
        store.get_environment(4242)
    assert list(store.iter_results(4242)) == []


def test_add_results_streams_50k(store: Store) -> None:
    run_id = start(store)
    produced = 0
    committed_when_third_batch_began: list[int] = []

    def source() -> Iterator[TestResult]:
        nonlocal produced
        for r in gen(50_000):
            if produced == 2 * 5000:
                committed_when_third_batch_began.append(store.count_results(run_id))
            produced += 1
            yield r

    counts = store.add_results(run_id, source(), batch_size=5000)
    # batches were written while the generator was still running: it was never materialized
    assert committed_when_third_batch_began == [10_000]
    assert produced == 50_000
    assert counts == {"passed": 8334, "failed": 8334, "error": 8333} | dict.fromkeys(
        ["skipped", "xfailed", "xpassed"], 8333
    )
    assert store.count_results(run_id) == 50_000
    for got, want in zip(store.iter_results(run_id), gen(50_000), strict=True):
        assert got == want
    failed = list(store.iter_results(run_id, outcomes=["failed", Outcome.ERROR]))
    assert len(failed) == counts["failed"] + counts["error"]
    assert [r.test_id for r in failed[:3]] == [f"tests/t.py::test_{i}" for i in (1, 2, 7)]


def test_results_before_a_failing_source_are_kept(store: Store) -> None:
    run_id = start(store)

    def broken() -> Iterator[TestResult]:
        yield from gen(2500)
        raise RuntimeError("parser died")

    with pytest.raises(RuntimeError, match="parser died"):
        store.add_results(run_id, broken(), batch_size=1000)
    assert store.count_results(run_id) == 2000  # the complete batches


def test_results_round_trip_values(store: Store) -> None:
    a, b = start(store), start(store)
    rows = [
        TestResult("t::ünïcode[param-1]", Outcome.FAILED, 12.25, "AssertionError: 1 != 2\n" * 50),
        TestResult("t::plain", Outcome.XPASSED, 0.0, None),
        TestResult("t::str-outcome", "skipped", 0.5, "reason"),  # type: ignore[arg-type]
    ]
    assert store.add_results(a, rows)["skipped"] == 1
    store.add_results(b, gen(4))
    got = list(store.iter_results(a))
    assert got[:2] == rows[:2]
    assert got[2] == TestResult("t::str-outcome", Outcome.SKIPPED, 0.5, "reason")
    assert got[2].outcome is Outcome.SKIPPED
    assert [r.test_id for r in store.iter_results(b)] == [f"tests/t.py::test_{i}" for i in range(4)]
    assert list(store.iter_results(a, outcomes=[])) == []
    with pytest.raises(ValueError, match="bogus"):
        store.add_results(a, [TestResult("x", "bogus")])  # type: ignore[arg-type]


def test_results_go_with_their_run(store: Store) -> None:
    run_id = start(store)
    store.add_results(run_id, gen(10))
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM runs WHERE id = :i"), {"i": run_id})
        assert conn.execute(sa.text("SELECT count(*) FROM results")).scalar() == 0


def test_list_runs_filters_and_pages(store: Store) -> None:
    cells = ["a/cpu/host", "a/npu/x", "b/cpu/host", "a_b/cpu/host", "A/cpu/host", "a%/cpu/y"]
    ids = [start(store, c) for c in cells]
    store.finish_run(ids[1], status="passed", reason=None, counts={}, duration_s=1)
    store.finish_run(ids[2], status="passed", reason=None, counts={}, duration_s=1)

    def cells_of(**kw: object) -> list[str]:
        return [r.cell for r in store.list_runs(**kw)]  # type: ignore[arg-type]

    assert [r.id for r in store.list_runs()] == ids[::-1]
    assert cells_of(cell_glob="a/*") == ["a/npu/x", "a/cpu/host"]  # not "A/...": case matters
    assert cells_of(cell_glob="a_b/*") == ["a_b/cpu/host"]  # "_" is not a LIKE wildcard
    assert cells_of(cell_glob="a%/*") == ["a%/cpu/y"]
    assert cells_of(cell_glob="*/cpu/*") == [
        "a%/cpu/y",
        "A/cpu/host",
        "a_b/cpu/host",
        "b/cpu/host",
        "a/cpu/host",
    ]
    assert cells_of(cell_glob="[ab]/cpu/host") == ["b/cpu/host", "a/cpu/host"]
    assert cells_of(cell_glob="?/*/x") == ["a/npu/x"]
    assert cells_of(cell_glob="a/cpu/host") == ["a/cpu/host"]
    assert cells_of(cell_glob="nothing*") == []
    assert cells_of(status="passed") == ["b/cpu/host", "a/npu/x"]
    assert cells_of(status="passed", cell_glob="a/*") == ["a/npu/x"]
    assert [r.id for r in store.list_runs(limit=2)] == [ids[5], ids[4]]
    assert [r.id for r in store.list_runs(before_id=ids[4], limit=2)] == [ids[3], ids[2]]
    assert [r.id for r in store.list_runs(before_id=ids[2], limit=50)] == [ids[1], ids[0]]
    assert cells_of(cell_glob="*/cpu/host", limit=2) == ["A/cpu/host", "a_b/cpu/host"]
    assert store.list_runs(limit=0) == []


@pytest.mark.parametrize(
    ("glob", "like"),
    [
        ("a/*", "a/%"),
        ("a_b/?/c", "a\\_b/_/c"),
        ("100%\\x", "100\\%\\\\x"),
        ("[ab]/x", "_/x"),
        ("[!]a]/x", "_/x"),
        ("[a/x", "[a/x"),
    ],
)
def test_glob_to_like(glob: str, like: str) -> None:
    assert glob_to_like(glob) == like


def test_test_history(store: Store) -> None:
    for outcome in [Outcome.PASSED, Outcome.FAILED]:
        run_id = start(store)
        store.add_results(run_id, [TestResult("t::x", outcome), TestResult("t::y", Outcome.PASSED)])
    npu = start(store, "demo/npu/host")
    store.add_results(npu, [TestResult("t::x", Outcome.ERROR, 2.0, "boom")])
    other_suite = start(store, "other/cpu/host")
    store.add_results(other_suite, [TestResult("t::x", Outcome.SKIPPED)])
    start(store)  # a newer run without the test

    hist = store.test_history("demo", "t::x")
    assert [(run.cell, res.outcome) for run, res in hist] == [
        ("demo/npu/host", Outcome.ERROR),
        ("demo/cpu/host", Outcome.FAILED),
        ("demo/cpu/host", Outcome.PASSED),
    ]
    assert hist[0][0] == store.get_run(npu)
    assert hist[0][1] == TestResult("t::x", Outcome.ERROR, 2.0, "boom")
    cpu = store.test_history("demo", "t::x", backend="cpu")
    assert [res.outcome for _, res in cpu] == [Outcome.FAILED, Outcome.PASSED]
    assert len(store.test_history("demo", "t::x", limit=1)) == 1
    assert store.test_history("demo", "t::nope") == []


def test_environments_are_deduplicated(store: Store) -> None:
    a, b, c = start(store), start(store), start(store)
    fp = {"os": {"id": "debian", "version": "12"}, "python": {"packages": {"pytest": "9.0"}}}
    env_a = store.set_environment(a, fp)
    reordered = {"python": fp["python"], "os": {"version": "12", "id": "debian"}}
    env_b = store.set_environment(b, reordered)
    assert env_a == env_b
    assert store.get_run(a).environment_id == env_a
    assert store.get_run(b).environment_id == env_a
    assert store.get_environment(env_a) == fp
    env_c = store.set_environment(c, {**fp, "backend": "npu", "path": Path("/x")})
    assert env_c != env_a
    assert store.get_environment(env_c)["path"] == "/x"  # stored as canonical JSON
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM environments")).scalar() == 2


def test_concurrent_writers(db_url: str) -> None:
    """Threads sharing one store, each writing its own run; plus racing environment inserts."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)
    with Store.open(db_url) as store:

        def worker(i: int) -> None:
            try:
                run_id = start(store, f"w{i}/cpu/host")
                barrier.wait()
                store.set_environment(run_id, {"same": True})
                store.add_results(run_id, gen(2000, f"w{i}::"), batch_size=500)
                store.finish_run(run_id, status="passed", reason=None, counts={}, duration_s=1)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        runs = store.list_runs()
        assert sorted(r.cell for r in runs) == [f"w{i}/cpu/host" for i in range(4)]
        assert len({r.environment_id for r in runs}) == 1
        for r in runs:
            i = r.cell.split("/")[0][1:]
            assert [t.test_id for t in store.iter_results(r.id)] == [
                f"w{i}::{n}" for n in range(2000)
            ]
