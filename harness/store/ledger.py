"""Table ``owed_reports``: the missing-result ledger, one row per pull-request head x
cell the service owes a report for (what the states mean and who moves them:
:mod:`harness.service.ledger`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from harness.store.models import OwedReport
from harness.store.rows import RowRecord, now

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


class Ledger:
    """The ledger, read and written through one unit of work's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def promise(
        self,
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
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
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
            self.conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["repository", "head_sha", "cell"], set_=keep
                )
            )

    def settle(self, repository: str, head_sha: str, cell: str, state: str = "queued") -> None:
        """The cell's outcome is decided: ``queued`` (its report is in the outbox), or
        ``reported`` where nothing is posted, ``superseded`` where nothing will be."""
        c = owed_t.c
        values: dict[str, Any] = {"state": state}
        if state != "queued":
            values["reported_at"] = now()
        self.conn.execute(
            update(owed_t)
            .where(
                c.repository == repository,
                c.head_sha == head_sha,
                c.cell == cell,
                c.state == "owed",
            )
            .values(**values)
        )

    def drop_unsettled(self, repository: str) -> int:
        """Nothing will be posted for ``repository``'s unsettled reports (its level no
        longer posts): ``dropped``, still counted as missing by the SLOs; how many."""
        c = owed_t.c
        result = self.conn.execute(
            update(owed_t)
            .where(c.repository == repository, c.state.in_(UNSETTLED))
            .values(state="dropped")
        )
        return int(result.rowcount)

    def _move(
        self,
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
        return int(self.conn.execute(update(owed_t).where(cond).values(**values)).rowcount)

    def accepted(self, repository: str, head_sha: str, context: str) -> int:
        """GitHub accepted the final report of ``context`` at ``head_sha`` (in the unit of
        work marking it sent): its rows are ``reported`` (how many)."""
        done = {"state": "reported", "reported_at": now()}
        return self._move(repository, head_sha, context, UNSETTLED, done)

    def refused(self, repository: str, head_sha: str, context: str) -> int:
        """GitHub refused the final report of ``context`` for good: its rows are ``owed``
        again (and become overdue) until the dead letter is re-sent."""
        return self._move(repository, head_sha, context, ("queued",), {"state": "owed"})

    def release(self, repository: str, pr_number: int, keep_sha: str | None, state: str) -> int:
        """Owed reports of the pull request for other heads than ``keep_sha`` (all when
        ``None``) are no longer owed (``superseded`` by a push, ``cancelled`` on close)."""
        c = owed_t.c
        cond = and_(c.repository == repository, c.pr_number == pr_number, c.state.in_(UNSETTLED))
        if keep_sha is not None:
            cond = and_(cond, c.head_sha != keep_sha)
        return int(self.conn.execute(update(owed_t).where(cond).values(state=state)).rowcount)

    def owed(self, *, overdue_only: bool = False, limit: int = 500) -> list[Owed]:
        c = owed_t.c
        q = select(owed_t).order_by(c.deadline_at).limit(limit)
        if overdue_only:
            q = q.where(c.state.in_(UNSETTLED), c.deadline_at < now())
        return [Owed.from_row(r) for r in self.conn.execute(q).all()]

    def flag_overdue(self) -> list[Owed]:
        """Overdue reports not flagged before: marks and returns them."""
        c = owed_t.c
        t = now()
        cond = and_(c.state.in_(UNSETTLED), c.deadline_at < t, c.flagged_at.is_(None))
        rows = self.conn.execute(select(owed_t).where(cond)).all()
        if rows:
            self.conn.execute(
                update(owed_t).where(c.id.in_([r.id for r in rows])).values(flagged_at=t)
            )
        return [Owed.from_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Rows per state, plus ``overdue``."""
        c = owed_t.c
        t = now()
        q = select(c.state, func.count()).group_by(c.state)
        out = {s: int(n) for s, n in self.conn.execute(q)}
        overdue = select(func.count()).where(c.state.in_(UNSETTLED), c.deadline_at < t)
        out["overdue"] = int(self.conn.execute(overdue).scalar_one())
        return out
