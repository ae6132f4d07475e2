"""Webhook deliveries in the store: recorded once per ``X-GitHub-Delivery`` id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Connection, Table, func, select
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


def record_delivery(store: Store, delivery: Delivery) -> bool:
    """Store ``delivery``; ``False`` when a delivery with its id was already stored (a
    redelivery: nothing is changed)."""
    dialect = postgresql if store.engine.dialect.name == "postgresql" else sqlite
    row = {
        "delivery_id": delivery.delivery_id,
        "event": delivery.event,
        "action": delivery.action,
        "repository": delivery.repository,
        "received_at": datetime.now(UTC),
        "status": "received",
        "payload": delivery.payload.replace("\x00", "\ufffd"),
    }
    stmt = (
        dialect.insert(deliveries_t)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["delivery_id"])
    )

    def _insert(conn: Connection) -> bool:
        return bool(conn.execute(stmt).rowcount)

    return store._write(f"recording delivery {delivery.delivery_id}", _insert)


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
