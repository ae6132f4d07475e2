"""Webhook deliveries in the store: recorded once per ``X-GitHub-Delivery`` id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Insert, Row, Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from harness.store.models import WebhookDelivery

if TYPE_CHECKING:
    from harness.store.repository import Store

deliveries_t = cast(Table, WebhookDelivery.__table__)


@dataclass(frozen=True, slots=True)
class Delivery:
    delivery_id: str
    event: str
    action: str | None
    repository: str | None
    payload: str


def _row(delivery: Delivery, received_at: datetime) -> dict[str, object]:
    return {
        "delivery_id": delivery.delivery_id,
        "event": delivery.event,
        "action": delivery.action,
        "repository": delivery.repository,
        "received_at": received_at,
        "status": "received",
        "payload": delivery.payload.replace("\x00", "\ufffd"),
    }


def _insert_statement(store: Store) -> Insert:
    """One statement for every insert (compiled once and cached by SQLAlchemy)."""
    dialect = postgresql if store.engine.dialect.name == "postgresql" else sqlite
    stmt: Insert = dialect.insert(deliveries_t).on_conflict_do_nothing(
        index_elements=["delivery_id"]
    )
    return stmt


def record_delivery(store: Store, delivery: Delivery) -> bool:
    """Store ``delivery``; ``False`` when a delivery with its id was already stored (a
    redelivery: nothing is changed)."""
    return record_deliveries(store, [delivery])[0]


def record_deliveries(store: Store, batch: Sequence[Delivery]) -> list[bool]:
    """Store a batch in one transaction (group commit); per delivery, whether it was new
    (a repeated id, in the batch or before it, is not). One query finds the ids already
    stored, one ``executemany`` inserts the rest (a concurrent writer that got there
    first makes its row the one kept: ``ON CONFLICT DO NOTHING``)."""
    stmt = _insert_statement(store)
    now = datetime.now(UTC)
    c = deliveries_t.c
    ids = list({d.delivery_id for d in batch})

    def _insert(conn: Connection) -> list[bool]:
        known = set(conn.execute(select(c.delivery_id).where(c.delivery_id.in_(ids))).scalars())
        fresh: list[bool] = []
        rows = []
        for d in batch:
            new = d.delivery_id not in known
            fresh.append(new)
            if new:
                known.add(d.delivery_id)
                rows.append(_row(d, now))
        if rows:
            conn.execute(stmt, rows)
        return fresh

    with store.transaction(f"recording {len(batch)} deliveries") as tx:
        return _insert(tx.connection)


def delivery_counts(store: Store) -> dict[str, int]:
    """Stored deliveries per event name."""
    c = deliveries_t.c
    q = select(c.event, func.count()).group_by(c.event)
    with store.reading("counting deliveries") as r:
        rows = r.connection.execute(q).all()
    return {event: int(n) for event, n in rows}


def get_delivery(store: Store, delivery_id: str) -> dict[str, object] | None:
    c = deliveries_t.c
    q = select(deliveries_t).where(c.delivery_id == delivery_id)
    with store.reading("reading a delivery") as r:
        row = r.connection.execute(q).first()
    return dict(row._mapping) if row is not None else None


def list_deliveries(
    store: Store, *, status: str | None = None, limit: int = 200
) -> list[dict[str, object]]:
    """Newest first, without payloads."""
    c = deliveries_t.c
    cols = [c.delivery_id, c.event, c.action, c.repository, c.received_at, c.status, c.detail]
    q = select(*cols).order_by(c.id.desc()).limit(limit)
    if status:
        q = q.where(c.status == status)
    with store.reading("listing deliveries") as r:
        rows = r.connection.execute(q).all()
    return [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r._mapping.items()}
        for r in rows
    ]


class Deliveries:
    """Stored deliveries, read and written through one unit of work's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def next_received(self) -> Row[Any] | None:
        """The oldest delivery not applied yet (locked, skipping ones another worker
        holds, on PostgreSQL), or None."""
        c = deliveries_t.c
        query = select(deliveries_t).where(c.status == "received").order_by(c.id).limit(1)
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return self.conn.execute(query).first()

    def mark(self, row_id: int, status: str, detail: str) -> None:
        """What applying delivery row ``row_id`` came to: ``handled``, ``ignored``,
        ``error``, with why."""
        self.conn.execute(
            update(deliveries_t)
            .where(deliveries_t.c.id == row_id)
            .values(status=status, detail=detail[:1000])
        )

    def stored(self, delivery_ids: Sequence[str]) -> set[str]:
        """Which of ``delivery_ids`` are stored."""
        if not delivery_ids:
            return set()
        c = deliveries_t.c
        q = select(c.delivery_id).where(c.delivery_id.in_(list(delivery_ids)))
        return {str(r) for r in self.conn.execute(q).scalars().all()}
