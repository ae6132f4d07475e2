"""GitHub rate limits shared by every worker (table ``rate_limits``).

A limit is GitHub's answer to a token or an App installation, not to one worker: when
one worker meets it, every worker posting with that token or installation waits until
the time GitHub named. Limits in a row double the wait (up to an hour); a post that
succeeds ends the run of limits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Connection, Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from harness.service.queue import now
from harness.store import Store
from harness.store.models import RateLimit

limits_t = cast(Table, RateLimit.__table__)
#: the longest a token waits after rate limits in a row
CAP_S = 3600.0
#: the wait when GitHub names none
DEFAULT_S = 60.0


def who(installation: object) -> str:
    """The key of a token or installation: ``installation:<id>``, or ``token``."""
    return "token" if installation is None else f"installation:{installation}"


def known(store: Store) -> dict[str, datetime]:
    """Every token or installation with a run of limits, and until when it waits (a time
    already past: its next post decides whether the run goes on or ends)."""
    c = limits_t.c
    q = select(c.who, c.until)
    rows = store._read("reading rate limits", lambda conn: conn.execute(q).all())
    return {str(w): until for w, until in rows}


def record(store: Store, key: str, hint_s: float | None) -> float:
    """``key`` met a limit; the delay every entry of it waits: what GitHub said the
    first time, doubling while the limits keep coming (capped)."""
    c = limits_t.c

    def _txn(conn: Connection) -> float:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        fresh = dialect.insert(limits_t).values(who=key, until=now(), hits=0)
        conn.execute(fresh.on_conflict_do_nothing(index_elements=["who"]))
        q = select(c.hits).where(c.who == key)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update()  # two workers limited at once: one after the other
        n = int(conn.execute(q).scalar_one()) + 1
        base = hint_s if hint_s is not None else DEFAULT_S
        delay = float(min(CAP_S, max(base, base * 2 ** (n - 1))))
        until = now() + timedelta(seconds=delay)
        conn.execute(update(limits_t).where(c.who == key).values(until=until, hits=n))
        return delay

    return store._write("recording a rate limit", _txn)


def clear(store: Store, key: str) -> None:
    """A post with ``key`` succeeded: its run of limits is over."""
    stmt = delete(limits_t).where(limits_t.c.who == key)
    store._write("clearing a rate limit", lambda conn: conn.execute(stmt))
