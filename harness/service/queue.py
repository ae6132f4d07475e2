"""The durable job queue (rows: :mod:`harness.store.queue`): what its states mean for
the service, and the units of work that move them.

States: ``held`` (an untrusted pull request waits for approval), ``queued``, ``leased``
(a worker runs it) or ``dispatched`` (sent to GitHub Actions; its results come back
through ``POST /api/results``), then ``done``, ``failed`` or ``superseded``.

A worker *claims* the first queued item (priority, then age) and holds a *lease* on it
that its heartbeats extend. A worker that dies stops heartbeating; once the lease expires
the item is queued again (``attempts`` counts the tries) or, after ``max_attempts``,
``failed``. On PostgreSQL several workers claim concurrently with ``FOR UPDATE SKIP
LOCKED``; SQLite serialises writers (``BEGIN IMMEDIATE``), which is enough for the
workers of one machine. Execution is at least once: whoever completes an item must still
hold its lease, and reporting is idempotent.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence

from harness.store import Store
from harness.store.queue import (
    ACTIVE,
    FINISHED,
    PRIORITY_BASELINE,
    PRIORITY_PR,
    Item,
    NewItem,
)
from harness.store.rows import now

__all__ = [
    "ACTIVE", "FINISHED", "PRIORITY_BASELINE", "PRIORITY_PR", "Item", "NewItem", "claim",
    "expire_leases", "get_item", "heartbeat", "list_items", "now", "stalled",
    "state_counts", "worker_name",
]  # fmt: skip


def worker_name() -> str:
    """``host:pid:random``: unique per worker process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def expire_leases(store: Store) -> tuple[list[Item], list[Item]]:
    """Leases past their expiry: the item is queued again, or ``failed`` once it used
    its attempts. Returns (requeued, failed) items; failed ones' reports are owed."""
    with store.transaction("expiring queue leases") as tx:
        return tx.queue.expire_leases()


def claim(store: Store, owner: str, lease_s: float) -> Item | None:
    """Lease the next queued item to ``owner`` for ``lease_s`` seconds, or ``None``."""
    with store.transaction("claiming a queue item") as tx:
        return tx.queue.claim(owner, lease_s)


def heartbeat(store: Store, item_id: int, owner: str, lease_s: float) -> bool:
    """Extend ``owner``'s lease; ``False`` when it no longer holds it (superseded, or
    expired and taken by another worker)."""
    with store.transaction("heartbeat") as tx:
        return tx.queue.heartbeat(item_id, owner, lease_s)


def list_items(
    store: Store, *, states: Sequence[str] | None = None, limit: int = 200
) -> list[Item]:
    with store.reading("listing the queue") as r:
        return r.queue.items(states=states, limit=limit)


def stalled(store: Store, after_s: float) -> int:
    """Queued items due for over ``after_s`` while no leased item has heartbeated in that
    time (0 when the queue moves: a worker busy with a long cell heartbeats)."""
    with store.reading("checking whether the queue moves") as r:
        return r.queue.stalled(after_s)


def get_item(store: Store, item_id: int) -> Item | None:
    with store.reading("reading a queue item") as r:
        return r.queue.get(item_id)


def state_counts(store: Store) -> dict[str, int]:
    with store.reading("counting the queue") as r:
        return r.queue.state_counts()
