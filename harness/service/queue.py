"""The durable job queue: one row per cell to run at one commit (table ``queue``).

States: ``held`` (an untrusted pull request waits for approval), ``queued``, ``leased``
(a worker runs it) or ``dispatched`` (sent to GitHub Actions; its results come back
through ``POST /api/results``), then ``done``, ``failed`` or ``superseded``.

A worker *claims* the first queued item (priority, then age) and holds a *lease* on it
that its heartbeats extend. A worker that dies stops heartbeating; once the lease expires
the item is queued again (``attempts`` counts the tries) or, after ``max_attempts``,
``failed``. On PostgreSQL several workers claim concurrently with ``FOR UPDATE SKIP
LOCKED``; SQLite serialises writers (``BEGIN IMMEDIATE``), which is enough for the
workers of one machine. Execution is at least once: whoever completes an item must still
hold its lease, and reporting is idempotent.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, func, insert, select, update

from harness.store import Store
from harness.store.models import Job, QueueItem, Run
from harness.store.repository import new_job_id
from harness.store.rows import RowRecord

queue_t = cast(Table, QueueItem.__table__)
jobs_t = cast(Table, Job.__table__)
runs_t = cast(Table, Run.__table__)

ACTIVE = ("held", "queued", "leased", "dispatched")
FINISHED = ("done", "failed", "superseded")
#: pull requests before baseline runs
PRIORITY_PR, PRIORITY_BASELINE = 0, 10


def now() -> datetime:
    return datetime.now(UTC)


def worker_name() -> str:
    """``host:pid:random``: unique per worker process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


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


def enqueue(conn: Connection, items: Sequence[NewItem]) -> list[int]:
    """Insert ``items`` (in the caller's transaction); their ids, in order."""
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
        ids.append(
            int(conn.execute(insert(queue_t).values(row).returning(queue_t.c.id)).scalar_one())
        )
    return ids


def create_job(conn: Connection, trigger: str, cells: Sequence[str], ref: str | None) -> str:
    """A job row grouping the items about to be queued (in the caller's transaction)."""
    job_id = new_job_id()
    conn.execute(
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


def release_held(conn: Connection, repository: str, pr_number: int, head_sha: str) -> int:
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
    return int(conn.execute(stmt).rowcount)


def supersede(
    conn: Connection, repository: str, pr_number: int, keep_sha: str | None, why: str
) -> list[Item]:
    """Items of the pull request still waiting or running for another head than
    ``keep_sha`` (all of them when ``None``) become ``superseded``; returns them. A worker
    running one finds out at its next heartbeat and does not report it."""
    c = queue_t.c
    cond = and_(c.repository == repository, c.pr_number == pr_number, c.state.in_(ACTIVE))
    if keep_sha is not None:
        cond = and_(cond, c.head_sha != keep_sha)
    rows = conn.execute(select(queue_t).where(cond)).all()
    if rows:
        ids = [r.id for r in rows]
        conn.execute(
            update(queue_t)
            .where(c.id.in_(ids))
            .values(state="superseded", finished_at=now(), detail=why[:500])
        )
    return [Item.from_row(r) for r in rows]


def expire_leases(store: Store) -> tuple[list[Item], list[Item]]:
    """Leases past their expiry: the item is queued again, or ``failed`` once it used
    its attempts. Returns (requeued, failed) items; failed ones' reports are owed."""
    c = queue_t.c

    def _expire(conn: Connection) -> tuple[list[Item], list[Item]]:
        t = now()
        rows = conn.execute(
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
            done = conn.execute(
                update(queue_t).where(c.id == r.id, c.state == "leased").values(**values)
            ).rowcount
            if done:
                _crash_orphan_runs(conn, r, lost)
                row = conn.execute(select(queue_t).where(c.id == r.id)).one()
                (failed if values["state"] == "failed" else requeued).append(Item.from_row(row))
        return requeued, failed

    return store._write("expiring queue leases", _expire)


def _crash_orphan_runs(conn: Connection, item: Any, why: str) -> None:
    """The run a lost worker left ``running`` is recorded as ``crashed`` with why, so the
    history shows what happened instead of a run that never ends."""
    if item.job_id is None or item.started_at is None:
        return
    rc = runs_t.c
    conn.execute(
        update(runs_t)
        .where(
            rc.job_id == item.job_id,
            rc.cell == item.cell,
            rc.status == "running",
            rc.started_at >= item.started_at,
        )
        .values(status="crashed", reason=f"{why}: the run was cut short", finished_at=now())
    )


def claim(store: Store, owner: str, lease_s: float) -> Item | None:
    """Lease the next queued item to ``owner`` for ``lease_s`` seconds, or ``None``."""
    c = queue_t.c

    def _claim(conn: Connection) -> Item | None:
        t = now()
        q = (
            select(c.id)
            .where(c.state == "queued", c.not_before <= t)
            .order_by(c.priority, c.id)
            .limit(1)
        )
        if conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        item_id = conn.execute(q).scalar()
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
        if not conn.execute(stmt).rowcount:
            return None
        return Item.from_row(conn.execute(select(queue_t).where(c.id == item_id)).one())

    return store._write("claiming a queue item", _claim)


def heartbeat(store: Store, item_id: int, owner: str, lease_s: float) -> bool:
    """Extend ``owner``'s lease; ``False`` when it no longer holds it (superseded, or
    expired and taken by another worker)."""
    c = queue_t.c
    t = now()
    stmt = (
        update(queue_t)
        .where(c.id == item_id, c.state == "leased", c.lease_owner == owner)
        .values(heartbeat_at=t, lease_expires_at=t + timedelta(seconds=lease_s))
    )
    return bool(store._write("heartbeat", lambda conn: conn.execute(stmt).rowcount))


def finish(
    conn: Connection,
    item_id: int,
    owner: str,
    *,
    state: str,
    run_id: int | None = None,
    detail: str | None = None,
) -> bool:
    """Close ``owner``'s leased item (in the caller's transaction); ``False`` when the
    lease was lost (the caller must then not report)."""
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
    return bool(conn.execute(stmt).rowcount)


def items_for_head(conn: Connection, repository: str, head_sha: str) -> list[Item]:
    """The newest item per cell for this commit (a recheck adds newer ones)."""
    c = queue_t.c
    rows = conn.execute(
        select(queue_t)
        .where(c.repository == repository, c.head_sha == head_sha, c.state != "superseded")
        .order_by(c.id)
    ).all()
    newest: dict[str, Item] = {}
    for r in rows:
        newest[r.cell] = Item.from_row(r)
    return list(newest.values())


def active_cells(conn: Connection, repository: str, head_sha: str) -> set[str]:
    c = queue_t.c
    rows = conn.execute(
        select(c.cell).where(
            c.repository == repository,
            c.head_sha == head_sha,
            c.state.in_(("queued", "leased", "dispatched")),
        )
    ).all()
    return {r.cell for r in rows}


def list_items(
    store: Store, *, states: Sequence[str] | None = None, limit: int = 200
) -> list[Item]:
    c = queue_t.c
    q = select(queue_t).order_by(c.id.desc()).limit(limit)
    if states:
        q = q.where(c.state.in_(list(states)))
    rows = store._read("listing the queue", lambda conn: conn.execute(q).all())
    return [Item.from_row(r) for r in rows]


def stalled(store: Store, after_s: float) -> int:
    """Queued items due for over ``after_s`` while no leased item has heartbeated in that
    time (0 when the queue moves: a worker busy with a long cell heartbeats)."""
    c = queue_t.c

    def _count(conn: Connection) -> int:
        t = now()
        since = t - timedelta(seconds=after_s)
        waiting = conn.execute(
            select(func.count()).where(c.state == "queued", c.not_before < since)
        ).scalar_one()
        if not waiting:
            return 0
        beating = conn.execute(
            select(func.count()).where(
                c.state == "leased", func.coalesce(c.heartbeat_at, c.started_at) >= since
            )
        ).scalar_one()
        return 0 if beating else int(waiting)

    return store._read("checking whether the queue moves", _count)


def get_item(store: Store, item_id: int) -> Item | None:
    q = select(queue_t).where(queue_t.c.id == item_id)
    row = store._read("reading a queue item", lambda conn: conn.execute(q).first())
    return Item.from_row(row) if row is not None else None


def state_counts(store: Store) -> dict[str, int]:
    c = queue_t.c
    q = select(c.state, func.count()).group_by(c.state)
    rows = store._read("counting the queue", lambda conn: conn.execute(q).all())
    return {s: int(n) for s, n in rows}


def mark_dispatched(conn: Connection, item_id: int, owner: str, detail: str) -> bool:
    """``owner``'s leased item was sent to GitHub Actions: no lease any more, it waits
    for its results (the ledger's deadline watches it)."""
    c = queue_t.c
    stmt = (
        update(queue_t)
        .where(c.id == item_id, c.state == "leased", c.lease_owner == owner)
        .values(state="dispatched", lease_owner=None, lease_expires_at=None, detail=detail)
    )
    return bool(conn.execute(stmt).rowcount)
