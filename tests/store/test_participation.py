"""The SLOs' windowed reads and the levels' history, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from harness.store import Store
from harness.store.rows import now

REPO = "example/demo"


def _run(
    store: Store, sha: str, status: str, *, default_branch: bool, cell: str = "d/cpu/h"
) -> int:
    run_id = store.start_run(
        job_id=None, cell=cell, suite="d", backend="cpu", variant="h", upstream=REPO,
        ref=None, sha=sha, executor="local", log_dir=None, out_dir=None,
    )  # fmt: skip
    store.set_run_base(run_id, base_sha=None, is_default_branch=default_branch)
    store.finish_run(run_id, status=status, reason=None, counts={}, duration_s=1.0)
    return run_id


def test_runs_in_the_window_infra_errors_and_reds_that_turned_green(db_url: str) -> None:
    with Store.open(db_url) as store:
        _run(store, "a" * 40, "failed", default_branch=False)  # red, then green: false red
        _run(store, "a" * 40, "passed", default_branch=False)
        _run(store, "b" * 40, "failed", default_branch=False)  # red, stays red
        _run(store, "b" * 40, "failed", default_branch=False)
        _run(store, "c" * 40, "failed", default_branch=True)  # the trunk's: not a PR red
        _run(store, "c" * 40, "passed", default_branch=True)
        _run(store, "d" * 40, "error", default_branch=False)
        _run(store, "e" * 40, "timeout", default_branch=False)
        _run(store, "f" * 40, "cancelled", default_branch=False)  # says nothing
        t = now()
        with store.reading("measuring") as r:
            window = r.participation.run_window(REPO, t - timedelta(hours=1), t)
            later = r.participation.run_window(REPO, t, t + timedelta(hours=1))
            latest = r.participation.latest_default_runs(REPO, t - timedelta(hours=1), t)
        assert (window.finished, window.infra) == (8, 2)
        assert (window.reds, window.false_reds) == (3, 1)
        assert later.finished == 0
        assert len(latest) == 1  # one cell: its newest default-branch run


def test_ledger_window_latency_and_missing_reports(db_url: str) -> None:
    with Store.open(db_url) as store:
        with store.transaction("promising") as tx:
            for sha in ("1" * 40, "2" * 40, "3" * 40):
                tx.ledger.promise(
                    repository=REPO, pr_number=1, head_sha=sha,
                    cells=[("d/cpu/h", "acme/d/cpu")], deadline_s=60,
                )  # fmt: skip
            tx.ledger.settle(REPO, "1" * 40, "d/cpu/h", "reported")  # in time
            tx.ledger.settle(REPO, "2" * 40, "d/cpu/h", "queued")  # never accepted
            tx.ledger.settle(REPO, "3" * 40, "d/cpu/h", "superseded")  # owes nothing
        t = now()
        with store.reading("measuring") as r:
            early = r.participation.ledger_window(REPO, t - timedelta(hours=1), t)
            due = r.participation.ledger_window(
                REPO, t - timedelta(hours=1), t + timedelta(minutes=2)
            )
        assert early.due == 0  # no deadline has passed yet
        assert (due.due, due.missing) == (2, 1)
        assert len(due.latencies) == 1
        assert 0 <= due.latencies[0] < 60
        with store.transaction("dropping") as tx:
            assert tx.ledger.drop_unsettled(REPO) == 1
        with store.reading("measuring") as r:
            dropped = r.participation.ledger_window(
                REPO, t - timedelta(hours=1), t + timedelta(minutes=2)
            )
        assert (dropped.due, dropped.missing) == (2, 1)  # a dropped report stays missing


def test_levels_and_their_history(db_url: str) -> None:
    with Store.open(db_url) as store:
        t = now()
        with store.transaction("levels") as tx:
            assert tx.participation.set_level(REPO, "check", reason="configured", by="auto", at=t)
            assert not tx.participation.set_level(REPO, "check", reason="again", by="auto", at=t)
            assert tx.participation.set_level(
                REPO, "status", reason="pinned for a release", by="alice", at=t, pinned=True
            )
            tx.participation.record_evaluation(REPO, {"objectives": []}, t)
        with store.reading("reading") as r:
            row = r.participation.get(REPO)
            history = r.participation.changes(REPO)
        assert row is not None
        assert (row.level, row.pinned, row.reason) == ("status", True, "pinned for a release")
        assert row.slo == {"objectives": []}
        assert [(c.from_level, c.to_level, c.by) for c in history] == [
            ("check", "status", "alice"),
            (None, "check", "auto"),
        ]


def test_coverage_is_the_lowest_share_of_what_the_reference_passes(db_url: str) -> None:
    """The coverage objective from stored runs: npu passes 2 of the 3 tests cpu passes at
    the same commit (66.7%), below a 90% target."""
    from harness.config.service import Slo, UpstreamService
    from harness.results.model import Outcome, TestResult
    from harness.service.slo import measure

    def run(backend: str, outcomes: dict[str, Outcome]) -> None:
        run_id = store.start_run(
            job_id=None, cell=f"d/{backend}/h", suite="d", backend=backend, variant="h",
            upstream=REPO, ref="main", sha="a" * 40, executor="local", log_dir=None,
            out_dir=None,
        )  # fmt: skip
        store.set_run_base(run_id, base_sha=None, is_default_branch=True)
        store.add_results(run_id, [TestResult(t, o, 0.1, None) for t, o in outcomes.items()])
        failed = any(o is Outcome.FAILED for o in outcomes.values())
        store.finish_run(
            run_id, status="failed" if failed else "passed", reason=None, counts={}, duration_s=1
        )

    with Store.open(db_url) as store:
        passed, failed = Outcome.PASSED, Outcome.FAILED
        run("cpu", {"t::a": passed, "t::b": passed, "t::c": passed})
        run("npu", {"t::a": passed, "t::b": passed, "t::c": failed})
        up = UpstreamService(slo=Slo(coverage=0.9, min_samples=1))
        objectives = {o.name: o for o in measure(store, REPO, up, now() + timedelta(seconds=1))}
    coverage = objectives["coverage"]
    assert coverage.value is not None
    assert round(coverage.value, 3) == 0.667
    assert coverage.met is False
    assert "coverage 66.7% of the reference in d/npu/h" in coverage.detail
    assert objectives["infra_error_rate"].met is True  # 0 of 2 runs
