"""The outbox: reports wait here until GitHub has them (table ``outbox``).

Whoever decides a report writes it here in the same transaction as the result it
reports, so a report is never lost between the two. The sender (:mod:`harness.service.
sender`) takes due entries under a short lease, posts them, and marks them ``sent``; a
failure puts the entry back with a later ``next_attempt_at`` (GitHub's ``Retry-After``
or exponential backoff), a request GitHub rejects as wrong goes to ``dead`` with the
reason. Per key (``status:<sha>:<context>``, ``comment:<pr>``) entries go out in order,
and a newer entry replaces a still-pending one (keeping its wait, so a ``recheck`` during
a backoff does not send at once): a burst of updates posts the last state. Dead letters
are listed (``harness outbox list``, ``GET /api/outbox``) and re-sent with ``harness
outbox retry``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from harness.store import Store, Transaction
from harness.store.outbox import Entry
from harness.store.rows import now

__all__ = [
    "Entry", "backoff_s", "claim_due", "final_report", "get_object", "list_entries",
    "mark_dead", "mark_retry", "mark_sent", "retry", "set_object", "state_counts",
]  # fmt: skip

#: backoff: BASE * 2**attempts seconds, at most CAP, with jitter
BACKOFF_BASE_S, BACKOFF_CAP_S = 5.0, 3600.0


def final_report(kind: str, payload: dict[str, Any]) -> tuple[str, str] | None:
    """(head sha, context) when ``payload`` is the final status or check run of a context:
    the report the ledger waits for."""
    if kind == "status" and payload.get("state") not in (None, "pending"):
        return str(payload["sha"]), str(payload["context"])
    if kind == "check_run" and payload.get("status") == "completed":
        return str(payload["sha"]), str(payload["name"])
    return None


def claim_due(store: Store, owner: str, lease_s: float, limit: int = 20) -> list[Entry]:
    """Lease due entries to ``owner``: pending ones whose time has come, and ``sending``
    ones whose sender died (lease expired). An entry waits while an older one with its
    key is unsent, so updates to one status or comment land in order."""
    with store.transaction("claiming outbox entries") as tx:
        return tx.outbox.claim_due(owner, lease_s, limit)


def mark_sent(
    store: Store, entry_id: int, then: Callable[[Transaction], object] | None = None
) -> None:
    """``entry_id`` reached GitHub; ``then`` runs in the same unit of work (the ledger)."""
    with store.transaction("marking a report sent") as tx:
        tx.outbox.mark_sent(entry_id)
        if then is not None:
            then(tx)


def backoff_s(attempts: int) -> float:
    """Seconds before try ``attempts + 1``: exponential, capped, with +-20 % jitter."""
    base = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** max(0, attempts - 1))
    return base * random.uniform(0.8, 1.2)


def mark_retry(store: Store, entry: Entry, error: str, delay_s: float | None) -> datetime:
    """Back to ``pending`` after ``delay_s`` (default: backoff); returns when."""
    when = now() + timedelta(seconds=delay_s if delay_s is not None else backoff_s(entry.attempts))
    with store.transaction("rescheduling a report") as tx:
        tx.outbox.mark_retry(entry.id, when, error)
    return when


def mark_dead(
    store: Store, entry_id: int, error: str, then: Callable[[Transaction], object] | None = None
) -> None:
    with store.transaction("dead-lettering a report") as tx:
        tx.outbox.mark_dead(entry_id, error)
        if then is not None:
            then(tx)


def retry(store: Store, ids: list[int] | None = None) -> list[int]:
    """Dead letters (those of ``ids``, or all) back to ``pending``, due now, with their
    attempts reset; returns the ids re-sent."""
    with store.transaction("re-sending dead letters") as tx:
        return tx.outbox.retry(ids)


def list_entries(store: Store, *, states: list[str] | None = None, limit: int = 200) -> list[Entry]:
    with store.reading("listing the outbox") as r:
        return r.outbox.entries(states=states, limit=limit)


def state_counts(store: Store) -> dict[str, int]:
    with store.reading("counting the outbox") as r:
        return r.outbox.state_counts()


# what a reporter created on the code host (table ``github_objects``) ----------------------


def get_object(store: Store, repository: str, kind: str, key: str) -> int | None:
    with store.reading("reading a GitHub object id") as r:
        return r.outbox.get_object(repository, kind, key)


def set_object(store: Store, repository: str, kind: str, key: str, object_id: int) -> None:
    with store.transaction("recording a GitHub object id") as tx:
        tx.outbox.set_object(repository, kind, key, object_id)
