"""Tables ``outbox`` (reports waiting until GitHub has them) and ``github_objects``
(what the reporter created there: comment ids). The delivery policy (order per key,
backoff, dead letters) is :mod:`harness.service.outbox`'s."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, exists, func, insert, select, update
from sqlalchemy.orm import aliased

from harness.store.models import GithubObject, OutboxEntry
from harness.store.rows import RowRecord, now

outbox_t = cast(Table, OutboxEntry.__table__)
objects_t = cast(Table, GithubObject.__table__)


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


class Outbox:
    """The outbox, read and written through one unit of work's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def already_sent(self, repository: str, key: str, payload: dict[str, Any]) -> bool:
        """Whether the newest entry with ``key`` is sent and says exactly ``payload``."""
        c = outbox_t.c
        newest = self.conn.execute(
            select(c.state, c.payload)
            .where(c.repository == repository, c.key == key)
            .order_by(c.id.desc())
            .limit(1)
        ).first()
        return newest is not None and newest.state == "sent" and newest.payload == payload

    def exists(self, repository: str, key: str) -> bool:
        """Whether any entry with ``key`` was ever queued (sent, pending or dead)."""
        c = outbox_t.c
        q = select(c.id).where(c.repository == repository, c.key == key).limit(1)
        return self.conn.execute(q).first() is not None

    def put(self, repository: str, kind: str, key: str, payload: dict[str, Any]) -> int:
        """Queue a report; replaces a pending one with the same key (it keeps its place
        and its wait: a backoff still holds). Returns the entry's id."""
        c = outbox_t.c
        t = now()
        pending = self.conn.execute(
            select(c.id)
            .where(c.repository == repository, c.key == key, c.state == "pending")
            .order_by(c.id.desc())
            .limit(1)
        ).scalar()
        if pending is not None:
            self.conn.execute(update(outbox_t).where(c.id == pending).values(payload=payload))
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
        return int(self.conn.execute(insert(outbox_t).values(row).returning(c.id)).scalar_one())

    def claim_due(self, owner: str, lease_s: float, limit: int = 20) -> list[Entry]:
        """Lease due entries to ``owner``: pending ones whose time has come, and
        ``sending`` ones whose sender died (lease expired), none while an older entry
        with its key is unsent."""
        c = outbox_t.c
        older = aliased(outbox_t)
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
        if self.conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        found = self.conn.execute(q).all()
        if not found:
            return []
        ids = [row.id for row in found]
        resumed = {row.id for row in found if row.state == "sending"}
        self.conn.execute(
            update(outbox_t)
            .where(c.id.in_(ids))
            .values(
                state="sending",
                lease_owner=owner,
                lease_expires_at=t + timedelta(seconds=lease_s),
                attempts=c.attempts + 1,
            )
        )
        rows = self.conn.execute(select(outbox_t).where(c.id.in_(ids)).order_by(c.id)).all()
        return [replace(Entry.from_row(r), resumed=r.id in resumed) for r in rows]

    def mark_sent(self, entry_id: int) -> None:
        c = outbox_t.c
        values = {"state": "sent", "sent_at": now(), "last_error": None}
        self.conn.execute(
            update(outbox_t)
            .where(c.id == entry_id)
            .values(**values, lease_owner=None, lease_expires_at=None)
        )

    def mark_retry(self, entry_id: int, when: datetime, error: str) -> None:
        """Back to ``pending``, due at ``when``."""
        c = outbox_t.c
        self.conn.execute(
            update(outbox_t)
            .where(c.id == entry_id)
            .values(
                state="pending",
                next_attempt_at=when,
                last_error=error[:1000],
                lease_owner=None,
                lease_expires_at=None,
            )
        )

    def mark_dead(self, entry_id: int, error: str) -> None:
        c = outbox_t.c
        self.conn.execute(
            update(outbox_t)
            .where(c.id == entry_id)
            .values(state="dead", last_error=error[:1000], lease_owner=None, lease_expires_at=None)
        )

    def drop_pending(self, repository: str, kinds: Sequence[str], why: str) -> int:
        """Dead-letter ``repository``'s pending entries of ``kinds`` (not being sent right
        now) with ``why``; how many."""
        c = outbox_t.c
        result = self.conn.execute(
            update(outbox_t)
            .where(c.repository == repository, c.state == "pending", c.kind.in_(list(kinds)))
            .values(state="dead", last_error=why[:1000])
        )
        return int(result.rowcount)

    def retry(self, ids: list[int] | None = None) -> list[int]:
        """Dead letters (those of ``ids``, or all) back to ``pending``, due now, with
        their attempts reset; returns the ids re-sent."""
        c = outbox_t.c
        cond = c.state == "dead"
        if ids is not None:
            cond = and_(cond, c.id.in_(ids))
        chosen = list(self.conn.execute(select(c.id).where(cond).order_by(c.id)).scalars())
        if chosen:
            self.conn.execute(
                update(outbox_t)
                .where(c.id.in_(chosen))
                .values(state="pending", attempts=0, next_attempt_at=now())
            )
        return [int(i) for i in chosen]

    def entries(self, *, states: list[str] | None = None, limit: int = 200) -> list[Entry]:
        c = outbox_t.c
        q = select(outbox_t).order_by(c.id.desc()).limit(limit)
        if states:
            q = q.where(c.state.in_(states))
        return [Entry.from_row(r) for r in self.conn.execute(q).all()]

    def state_counts(self) -> dict[str, int]:
        c = outbox_t.c
        q = select(c.state, func.count()).group_by(c.state)
        return {s: int(n) for s, n in self.conn.execute(q).all()}

    # what the reporter created on GitHub ------------------------------------------------

    def get_object(self, repository: str, kind: str, key: str) -> int | None:
        c = objects_t.c
        q = select(c.object_id).where(c.repository == repository, c.kind == kind, c.key == key)
        value = self.conn.execute(q).scalar()
        return int(value) if value is not None else None

    def set_object(self, repository: str, kind: str, key: str, object_id: int) -> None:
        c = objects_t.c
        where = and_(c.repository == repository, c.kind == kind, c.key == key)
        if not self.conn.execute(
            update(objects_t).where(where).values(object_id=object_id)
        ).rowcount:
            self.conn.execute(
                insert(objects_t).values(
                    repository=repository, kind=kind, key=key, object_id=object_id
                )
            )
