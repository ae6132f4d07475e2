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
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, exists, func, insert, select, update
from sqlalchemy.orm import aliased

from harness.service.queue import now
from harness.store import Store
from harness.store.models import GithubObject, OutboxEntry
from harness.store.rows import RowRecord

outbox_t = cast(Table, OutboxEntry.__table__)
objects_t = cast(Table, GithubObject.__table__)

#: backoff: BASE * 2**attempts seconds, at most CAP, with jitter
BACKOFF_BASE_S, BACKOFF_CAP_S = 5.0, 3600.0


@dataclass(frozen=True, slots=True)
class Entry(RowRecord):
    id: int
    repository: str
    kind: str
    key: str
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    #: claimed from a sender that died while it held it: whether GitHub got the post
    #: is unknown, so the next sender looks before posting again
    resumed: bool = False

    def as_json(self) -> dict[str, Any]:
        out = RowRecord.as_json(self)  # slots dataclasses break zero-argument super()
        out.pop("payload")
        return out


def final_report(kind: str, payload: dict[str, Any]) -> tuple[str, str] | None:
    """(head sha, context) when ``payload`` is the final status or check run of a context:
    the report the ledger waits for."""
    if kind == "status" and payload.get("state") not in (None, "pending"):
        return str(payload["sha"]), str(payload["context"])
    if kind == "check_run" and payload.get("status") == "completed":
        return str(payload["sha"]), str(payload["name"])
    return None


def already_sent(conn: Connection, repository: str, key: str, payload: dict[str, Any]) -> bool:
    """Whether the newest entry with ``key`` is sent and says exactly ``payload``: GitHub
    shows it already, and posting it again would only add a duplicate status."""
    c = outbox_t.c
    newest = conn.execute(
        select(c.state, c.payload)
        .where(c.repository == repository, c.key == key)
        .order_by(c.id.desc())
        .limit(1)
    ).first()
    return newest is not None and newest.state == "sent" and newest.payload == payload


def put(conn: Connection, repository: str, kind: str, key: str, payload: dict[str, Any]) -> int:
    """Queue a report (in the caller's transaction); replaces a pending one with the same
    key. Returns the entry's id."""
    c = outbox_t.c
    t = now()
    pending = conn.execute(
        select(c.id)
        .where(c.repository == repository, c.key == key, c.state == "pending")
        .order_by(c.id.desc())
        .limit(1)
    ).scalar()
    if pending is not None:  # it keeps its place and its wait (a backoff still holds)
        conn.execute(update(outbox_t).where(c.id == pending).values(payload=payload))
        return int(pending)
    row = {
        "repository": repository,
        "kind": kind,
        "key": key,
        "payload": payload,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": t,
        "created_at": t,
    }
    return int(conn.execute(insert(outbox_t).values(row).returning(c.id)).scalar_one())


def claim_due(store: Store, owner: str, lease_s: float, limit: int = 20) -> list[Entry]:
    """Lease due entries to ``owner``: pending ones whose time has come, and ``sending``
    ones whose sender died (lease expired). An entry waits while an older one with its
    key is unsent, so updates to one status or comment land in order."""
    c = outbox_t.c
    older = aliased(outbox_t)

    def _claim(conn: Connection) -> list[Entry]:
        t = now()
        blocked = exists().where(
            older.c.repository == c.repository,
            older.c.key == c.key,
            older.c.id < c.id,
            older.c.state.in_(("pending", "sending")),
        )
        due = and_(
            c.next_attempt_at <= t,
            (c.state == "pending") | ((c.state == "sending") & (c.lease_expires_at < t)),
        )
        q = select(c.id, c.state).where(due, ~blocked).order_by(c.id).limit(limit)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        found = conn.execute(q).all()
        if not found:
            return []
        ids = [row.id for row in found]
        resumed = {row.id for row in found if row.state == "sending"}
        conn.execute(
            update(outbox_t)
            .where(c.id.in_(ids))
            .values(
                state="sending",
                lease_owner=owner,
                lease_expires_at=t + timedelta(seconds=lease_s),
                attempts=c.attempts + 1,
            )
        )
        rows = conn.execute(select(outbox_t).where(c.id.in_(ids)).order_by(c.id)).all()
        return [replace(Entry.from_row(r), resumed=r.id in resumed) for r in rows]

    return store._write("claiming outbox entries", _claim)


def mark_sent(
    store: Store, entry_id: int, then: Callable[[Connection], object] | None = None
) -> None:
    """``entry_id`` reached GitHub; ``then`` runs in the same transaction (the ledger)."""
    c = outbox_t.c
    stmt = (
        update(outbox_t)
        .where(c.id == entry_id)
        .values(
            state="sent", sent_at=now(), lease_owner=None, lease_expires_at=None, last_error=None
        )
    )

    def _txn(conn: Connection) -> None:
        conn.execute(stmt)
        if then is not None:
            then(conn)

    store._write("marking a report sent", _txn)


def backoff_s(attempts: int) -> float:
    """Seconds before try ``attempts + 1``: exponential, capped, with +-20 % jitter."""
    base = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** max(0, attempts - 1))
    return base * random.uniform(0.8, 1.2)


def mark_retry(store: Store, entry: Entry, error: str, delay_s: float | None) -> datetime:
    """Back to ``pending`` after ``delay_s`` (default: backoff); returns when."""
    c = outbox_t.c
    when = now() + timedelta(seconds=delay_s if delay_s is not None else backoff_s(entry.attempts))
    stmt = (
        update(outbox_t)
        .where(c.id == entry.id)
        .values(
            state="pending",
            next_attempt_at=when,
            last_error=error[:1000],
            lease_owner=None,
            lease_expires_at=None,
        )
    )
    store._write("rescheduling a report", lambda conn: conn.execute(stmt))
    return when


def mark_dead(
    store: Store, entry_id: int, error: str, then: Callable[[Connection], object] | None = None
) -> None:
    c = outbox_t.c
    stmt = (
        update(outbox_t)
        .where(c.id == entry_id)
        .values(state="dead", last_error=error[:1000], lease_owner=None, lease_expires_at=None)
    )

    def _txn(conn: Connection) -> None:
        conn.execute(stmt)
        if then is not None:
            then(conn)

    store._write("dead-lettering a report", _txn)


def retry(store: Store, ids: list[int] | None = None) -> list[int]:
    """Dead letters (those of ``ids``, or all) back to ``pending``, due now, with their
    attempts reset; returns the ids re-sent."""
    c = outbox_t.c

    def _retry(conn: Connection) -> list[int]:
        cond = c.state == "dead"
        if ids is not None:
            cond = and_(cond, c.id.in_(ids))
        chosen = list(conn.execute(select(c.id).where(cond).order_by(c.id)).scalars())
        if chosen:
            conn.execute(
                update(outbox_t)
                .where(c.id.in_(chosen))
                .values(state="pending", attempts=0, next_attempt_at=now())
            )
        return [int(i) for i in chosen]

    return store._write("re-sending dead letters", _retry)


def list_entries(store: Store, *, states: list[str] | None = None, limit: int = 200) -> list[Entry]:
    c = outbox_t.c
    q = select(outbox_t).order_by(c.id.desc()).limit(limit)
    if states:
        q = q.where(c.state.in_(states))
    rows = store._read("listing the outbox", lambda conn: conn.execute(q).all())
    return [Entry.from_row(r) for r in rows]


def state_counts(store: Store) -> dict[str, int]:
    c = outbox_t.c
    q = select(c.state, func.count()).group_by(c.state)
    rows = store._read("counting the outbox", lambda conn: conn.execute(q).all())
    return {s: int(n) for s, n in rows}


# what the reporter created on GitHub ----------------------------------------------------


def get_object(store: Store, repository: str, kind: str, key: str) -> int | None:
    c = objects_t.c
    q = select(c.object_id).where(c.repository == repository, c.kind == kind, c.key == key)
    value = store._read("reading a GitHub object id", lambda conn: conn.execute(q).scalar())
    return int(value) if value is not None else None


def set_object(store: Store, repository: str, kind: str, key: str, object_id: int) -> None:
    c = objects_t.c

    def _set(conn: Connection) -> None:
        where = and_(c.repository == repository, c.kind == kind, c.key == key)
        if not conn.execute(update(objects_t).where(where).values(object_id=object_id)).rowcount:
            conn.execute(
                insert(objects_t).values(
                    repository=repository, kind=kind, key=key, object_id=object_id
                )
            )

    store._write("recording a GitHub object id", _set)
