"""Read → judge → write: a unit of work that meets a run judged too late is rolled back,
the run is judged outside it, and the unit of work runs again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.results.model import Outcome, TestResult
from harness.service.publish import Judged, Unjudged, VerdictCache, judged_transaction
from harness.store import Store, Transaction


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as s:
        yield s


def finished_run(store: Store) -> int:
    run_id = store.start_run(
        job_id=None, cell="demo/cpu/host", suite="demo", backend="cpu", variant="host",
        upstream="example/demo", ref="refs/pull/3/head", sha="a" * 40, executor="local",
        log_dir=None, out_dir=None,
    )  # fmt: skip
    counts = store.add_results(run_id, [TestResult("t::a", Outcome.FAILED, 0.1, "boom")])
    store.finish_run(run_id, status="failed", reason=None, counts=counts, duration_s=1.0)
    return run_id


def test_a_run_met_unjudged_is_judged_outside_and_the_unit_of_work_runs_again(
    store: Store,
) -> None:
    run_id = finished_run(store)
    verdicts = VerdictCache(store, None)
    rounds: list[bool] = []

    def body(tx: Transaction, judged: Judged) -> str:
        rounds.append(run_id in judged.verdicts)
        tx.outbox.put("o/r", "status", f"status:{len(rounds)}", {"round": len(rounds)})
        verdict = judged.get(run_id)  # the first round raises Unjudged: rolled back
        return "judged" if verdict is not None else "no verdict"

    assert judged_transaction(store, verdicts, "t", body) in {"judged", "no verdict"}
    assert rounds == [False, True]
    with store.reading("t") as r:
        assert [e.key for e in r.outbox.entries()] == ["status:2"]  # round 1 rolled back


def test_runs_named_up_front_are_judged_before_the_first_round(store: Store) -> None:
    run_id = finished_run(store)
    rounds = 0

    def body(tx: Transaction, judged: Judged) -> None:
        nonlocal rounds
        rounds += 1
        judged.get(run_id)

    judged_transaction(store, VerdictCache(store, None), "t", body, [run_id])
    assert rounds == 1


def test_a_verdict_is_never_computed_inside_a_write_transaction(store: Store) -> None:
    run_id = finished_run(store)
    verdicts = VerdictCache(store, None)
    with (
        pytest.raises(RuntimeError, match="inside a write transaction"),
        store.transaction("t"),
    ):
        verdicts.get(run_id)
    with pytest.raises(Unjudged, match=str(run_id)):
        Judged({}).get(run_id)
