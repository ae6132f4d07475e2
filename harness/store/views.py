"""Read-only views over runs and results for the dashboard (pages: :mod:`harness.dashboard`).

Every view reads a bounded amount: the newest runs per cell (``runs`` already holds each
run's counts), one page of runs of one cell, the outcomes of a page of runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, func, select

from harness.store.models import OpResult, Result, Run, RunRecord

runs_t = cast(Table, Run.__table__)
results_t = cast(Table, Result.__table__)
op_results_t = cast(Table, OpResult.__table__)


class Views:
    """The dashboard's reads, through one unit of work's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def newest_runs_per_cell(self, per_cell: int) -> dict[str, list[RunRecord]]:
        """Up to ``per_cell`` newest finished runs of every cell, newest first."""
        c = runs_t.c
        ranked = select(
            runs_t,
            func.row_number()
            .over(partition_by=c.cell, order_by=(c.started_at.desc(), c.id.desc()))
            .label("rn"),
        ).subquery()
        q = (
            select(ranked)
            .where(ranked.c.rn <= per_cell, ranked.c.status != "running")
            .order_by(ranked.c.cell, ranked.c.rn)
        )
        by_cell: dict[str, list[RunRecord]] = defaultdict(list)
        for row in self.conn.execute(q):
            by_cell[row.cell].append(RunRecord.from_row(row))
        return by_cell

    def cell_runs(self, cell: str, *, before_id: int | None, limit: int) -> list[RunRecord]:
        """Finished runs of ``cell``, newest first (older than run ``before_id``)."""
        c = runs_t.c
        q = select(runs_t).where(c.cell == cell, c.status != "running")
        if before_id is not None:
            q = q.where(c.id < before_id)
        q = q.order_by(c.started_at.desc(), c.id.desc()).limit(limit)
        return [RunRecord.from_row(r) for r in self.conn.execute(q).all()]

    def newest_run_per_cell_of(self, suite: str) -> list[RunRecord]:
        """The newest finished run of every cell of ``suite``, by backend then cell."""
        c = runs_t.c
        ranked = (
            select(
                runs_t,
                func.row_number()
                .over(partition_by=c.cell, order_by=(c.started_at.desc(), c.id.desc()))
                .label("rn"),
            )
            .where(c.suite == suite, c.status != "running")
            .subquery()
        )
        q = select(ranked).where(ranked.c.rn == 1).order_by(ranked.c.backend, ranked.c.cell)
        return [RunRecord.from_row(r) for r in self.conn.execute(q).all()]

    def outcomes(self, run_ids: list[int]) -> Iterator[tuple[int, str, str]]:
        """(run id, test id, outcome) of every result of ``run_ids``."""
        rc = results_t.c
        q = select(rc.run_id, rc.test_id, rc.outcome).where(rc.run_id.in_(run_ids))
        for run_id, test_id, outcome in self.conn.execute(q):
            yield int(run_id), str(test_id), str(outcome)

    def runs_at(self, sha: str) -> list[RunRecord]:
        """Every run at commit ``sha``, by cell, newest first within a cell."""
        c = runs_t.c
        q = select(runs_t).where(c.sha == sha).order_by(c.cell, c.started_at.desc(), c.id.desc())
        return [RunRecord.from_row(r) for r in self.conn.execute(q).all()]

    def pr_heads(self, limit: int) -> list[tuple[str, str | None, int, datetime]]:
        """(sha, ref, cells, newest start) of commits tested from pull-request refs."""
        c = runs_t.c
        q = (
            select(
                c.sha, func.max(c.ref), func.count(func.distinct(c.cell)), func.max(c.started_at)
            )
            .where(c.sha.is_not(None), c.ref.like("refs/pull/%"))
            .group_by(c.sha)
            .order_by(func.max(c.started_at).desc())
            .limit(limit)
        )
        return [(sha, ref, int(n), newest) for sha, ref, n, newest in self.conn.execute(q).all()]

    def newest_op_runs(self, suite: str) -> list[tuple[str, int]]:
        """(backend, run id) of each backend's newest run of ``suite`` with op results."""
        oc = op_results_t.c
        c = runs_t.c
        q = (
            select(c.backend, func.max(c.id))
            .where(c.suite == suite, select(oc.id).where(oc.run_id == c.id).exists())
            .group_by(c.backend)
        )
        return [(str(b), int(r)) for b, r in self.conn.execute(q).all()]

    def latest_finished(self, suite: str, backend: str) -> RunRecord | None:
        """The newest finished run of any variant of suite x backend."""
        c = runs_t.c
        q = (
            select(runs_t)
            .where(c.suite == suite, c.backend == backend, c.status != "running")
            .order_by(c.started_at.desc(), c.id.desc())
            .limit(1)
        )
        row = self.conn.execute(q).first()
        return RunRecord.from_row(row) if row is not None else None
