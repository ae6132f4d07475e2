"""Webhook deliveries in the store: recorded once per ``X-GitHub-Delivery`` id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Connection, Insert, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite

from harness.store.models import WebhookDelivery
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

    return store._write(f"recording {len(batch)} deliveries", _insert)


def delivery_counts(store: Store) -> dict[str, int]:
    """Stored deliveries per event name."""
    c = deliveries_t.c
    q = select(c.event, func.count()).group_by(c.event)
    rows = store._read("counting deliveries", lambda conn: conn.execute(q).all())
    return {event: int(n) for event, n in rows}


def get_delivery(store: Store, delivery_id: str) -> dict[str, object] | None:
    c = deliveries_t.c
    q = select(deliveries_t).where(c.delivery_id == delivery_id)
    row = store._read("reading a delivery", lambda conn: conn.execute(q).first())
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
    rows = store._read("listing deliveries", lambda conn: conn.execute(q).all())
    return [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r._mapping.items()}
        for r in rows
    ]
