"""The durable queue on SQLite and PostgreSQL: order, leases, heartbeats, expiry,
supersede, and concurrent workers never taking one item twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from harness.service import queue as q
from harness.store import Store

HEAD, NEW_HEAD = "a" * 40, "b" * 40


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


def add(store: Store, *items: q.NewItem) -> list[int]:
    with store.transaction("test") as tx:
        return tx.queue.enqueue(items)


def item(cell: str = "demo/cpu/host", **kw: object) -> q.NewItem:
    fields: dict[str, object] = {
        "repository": "o/r",
        "head_sha": HEAD,
        "ref": "refs/pull/1/head",
        "cell": cell,
        "trigger": "pull_request",
        "pr_number": 1,
    }
    return q.NewItem(**(fields | kw))  # type: ignore[arg-type]


def test_claim_order_and_held_items(store: Store) -> None:
    add(
        store,
        item("demo/cpu/baseline", priority=q.PRIORITY_BASELINE, pr_number=None),
        item("demo/cpu/held", held=True),
        item("demo/cpu/first"),
        item("demo/cpu/second"),
    )
    claimed = [q.claim(store, "w", 60) for _ in range(4)]
    assert [c.cell if c else None for c in claimed] == [
        "demo/cpu/first",
        "demo/cpu/second",
        "demo/cpu/baseline",
        None,  # held until approved
    ]
    first = claimed[0]
    assert first is not None
    assert (first.state, first.attempts, first.lease_owner) == ("leased", 1, "w")
    with store.transaction("t") as tx:
        released = tx.queue.release_held("o/r", 1, HEAD)
    assert released == 1
    again = q.claim(store, "w", 60)
    assert again is not None
    assert again.cell == "demo/cpu/held"


def test_heartbeat_finish_and_a_lost_lease(store: Store) -> None:
    (item_id,) = add(store, item())
    claimed = q.claim(store, "w1", 60)
    assert claimed is not None
    assert q.heartbeat(store, item_id, "w1", 60)
    assert not q.heartbeat(store, item_id, "intruder", 60)
    # a newer head supersedes it while it runs: the worker finds out and must not report
    with store.transaction("t") as tx:
        gone = tx.queue.supersede("o/r", 1, NEW_HEAD, "superseded")
    assert [g.id for g in gone] == [item_id]
    assert not q.heartbeat(store, item_id, "w1", 60)
    with store.transaction("t") as tx:
        assert not tx.queue.finish(item_id, "w1", state="done")
    final = q.get_item(store, item_id)
    assert final is not None
    assert final.state == "superseded"


def test_an_expired_lease_is_retried_then_fails(store: Store) -> None:
    (item_id,) = add(store, item(max_attempts=2))
    assert q.claim(store, "dead-worker", 0.05) is not None
    time.sleep(0.1)
    requeued, failed = q.expire_leases(store)
    assert [i.id for i in requeued] == [item_id]
    assert failed == []
    assert "dead-worker stopped heartbeating" in (requeued[0].detail or "")
    second = q.claim(store, "another", 0.05)
    assert second is not None
    assert second.attempts == 2
    time.sleep(0.1)
    requeued, failed = q.expire_leases(store)
    assert requeued == []
    assert [i.id for i in failed] == [item_id]
    assert failed[0].state == "failed"
    assert "gave up after 2 attempts" in (failed[0].detail or "")
    assert q.claim(store, "third", 60) is None


def test_a_live_lease_is_not_expired(store: Store) -> None:
    add(store, item())
    assert q.claim(store, "w", 60) is not None
    assert q.expire_leases(store) == ([], [])


def test_concurrent_workers_take_each_item_once(store: Store) -> None:
    n = 40
    add(store, *(item(f"demo/cpu/c{i}") for i in range(n)))
    taken: list[tuple[str, int]] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        while (it := q.claim(store, name, 60)) is not None:
            with lock:
                taken.append((name, it.id))

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for _, i in taken]
    assert len(ids) == n
    assert len(set(ids)) == n
    assert q.state_counts(store) == {"leased": n}


def test_items_for_head_keeps_the_newest_per_cell(store: Store) -> None:
    first, second = add(store, item(), item())
    with store.reading("t") as r:
        heads = r.queue.items_for_head("o/r", HEAD)
    assert [i.id for i in heads] == [second]
    assert first < second
