"""The outbox on SQLite and PostgreSQL: coalescing, order per key, retry, dead letters,
and a sender that died mid-post."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from harness.service import outbox
from harness.service.queue import now
from harness.store import Store


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


def put(store: Store, key: str, state: str) -> int:
    payload = {"sha": "a" * 40, "context": key, "state": state}
    with store.transaction("t") as tx:
        return tx.outbox.put("o/r", "status", key, payload)


def test_a_newer_report_replaces_a_pending_one(store: Store) -> None:
    first = put(store, "status:a:ctx", "pending")
    assert put(store, "status:a:ctx", "failure") == first
    (entry,) = outbox.claim_due(store, "s", 60)
    assert entry.payload["state"] == "failure"


def test_one_key_goes_out_in_order(store: Store) -> None:
    first = put(store, "k", "pending")
    claimed = outbox.claim_due(store, "s1", 60)
    assert [e.id for e in claimed] == [first]
    # while the first is being sent, a newer one waits for it (and is not merged into it)
    second = put(store, "k", "success")
    other = put(store, "other", "success")
    assert second != first
    assert [e.id for e in outbox.claim_due(store, "s2", 60)] == [other]
    outbox.mark_sent(store, first)
    assert [e.id for e in outbox.claim_due(store, "s2", 60)] == [second]


def test_retry_waits_then_goes_again(store: Store) -> None:
    entry_id = put(store, "k", "success")
    (entry,) = outbox.claim_due(store, "s", 60)
    when = outbox.mark_retry(store, entry, "HTTP 502", 0.2)
    assert when > now()
    assert outbox.claim_due(store, "s", 60) == []
    time.sleep(0.3)
    (again,) = outbox.claim_due(store, "s", 60)
    assert again.id == entry_id
    assert again.attempts == 2
    assert again.last_error == "HTTP 502"


def test_backoff_grows_and_is_capped() -> None:
    delays = [outbox.backoff_s(n) for n in range(1, 20)]
    assert delays[0] < 10
    assert delays[3] > delays[0]
    assert max(delays) <= outbox.BACKOFF_CAP_S * 1.2


def test_dead_letters_are_not_retried(store: Store) -> None:
    entry_id = put(store, "k", "bogus")
    outbox.claim_due(store, "s", 60)
    outbox.mark_dead(store, entry_id, "HTTP 422: state must be one of …")
    assert outbox.claim_due(store, "s", 60) == []
    assert outbox.state_counts(store) == {"dead": 1}
    (listed,) = outbox.list_entries(store, states=["dead"])
    assert listed.last_error is not None
    assert "422" in listed.last_error


def test_an_entry_whose_sender_died_is_taken_again(store: Store) -> None:
    entry_id = put(store, "k", "success")
    assert outbox.claim_due(store, "dead-sender", 0.05)
    time.sleep(0.1)
    (again,) = outbox.claim_due(store, "alive", 60)
    assert again.id == entry_id


def test_github_object_ids(store: Store) -> None:
    assert outbox.get_object(store, "o/r", "comment", "5") is None
    outbox.set_object(store, "o/r", "comment", "5", 101)
    outbox.set_object(store, "o/r", "comment", "5", 102)
    assert outbox.get_object(store, "o/r", "comment", "5") == 102
    assert outbox.get_object(store, "o/other", "comment", "5") is None
