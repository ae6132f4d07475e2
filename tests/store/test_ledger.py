"""The missing-result ledger: promises, settling, supersede, overdue flagged once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from harness.service import ledger
from harness.store import Store

A, B = "a" * 40, "b" * 40


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


def promise(store: Store, head: str, cells: list[str], deadline_s: float = 3600) -> None:
    with store.transaction("t") as tx:
        tx.ledger.promise(
            repository="o/r",
            pr_number=3,
            head_sha=head,
            cells=[(c, "acme/" + c.rsplit("/", 1)[0]) for c in cells],
            deadline_s=deadline_s,
        )


def test_settled_only_when_github_accepts_and_superseded(store: Store) -> None:
    promise(store, A, ["demo/cpu/host", "demo/npu/x"])
    with store.transaction("t") as tx:
        tx.ledger.settle("o/r", A, "demo/cpu/host")
    states = {r.cell: r.state for r in ledger.list_owed(store)}
    assert states == {"demo/cpu/host": "queued", "demo/npu/x": "owed"}  # not yet posted
    with store.transaction("t") as tx:
        assert tx.ledger.accepted("o/r", A, "acme/demo/cpu") == 1
    # settled stays settled
    with store.transaction("t") as tx:
        assert tx.ledger.refused("o/r", A, "acme/demo/cpu") == 0
    states = {r.cell: r.state for r in ledger.list_owed(store)}
    assert states == {"demo/cpu/host": "reported", "demo/npu/x": "owed"}
    promise(store, B, ["demo/cpu/host"])
    with store.transaction("t") as tx:
        n = tx.ledger.release("o/r", 3, B, "superseded")
    assert n == 1
    rows = {(r.head_sha, r.cell): r.state for r in ledger.list_owed(store)}
    assert rows[(A, "demo/npu/x")] == "superseded"
    assert rows[(B, "demo/cpu/host")] == "owed"


def test_a_refused_report_is_owed_again(store: Store) -> None:
    promise(store, A, ["demo/npu/x"], deadline_s=0.05)
    with store.transaction("t") as tx:
        tx.ledger.settle("o/r", A, "demo/npu/x")
    time.sleep(0.1)
    # queued but never accepted: overdue all the same
    assert [r.state for r in ledger.list_owed(store, overdue_only=True)] == ["queued"]
    with store.transaction("t") as tx:
        assert tx.ledger.refused("o/r", A, "acme/demo/npu") == 1
    (row,) = ledger.list_owed(store, overdue_only=True)
    assert (row.state, row.as_json()["overdue"]) == ("owed", True)


def test_overdue_reports_are_listed_counted_and_flagged_once(store: Store) -> None:
    promise(store, A, ["demo/npu/x"], deadline_s=0.05)
    promise(store, B, ["demo/cpu/host"], deadline_s=3600)
    time.sleep(0.1)
    overdue = ledger.list_owed(store, overdue_only=True)
    assert [(r.head_sha, r.cell) for r in overdue] == [(A, "demo/npu/x")]
    assert overdue[0].as_json()["overdue"] is True
    assert ledger.counts(store) == {"owed": 2, "overdue": 1}
    flagged = ledger.flag_overdue(store)
    assert [r.cell for r in flagged] == ["demo/npu/x"]
    assert ledger.flag_overdue(store) == []  # logged once, still listed
    assert len(ledger.list_owed(store, overdue_only=True)) == 1


def test_a_recheck_renews_the_promise(store: Store) -> None:
    promise(store, A, ["demo/npu/x"], deadline_s=0.05)
    with store.transaction("t") as tx:
        tx.ledger.settle("o/r", A, "demo/npu/x")
    promise(store, A, ["demo/npu/x"], deadline_s=3600)
    (row,) = ledger.list_owed(store)
    assert row.state == "owed"
    assert row.reported_at is None
    assert not row.overdue(row.promised_at)
