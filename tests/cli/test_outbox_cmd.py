"""``harness outbox list|retry``: dead letters are visible and can be re-sent."""

from __future__ import annotations

from collections.abc import Callable

from harness.service import outbox
from harness.store import Store
from tests.cli.conftest import Result

Harness = Callable[..., Result]
REPO = "o/r"


def dead_letter(db_url: str, error: str = "HTTP 404: Not Found") -> int:
    with Store.open(db_url) as store:
        payload = {"sha": "a" * 40, "context": "acme/x", "state": "failure", "installation": None}
        with store.transaction("t") as tx:
            entry_id = tx.outbox.put(REPO, "status", "status:a:acme/x", payload)
        (entry,) = outbox.claim_due(store, "w", 60)
        outbox.mark_dead(store, entry.id, error)
    return entry_id


def test_dead_letters_are_listed_and_resent(harness: Harness, db_url: str) -> None:
    entry_id = dead_letter(db_url)
    res = harness("outbox", "list", "--state", "dead", "--json")
    assert res.code == 0, res.err
    (listed,) = res.json()["entries"]
    assert (listed["id"], listed["state"], listed["last_error"]) == (
        entry_id,
        "dead",
        "HTTP 404: Not Found",
    )
    table = harness("outbox", "list")
    assert "HTTP 404: Not Found" in table.out
    res = harness("outbox", "retry", str(entry_id), "--json")
    assert res.code == 0, res.err
    assert res.json() == {"retried": [entry_id], "not_dead": []}
    with Store.open(db_url) as store:
        (entry,) = outbox.list_entries(store)
    assert (entry.state, entry.attempts) == ("pending", 0)
    # retrying what is not a dead letter says so
    res = harness("outbox", "retry", str(entry_id))
    assert res.code == 2
    assert f"not dead letters (or unknown): {entry_id}" in res.err


def test_retry_needs_ids_or_all_dead(harness: Harness) -> None:
    res = harness("outbox", "retry")
    assert res.code == 2
    assert "give entry IDS or --all-dead" in res.err
