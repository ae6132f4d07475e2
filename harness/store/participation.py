"""Tables ``participation`` and ``participation_changes`` (each upstream's level as the
service runs it, and its history), and the windowed reads its SLOs are computed from:
the ledger (report latency, missing reports) and the runs (infrastructure errors, reds
that a later run of the same cell and commit turned green)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, exists, func, insert, select, update
from sqlalchemy.orm import aliased

from harness.store.models import OwedReport, Participation, ParticipationChange, Run
from harness.store.rows import RowRecord

part_t = cast(Table, Participation.__table__)
changes_t = cast(Table, ParticipationChange.__table__)
owed_t = cast(Table, OwedReport.__table__)
runs_t = cast(Table, Run.__table__)

#: run statuses that are the infrastructure's fault, not the tests'
INFRA_STATUSES = ("error", "crashed", "timeout")
#: run statuses of a run that finished (a cancelled one says nothing)
FINISHED = ("passed", "failed", "error", "crashed", "timeout")


@dataclass(frozen=True, slots=True)
class ParticipationRow(RowRecord):
    repository: str
    level: str
    pinned: bool
    reason: str
    changed_at: datetime
    slo: dict[str, Any] | None
    evaluated_at: datetime | None


@dataclass(frozen=True, slots=True)
class ChangeRow(RowRecord):
    id: int
    repository: str
    from_level: str | None
    to_level: str
    reason: str
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class LedgerWindow:
    """The reports owed in a window whose deadline had passed at its end."""

    due: int
    #: of those, not accepted by their deadline
    missing: int
    #: seconds from promise to acceptance, of the reported ones
    latencies: list[float]


@dataclass(frozen=True, slots=True)
class RunWindow:
    finished: int
    infra: int
    #: pull-request runs that failed
    reds: int
    #: of those, a later run of the same cell at the same commit passed
    false_reds: int


class Participations:
    """Levels, their history and the SLOs' windowed reads, through one unit of work."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, repository: str) -> ParticipationRow | None:
        row = self.conn.execute(select(part_t).where(part_t.c.repository == repository)).first()
        return ParticipationRow.from_row(row) if row is not None else None

    def all(self) -> list[ParticipationRow]:
        q = select(part_t).order_by(part_t.c.repository)
        return [ParticipationRow.from_row(r) for r in self.conn.execute(q)]

    def set_level(
        self,
        repository: str,
        level: str,
        *,
        reason: str,
        by: str,
        at: datetime,
        pinned: bool | None = None,
    ) -> bool:
        """Move ``repository`` to ``level`` (``pinned``: set or clear the pin; ``None``
        keeps it) and record the change; whether anything changed."""
        known = self.get(repository)
        pin = known.pinned if pinned is None and known is not None else bool(pinned)
        if known is not None and known.level == level and known.pinned == pin:
            return False
        values = {"level": level, "pinned": pin, "reason": reason, "changed_at": at}
        if known is None:
            self.conn.execute(insert(part_t).values(repository=repository, **values))
        else:
            self.conn.execute(
                update(part_t).where(part_t.c.repository == repository).values(**values)
            )
        self.conn.execute(
            insert(changes_t).values(
                repository=repository,
                from_level=known.level if known is not None else None,
                to_level=level,
                reason=reason,
                by=by,
                at=at,
            )
        )
        return True

    def record_evaluation(self, repository: str, slo: dict[str, Any], at: datetime) -> None:
        """Keep the last evaluation (the row must exist)."""
        self.conn.execute(
            update(part_t).where(part_t.c.repository == repository).values(slo=slo, evaluated_at=at)
        )

    def changes(self, repository: str | None = None, limit: int = 100) -> list[ChangeRow]:
        """Newest first."""
        q = select(changes_t).order_by(changes_t.c.id.desc()).limit(limit)
        if repository is not None:
            q = q.where(changes_t.c.repository == repository)
        return [ChangeRow.from_row(r) for r in self.conn.execute(q)]

    # the SLOs' reads ------------------------------------------------------------------

    def ledger_window(self, repository: str, since: datetime, until: datetime) -> LedgerWindow:
        """Reports promised in [since, until) whose deadline passed by ``until``
        (superseded and cancelled ones owe nothing)."""
        c = owed_t.c
        rows = self.conn.execute(
            select(c.state, c.promised_at, c.deadline_at, c.reported_at).where(
                c.repository == repository,
                c.promised_at >= since,
                c.promised_at < until,
                c.deadline_at <= until,
                c.state.not_in(("superseded", "cancelled")),
            )
        ).all()
        missing, latencies = 0, []
        for _state, promised, deadline, reported in rows:
            if reported is None or _aware(reported) > _aware(deadline):
                missing += 1
            if reported is not None:
                latencies.append((_aware(reported) - _aware(promised)).total_seconds())
        return LedgerWindow(due=len(rows), missing=missing, latencies=sorted(latencies))

    def run_window(self, repository: str, since: datetime, until: datetime) -> RunWindow:
        """The upstream's runs started in [since, until) (bisection probes included:
        they are runs the infrastructure made)."""
        r = runs_t.c
        where = (r.upstream == repository, r.started_at >= since, r.started_at < until)
        counts: dict[str, int] = {
            str(status): int(n)
            for status, n in self.conn.execute(
                select(r.status, func.count())
                .where(*where, r.status.in_(FINISHED))
                .group_by(r.status)
            ).all()
        }
        later = aliased(runs_t)
        greened = exists().where(
            and_(
                later.c.cell == r.cell,
                later.c.sha == r.sha,
                later.c.id > r.id,
                later.c.status == "passed",
            )
        )
        reds = and_(*where, r.status == "failed", r.is_default_branch.is_not(True))
        n_reds = int(self.conn.execute(select(func.count()).where(reds)).scalar_one())
        n_false = int(self.conn.execute(select(func.count()).where(reds, greened)).scalar_one())
        return RunWindow(
            finished=sum(counts.values()),
            infra=sum(counts.get(s, 0) for s in INFRA_STATUSES),
            reds=n_reds,
            false_reds=n_false,
        )

    def latest_default_runs(self, repository: str, since: datetime, until: datetime) -> list[int]:
        """Per cell of ``repository``, its newest default-branch run in [since, until)
        that ran its tests (passed or failed)."""
        r = runs_t.c
        q = (
            select(func.max(r.id))
            .where(
                r.upstream == repository,
                r.is_default_branch.is_(True),
                r.status.in_(("passed", "failed")),
                r.started_at >= since,
                r.started_at < until,
            )
            .group_by(r.cell)
        )
        return sorted(int(i) for i in self.conn.execute(q).scalars() if i is not None)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
