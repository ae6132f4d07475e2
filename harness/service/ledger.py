"""The missing-result ledger: every report the service owes (pull-request head x cell),
with a deadline.

A vendor CI that silently stops reporting is the top complaint about third-party CI. So
when a cell is queued for a pull request, a row is *promised* here (``owed``). When the
cell is done and its report is in the outbox the row is ``queued``; only when GitHub has
accepted the final status or check run of its context (the sender marks the outbox entry
sent) is it ``reported``. A report GitHub refuses for good (a dead letter) puts the row
back to ``owed``. A newer head marks it ``superseded``, a closed pull request
``cancelled``. Anything ``owed`` or ``queued`` after its deadline is overdue:
``GET /api/ledger?overdue=1`` lists it, ``/metrics`` counts it and the worker logs each
one once (``flagged_at``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from harness.service.queue import now
from harness.store import Store
from harness.store.models import OwedReport
from harness.store.rows import RowRecord

owed_t = cast(Table, OwedReport.__table__)
#: promised and not yet accepted by GitHub: these become overdue
UNSETTLED = ("owed", "queued")


@dataclass(frozen=True, slots=True)
class Owed(RowRecord):
    id: int
    repository: str
    pr_number: int | None
    head_sha: str
    cell: str
    context: str
    state: str
    promised_at: datetime
    deadline_at: datetime
    reported_at: datetime | None
    flagged_at: datetime | None

    def overdue(self, at: datetime) -> bool:
        return self.state in UNSETTLED and self.deadline_at < at

    def as_json(self, at: datetime | None = None) -> dict[str, Any]:
        out = RowRecord.as_json(self)  # slots dataclasses break zero-argument super()
        out["overdue"] = self.overdue(at or now())
        return out


def promise(
    conn: Connection,
    *,
    repository: str,
    pr_number: int | None,
    head_sha: str,
    cells: Sequence[tuple[str, str]],
    deadline_s: float,
) -> None:
    """Owe a report for each (cell, context) at this head; a promise made again (a
    recheck) starts a new deadline."""
    t = now()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    for cell, context in cells:
        row = {
            "repository": repository,
            "pr_number": pr_number,
            "head_sha": head_sha,
            "cell": cell,
            "context": context,
            "state": "owed",
            "promised_at": t,
            "deadline_at": t + timedelta(seconds=deadline_s),
            "reported_at": None,
            "flagged_at": None,
        }
        stmt = dialect.insert(owed_t).values(**row)
        keep = {
            k: stmt.excluded[k]
            for k in ("state", "promised_at", "deadline_at", "reported_at", "flagged_at")
        }
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["repository", "head_sha", "cell"], set_=keep)
        )


def settle(
    conn: Connection, repository: str, head_sha: str, cell: str, state: str = "queued"
) -> None:
    """The cell's outcome is decided: ``queued`` (its report is in the outbox), or
    ``reported`` where nothing is posted, ``superseded`` where nothing will be."""
    c = owed_t.c
    values: dict[str, Any] = {"state": state}
    if state != "queued":
        values["reported_at"] = now()
    conn.execute(
        update(owed_t)
        .where(
            c.repository == repository, c.head_sha == head_sha, c.cell == cell, c.state == "owed"
        )
        .values(**values)
    )


def _move(
    conn: Connection,
    repository: str,
    head_sha: str,
    context: str,
    states: Sequence[str],
    values: dict[str, Any],
) -> int:
    c = owed_t.c
    cond = and_(
        c.repository == repository,
        c.head_sha == head_sha,
        c.context == context,
        c.state.in_(states),
    )
    return int(conn.execute(update(owed_t).where(cond).values(**values)).rowcount)


def accepted(conn: Connection, repository: str, head_sha: str, context: str) -> int:
    """GitHub accepted the final report of ``context`` at ``head_sha`` (in the caller's
    transaction, the one marking it sent): its rows are ``reported`` (how many)."""
    done = {"state": "reported", "reported_at": now()}
    return _move(conn, repository, head_sha, context, UNSETTLED, done)


def refused(conn: Connection, repository: str, head_sha: str, context: str) -> int:
    """GitHub refused the final report of ``context`` for good (in the caller's
    transaction): its rows are ``owed`` again (and become overdue) until the dead letter
    is re-sent."""
    return _move(conn, repository, head_sha, context, ("queued",), {"state": "owed"})


def release(
    conn: Connection, repository: str, pr_number: int, keep_sha: str | None, state: str
) -> int:
    """Owed reports of the pull request for other heads than ``keep_sha`` (all when
    ``None``) are no longer owed (``superseded`` by a push, ``cancelled`` on close)."""
    c = owed_t.c
    cond = and_(c.repository == repository, c.pr_number == pr_number, c.state.in_(UNSETTLED))
    if keep_sha is not None:
        cond = and_(cond, c.head_sha != keep_sha)
    return int(conn.execute(update(owed_t).where(cond).values(state=state)).rowcount)


def list_owed(store: Store, *, overdue_only: bool = False, limit: int = 500) -> list[Owed]:
    c = owed_t.c
    q = select(owed_t).order_by(c.deadline_at).limit(limit)
    if overdue_only:
        q = q.where(c.state.in_(UNSETTLED), c.deadline_at < now())
    rows = store._read("reading the ledger", lambda conn: conn.execute(q).all())
    return [Owed.from_row(r) for r in rows]


def flag_overdue(store: Store) -> list[Owed]:
    """Overdue reports not flagged before: marks and returns them (to be logged once)."""
    c = owed_t.c

    def _flag(conn: Connection) -> list[Owed]:
        t = now()
        cond = and_(c.state.in_(UNSETTLED), c.deadline_at < t, c.flagged_at.is_(None))
        rows = conn.execute(select(owed_t).where(cond)).all()
        if rows:
            conn.execute(update(owed_t).where(c.id.in_([r.id for r in rows])).values(flagged_at=t))
        return [Owed.from_row(r) for r in rows]

    return store._write("flagging overdue reports", _flag)


def counts(store: Store) -> dict[str, int]:
    """Rows per state, plus ``overdue``."""
    c = owed_t.c
    t = now()

    def _count(conn: Connection) -> dict[str, int]:
        out = {s: int(n) for s, n in conn.execute(select(c.state, func.count()).group_by(c.state))}
        out["overdue"] = int(
            conn.execute(
                select(func.count()).where(c.state.in_(UNSETTLED), c.deadline_at < t)
            ).scalar_one()
        )
        return out

    return store._read("counting the ledger", _count)
