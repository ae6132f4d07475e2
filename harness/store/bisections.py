"""Tables ``bisections`` and ``bisection_probes`` (``harness bisect``), and the read a
probe makes to reuse a run the store already has for a commit."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select, update

from harness.store.models import Bisection, BisectionProbe, Rerun, Result, Run
from harness.store.rows import RowRecord, now

bisections_t = cast(Table, Bisection.__table__)
probes_t = cast(Table, BisectionProbe.__table__)
runs_t = cast(Table, Run.__table__)
results_t = cast(Table, Result.__table__)
reruns_t = cast(Table, Rerun.__table__)

#: run statuses whose results say something about the tests (a run that errored before
#: its tests, was cancelled or is still running says nothing)
_FINISHED = ("passed", "failed", "crashed", "timeout")


@dataclass(frozen=True, slots=True)
class BisectionRecord(RowRecord):
    id: int
    job_id: str | None
    kind: str
    origin: str
    repository: str | None
    good_run_id: int | None
    bad_run_id: int | None
    dedup_key: str | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    attempts: int
    result: dict[str, Any] | None
    cell: str
    suite: str
    tests: list[str]
    good_sha: str
    bad_sha: str
    candidates: int
    max_probes: int
    repeats: int
    status: str
    outcome: str | None
    reason: str | None
    first_bad: str | None
    suspects: list[str] | None
    flaky: dict[str, Any] | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class ProbeRecord(RowRecord):
    id: int
    bisection_id: int
    sha: str
    role: str
    verdict: str
    run_ids: list[int]
    reused: bool
    outcomes: dict[str, list[str]]
    reason: str | None
    pins: dict[str, str] | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RunAttempts:
    """What one stored run says of some tests: test id → outcomes, first attempt then
    its reruns (tests it did not run are absent)."""

    run_id: int
    status: str
    outcomes: dict[str, list[str]]


class Bisections:
    """Bisections and their probes, through one unit of work's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create(
        self,
        *,
        job_id: str | None,
        cell: str,
        suite: str,
        tests: Sequence[str],
        good_sha: str,
        bad_sha: str,
        candidates: int,
        max_probes: int,
        repeats: int,
        kind: str = "commits",
        repository: str | None = None,
        good_run_id: int | None = None,
        bad_run_id: int | None = None,
    ) -> int:
        row: dict[str, Any] = {
            "job_id": job_id,
            "kind": kind,
            "origin": "manual",
            "repository": repository,
            "good_run_id": good_run_id,
            "bad_run_id": bad_run_id,
            "cell": cell,
            "suite": suite,
            "tests": list(tests),
            "good_sha": good_sha,
            "bad_sha": bad_sha,
            "candidates": candidates,
            "max_probes": max_probes,
            "repeats": repeats,
            "status": "running",
            "created_at": now(),
        }
        stmt = insert(bisections_t).values(row).returning(bisections_t.c.id)
        return int(self.conn.execute(stmt).scalar_one())

    def add_probe(
        self,
        bisection_id: int,
        *,
        sha: str,
        role: str,
        verdict: str,
        run_ids: Sequence[int],
        reused: bool,
        outcomes: dict[str, list[str]],
        reason: str | None = None,
        pins: dict[str, str] | None = None,
    ) -> int:
        row: dict[str, Any] = {
            "pins": pins,
            "bisection_id": bisection_id,
            "sha": sha,
            "role": role,
            "verdict": verdict,
            "run_ids": list(run_ids),
            "reused": reused,
            "outcomes": outcomes,
            "reason": reason,
            "created_at": now(),
        }
        stmt = insert(probes_t).values(row).returning(probes_t.c.id)
        return int(self.conn.execute(stmt).scalar_one())

    def finish(
        self,
        bisection_id: int,
        *,
        status: str,
        outcome: str | None,
        reason: str | None,
        first_bad: str | None = None,
        suspects: Sequence[str] | None = None,
        flaky: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "result": result,
            "lease_owner": None,
            "lease_expires_at": None,
            "status": status,
            "outcome": outcome,
            "reason": reason,
            "first_bad": first_bad,
            "suspects": list(suspects) if suspects is not None else None,
            "flaky": flaky,
            "finished_at": now(),
        }
        self.conn.execute(
            update(bisections_t).where(bisections_t.c.id == bisection_id).values(**values)
        )

    def get(self, bisection_id: int) -> BisectionRecord | None:
        row = self.conn.execute(
            select(bisections_t).where(bisections_t.c.id == bisection_id)
        ).first()
        return BisectionRecord.from_row(row) if row is not None else None

    def probes(self, bisection_id: int) -> list[ProbeRecord]:
        q = select(probes_t).where(probes_t.c.bisection_id == bisection_id).order_by(probes_t.c.id)
        return [ProbeRecord.from_row(r) for r in self.conn.execute(q)]

    def recent(self, *, cell_glob: str | None = None, limit: int = 50) -> list[BisectionRecord]:
        """Newest first (``cell_glob``: a SQL LIKE pattern on the cell, ``%`` for any)."""
        q = select(bisections_t).order_by(bisections_t.c.id.desc()).limit(limit)
        if cell_glob:
            q = q.where(bisections_t.c.cell.like(cell_glob))
        return [BisectionRecord.from_row(r) for r in self.conn.execute(q)]

    def runs_at(self, cell: str, sha: str, tests: Collection[str]) -> list[RunAttempts]:
        """The finished runs of ``cell`` at ``sha`` (newest first) that ran every one of
        ``tests``, with each test's outcomes: what a probe reuses instead of running."""
        rc = runs_t.c
        run_rows = self.conn.execute(
            select(rc.id, rc.status)
            .where(rc.cell == cell, rc.sha == sha, rc.status.in_(_FINISHED))
            .order_by(rc.id.desc())
        ).all()
        wanted = list(tests)
        out: list[RunAttempts] = []
        for run_id, status in run_rows:
            r = results_t.c
            firsts = self.conn.execute(
                select(r.test_id, r.outcome).where(r.run_id == run_id, r.test_id.in_(wanted))
            ).all()
            outcomes: dict[str, list[str]] = {str(t): [str(o)] for t, o in firsts}
            if set(outcomes) != set(wanted):
                continue
            x = reruns_t.c
            for test_id, outcome in self.conn.execute(
                select(x.test_id, x.outcome)
                .where(x.run_id == run_id, x.test_id.in_(wanted))
                .order_by(x.test_id, x.attempt)
            ):
                outcomes[str(test_id)].append(str(outcome))
            out.append(RunAttempts(int(run_id), str(status), outcomes))
        return out

    def failing_tests(self, run_id: int) -> list[str]:
        """The test ids that failed or errored (first attempt) in run ``run_id``."""
        r = results_t.c
        q = select(r.test_id).where(r.run_id == run_id, r.outcome.in_(("failed", "error")))
        return sorted({str(t) for t in self.conn.execute(q).scalars()})

    def latest_run_at(self, cell: str, sha: str) -> int | None:
        """The newest finished run of ``cell`` at ``sha``, whatever it selected."""
        rc = runs_t.c
        q = (
            select(rc.id)
            .where(rc.cell == cell, rc.sha == sha, rc.status.in_(_FINISHED))
            .order_by(rc.id.desc())
            .limit(1)
        )
        found = self.conn.execute(q).scalar()
        return int(found) if found is not None else None

    def outcomes_by_commit(
        self, suite: str, backend: str, test_id: str, *, limit: int = 500
    ) -> dict[str, list[str]]:
        """Commit → every outcome of ``test_id`` in the stored runs of ``suite`` on
        ``backend`` at that commit (first attempts and reruns), over the newest
        ``limit`` results: a test that passed and failed at one commit has flaked."""
        rc, r, x = runs_t.c, results_t.c, reruns_t.c
        where = (rc.suite == suite, rc.backend == backend, rc.sha.is_not(None))
        out: dict[str, list[str]] = {}
        for table, col in ((results_t, r), (reruns_t, x)):
            q = (
                select(rc.sha, col.outcome)
                .join_from(table, runs_t, col.run_id == rc.id)
                .where(col.test_id == test_id, *where)
                .order_by(col.id.desc())
                .limit(limit)
            )
            for sha, outcome in self.conn.execute(q):
                out.setdefault(str(sha), []).append(str(outcome))
        return out
