"""Table ``rate_limits``: per token or App installation, until when it waits and how
many limits in a row it met (the waiting policy: :mod:`harness.service.rate_limits`)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from harness.store.models import RateLimit
from harness.store.rows import now

limits_t = cast(Table, RateLimit.__table__)


class RateLimits:
    """The rate limits, read and written through one unit of work's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def known(self) -> dict[str, datetime]:
        """Every key with a run of limits, and until when it waits."""
        c = limits_t.c
        return {str(w): until for w, until in self.conn.execute(select(c.who, c.until)).all()}

    def hit(self, key: str) -> int:
        """Count one more limit of ``key`` in its run (locked until the unit of work
        ends on PostgreSQL: two workers limited at once count one after the other);
        how many in a row now."""
        c = limits_t.c
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        fresh = dialect.insert(limits_t).values(who=key, until=now(), hits=0)
        self.conn.execute(fresh.on_conflict_do_nothing(index_elements=["who"]))
        q = select(c.hits).where(c.who == key)
        if self.conn.dialect.name == "postgresql":
            q = q.with_for_update()
        n = int(self.conn.execute(q).scalar_one()) + 1
        self.conn.execute(update(limits_t).where(c.who == key).values(hits=n))
        return n

    def wait_until(self, key: str, until: datetime) -> None:
        self.conn.execute(update(limits_t).where(limits_t.c.who == key).values(until=until))

    def clear(self, key: str) -> None:
        self.conn.execute(delete(limits_t).where(limits_t.c.who == key))
