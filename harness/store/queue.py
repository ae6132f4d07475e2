"""Tables ``queue`` and ``jobs``: one row per cell to run at one commit, grouped in jobs.

States: ``held`` (an untrusted pull request waits for approval), ``queued``, ``leased``
(a worker runs it) or ``dispatched`` (sent to GitHub Actions), then ``done``,
``failed`` or ``superseded``. Every change two workers could race for is a
compare-and-set on the state (and the lease owner) that says whether it happened. What
the states mean for the service, and when they change: :mod:`harness.service.queue`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, func, insert, select, update

from harness.store.models import Job, QueueItem, Run
from harness.store.rows import RowRecord, new_job_id, now

queue_t = cast(Table, QueueItem.__table__)
jobs_t = cast(Table, Job.__table__)
runs_t = cast(Table, Run.__table__)

ACTIVE = ("held", "queued", "leased", "dispatched")
FINISHED = ("done", "failed", "superseded")
#: pull requests before baseline runs
PRIORITY_PR, PRIORITY_BASELINE = 0, 10


@dataclass(frozen=True, slots=True)
class NewItem:
    repository: str
    head_sha: str
    ref: str
    cell: str
    trigger: str
    pr_number: int | None = None
    held: bool = False
    priority: int = PRIORITY_PR
    job_id: str | None = None
    delivery_id: str | None = None
    detail: str | None = None
    max_attempts: int = 3
    #: the author is trusted (an approved stranger's code is not)
    trusted: bool = True


@dataclass(frozen=True, slots=True)
class Item(RowRecord):
    """One row of ``queue``, detached."""

    id: int
    job_id: str | None
    repository: str
    pr_number: int | None
    head_sha: str
    ref: str
    cell: str
    trigger: str
    state: str
    priority: int
    attempts: int
    max_attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    heartbeat_at: datetime | None
    not_before: datetime
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    run_id: int | None
    detail: str | None
    delivery_id: str | None
    trusted: bool


class Queue:
    """The queue and its jobs, read and written through one unit of work's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # adding -------------------------------------------------------------------------

    def enqueue(self, items: Sequence[NewItem]) -> list[int]:
        """Insert ``items``; their ids, in order."""
        ids = []
        t = now()
        for it in items:
            row = {
                "job_id": it.job_id,
                "repository": it.repository,
                "pr_number": it.pr_number,
                "head_sha": it.head_sha,
                "ref": it.ref,
                "cell": it.cell,
                "trigger": it.trigger,
                "state": "held" if it.held else "queued",
                "priority": it.priority,
                "attempts": 0,
                "max_attempts": it.max_attempts,
                "not_before": t,
                "created_at": t,
                "detail": it.detail,
                "delivery_id": it.delivery_id,
                "trusted": it.trusted,
            }
            stmt = insert(queue_t).values(row).returning(queue_t.c.id)
            ids.append(int(self.conn.execute(stmt).scalar_one()))
        return ids

    def create_job(self, trigger: str, cells: Sequence[str], ref: str | None) -> str:
        """A job row grouping the items about to be queued."""
        job_id = new_job_id()
        self.conn.execute(
            insert(jobs_t).values(
                id=job_id,
                trigger=trigger,
                pattern=" ".join(cells)[:10_000],
                ref=ref,
                created_at=now(),
                status="queued",
            )
        )
        return job_id

    def finish_job_if_done(self, job_id: str) -> bool:
        """The job is ``done`` once none of its items is active; whether it is."""
        c = queue_t.c
        left = self.conn.execute(
            select(func.count()).where(c.job_id == job_id, c.state.in_(ACTIVE))
        ).scalar_one()
        if left:
            return False
        self.conn.execute(update(jobs_t).where(jobs_t.c.id == job_id).values(status="done"))
        return True

    # state changes ------------------------------------------------------------------

    def release_held(self, repository: str, pr_number: int, head_sha: str) -> int:
        """Approval: the held items of this head are queued; how many."""
        c = queue_t.c
        stmt = (
            update(queue_t)
            .where(
                c.repository == repository,
                c.pr_number == pr_number,
                c.head_sha == head_sha,
                c.state == "held",
            )
            .values(state="queued", not_before=now(), detail=None)
        )
        return int(self.conn.execute(stmt).rowcount)

    def supersede(
        self, repository: str, pr_number: int, keep_sha: str | None, why: str
    ) -> list[Item]:
        """Items of the pull request still waiting or running for another head than
        ``keep_sha`` (all of them when ``None``) become ``superseded``; returns them."""
        c = queue_t.c
        cond = and_(c.repository == repository, c.pr_number == pr_number, c.state.in_(ACTIVE))
        if keep_sha is not None:
            cond = and_(cond, c.head_sha != keep_sha)
        rows = self.conn.execute(select(queue_t).where(cond)).all()
        if rows:
            ids = [r.id for r in rows]
            self.conn.execute(
                update(queue_t)
                .where(c.id.in_(ids))
                .values(state="superseded", finished_at=now(), detail=why[:500])
            )
        return [Item.from_row(r) for r in rows]

    def expire_leases(self) -> tuple[list[Item], list[Item]]:
        """Leases past their expiry: the item is queued again, or ``failed`` once it used
        its attempts (the run a lost worker left ``running`` is ``crashed``). Returns
        (requeued, failed) items."""
        c = queue_t.c
        t = now()
        rows = self.conn.execute(
            select(queue_t).where(c.state == "leased", c.lease_expires_at < t)
        ).all()
        requeued: list[Item] = []
        failed: list[Item] = []
        for r in rows:
            lost = f"worker {r.lease_owner} stopped heartbeating (attempt {r.attempts})"
            if r.attempts >= r.max_attempts:
                values: dict[str, Any] = {
                    "state": "failed",
                    "finished_at": t,
                    "detail": f"{lost}; gave up after {r.attempts} attempts",
                }
            else:
                values = {"state": "queued", "not_before": t, "detail": f"{lost}; retrying"}
            values |= {"lease_owner": None, "lease_expires_at": None}
            done = self.conn.execute(
                update(queue_t).where(c.id == r.id, c.state == "leased").values(**values)
            ).rowcount
            if done:
                self._crash_orphan_runs(r, lost)
                row = self.conn.execute(select(queue_t).where(c.id == r.id)).one()
                (failed if values["state"] == "failed" else requeued).append(Item.from_row(row))
        return requeued, failed

    def _crash_orphan_runs(self, item: Any, why: str) -> None:
        """The run a lost worker left ``running`` is recorded as ``crashed`` with why, so
        the history shows what happened instead of a run that never ends."""
        if item.job_id is None or item.started_at is None:
            return
        rc = runs_t.c
        self.conn.execute(
            update(runs_t)
            .where(
                rc.job_id == item.job_id,
                rc.cell == item.cell,
                rc.status == "running",
                rc.started_at >= item.started_at,
            )
            .values(status="crashed", reason=f"{why}: the run was cut short", finished_at=now())
        )

    def claim(self, owner: str, lease_s: float) -> Item | None:
        """Lease the next queued item (priority, then age) to ``owner`` for ``lease_s``
        seconds, or ``None``."""
        c = queue_t.c
        t = now()
        q = (
            select(c.id)
            .where(c.state == "queued", c.not_before <= t)
            .order_by(c.priority, c.id)
            .limit(1)
        )
        if self.conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        item_id = self.conn.execute(q).scalar()
        if item_id is None:
            return None
        stmt = (
            update(queue_t)
            .where(c.id == item_id, c.state == "queued")
            .values(
                state="leased",
                attempts=c.attempts + 1,
                lease_owner=owner,
                lease_expires_at=t + timedelta(seconds=lease_s),
                heartbeat_at=t,
                started_at=func.coalesce(c.started_at, t),
            )
        )
        if not self.conn.execute(stmt).rowcount:
            return None
        return Item.from_row(self.conn.execute(select(queue_t).where(c.id == item_id)).one())

    def heartbeat(self, item_id: int, owner: str, lease_s: float) -> bool:
        """Extend ``owner``'s lease; ``False`` when it no longer holds it."""
        c = queue_t.c
        t = now()
        stmt = (
            update(queue_t)
            .where(c.id == item_id, c.state == "leased", c.lease_owner == owner)
            .values(heartbeat_at=t, lease_expires_at=t + timedelta(seconds=lease_s))
        )
        return bool(self.conn.execute(stmt).rowcount)

    def finish(
        self,
        item_id: int,
        owner: str,
        *,
        state: str,
        run_id: int | None = None,
        detail: str | None = None,
    ) -> bool:
        """Close ``owner``'s leased item; ``False`` when the lease was lost (the caller
        must then not report)."""
        c = queue_t.c
        stmt = (
            update(queue_t)
            .where(c.id == item_id, c.state == "leased", c.lease_owner == owner)
            .values(
                state=state,
                run_id=run_id,
                detail=detail,
                finished_at=now(),
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        return bool(self.conn.execute(stmt).rowcount)

    def mark_dispatched(self, item_id: int, owner: str, detail: str) -> bool:
        """``owner``'s leased item was sent to GitHub Actions: no lease any more, it
        waits for its results; ``False`` when the lease was lost."""
        c = queue_t.c
        stmt = (
            update(queue_t)
            .where(c.id == item_id, c.state == "leased", c.lease_owner == owner)
            .values(state="dispatched", lease_owner=None, lease_expires_at=None, detail=detail)
        )
        return bool(self.conn.execute(stmt).rowcount)

    def close_dispatched(self, item_id: int, run_id: int) -> bool:
        """A dispatched item's results are in as ``run_id``: it is ``done``; ``False``
        when it is no longer dispatched (superseded, or answered already)."""
        c = queue_t.c
        stmt = (
            update(queue_t)
            .where(c.id == item_id, c.state == "dispatched")
            .values(state="done", run_id=run_id, finished_at=now(), detail=None)
        )
        return bool(self.conn.execute(stmt).rowcount)

    # reading ------------------------------------------------------------------------

    def get(self, item_id: int) -> Item | None:
        row = self.conn.execute(select(queue_t).where(queue_t.c.id == item_id)).first()
        return Item.from_row(row) if row is not None else None

    def items_for_head(self, repository: str, head_sha: str) -> list[Item]:
        """The newest item per cell for this commit (a recheck adds newer ones)."""
        c = queue_t.c
        rows = self.conn.execute(
            select(queue_t)
            .where(c.repository == repository, c.head_sha == head_sha, c.state != "superseded")
            .order_by(c.id)
        ).all()
        newest: dict[str, Item] = {}
        for r in rows:
            newest[r.cell] = Item.from_row(r)
        return list(newest.values())

    def active_cells(self, repository: str, head_sha: str) -> set[str]:
        c = queue_t.c
        rows = self.conn.execute(
            select(c.cell).where(
                c.repository == repository,
                c.head_sha == head_sha,
                c.state.in_(("queued", "leased", "dispatched")),
            )
        ).all()
        return {r.cell for r in rows}

    def baseline_asked(self, repository: str, cell: str, sha: str, triggers: Sequence[str]) -> bool:
        """Whether an item of ``cell`` at ``sha`` with one of ``triggers`` is queued,
        running or done."""
        c = queue_t.c
        asked = self.conn.execute(
            select(c.id)
            .where(
                c.repository == repository,
                c.cell == cell,
                c.head_sha == sha,
                c.trigger.in_(list(triggers)),
                c.state.in_((*ACTIVE, "done")),
            )
            .limit(1)
        ).scalar()
        return asked is not None

    def items(self, *, states: Sequence[str] | None = None, limit: int = 200) -> list[Item]:
        c = queue_t.c
        q = select(queue_t).order_by(c.id.desc()).limit(limit)
        if states:
            q = q.where(c.state.in_(list(states)))
        return [Item.from_row(r) for r in self.conn.execute(q).all()]

    def stalled(self, after_s: float) -> int:
        """Queued items due for over ``after_s`` while no leased item has heartbeated in
        that time (0 when the queue moves)."""
        c = queue_t.c
        since = now() - timedelta(seconds=after_s)
        waiting = self.conn.execute(
            select(func.count()).where(c.state == "queued", c.not_before < since)
        ).scalar_one()
        if not waiting:
            return 0
        beating = self.conn.execute(
            select(func.count()).where(
                c.state == "leased", func.coalesce(c.heartbeat_at, c.started_at) >= since
            )
        ).scalar_one()
        return 0 if beating else int(waiting)

    def state_counts(self) -> dict[str, int]:
        c = queue_t.c
        q = select(c.state, func.count()).group_by(c.state)
        return {s: int(n) for s, n in self.conn.execute(q).all()}
