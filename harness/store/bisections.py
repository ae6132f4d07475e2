"""Tables ``bisections`` and ``bisection_probes`` (``harness bisect``), and the read a
probe makes to reuse a run the store already has for a commit."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from harness.store.models import Bisection, BisectionProbe, Environment, Rerun, Result, Run
from harness.store.rows import RowRecord, now

bisections_t = cast(Table, Bisection.__table__)
probes_t = cast(Table, BisectionProbe.__table__)
runs_t = cast(Table, Run.__table__)
results_t = cast(Table, Result.__table__)
reruns_t = cast(Table, Rerun.__table__)
envs_t = cast(Table, Environment.__table__)

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

    @property
    def followed(self) -> list[str]:
        """The tests the search followed: what the bisection kept after probing its
        ends (``result["followed"]``, written when it finished), else the tests it
        started with less those it found flaky."""
        kept = (self.result or {}).get("followed")
        if isinstance(kept, list):
            return [str(t) for t in kept]
        return [t for t in self.tests if t not in (self.flaky or {})]


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
    #: the run's fingerprint (its stack: what a stack probe matches its pins against)
    fingerprint: dict[str, Any] | None = None


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
        status: str = "running",
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
            "status": status,
            "created_at": now(),
        }
        stmt = insert(bisections_t).values(row).returning(bisections_t.c.id)
        return int(self.conn.execute(stmt).scalar_one())

    # scheduled bisections (the service's, origin ``auto``) -----------------------------

    def schedule(
        self,
        *,
        repository: str,
        cell: str,
        suite: str,
        tests: Sequence[str],
        good_sha: str,
        bad_sha: str,
        good_run_id: int | None,
        bad_run_id: int | None,
        repeats: int,
        kind: str = "commits",
    ) -> int | None:
        """Queue a bisection for a worker; ``None`` when one with the same identity (kind,
        cell, range and tests) was scheduled before: each is scheduled exactly once,
        however often the run that calls for it is judged."""
        key = f"auto:{kind}:{cell}:{good_sha}:{bad_sha}:{','.join(sorted(tests))}"
        if len(key) > 400:  # many tests: their digest keeps the key bounded
            digest = hashlib.sha256(",".join(sorted(tests)).encode()).hexdigest()
            key = f"auto:{kind}:{cell}:{good_sha}:{bad_sha}:{digest}"[:400]
        row: dict[str, Any] = {
            "job_id": None,
            "kind": kind,
            "origin": "auto",
            "repository": repository,
            "good_run_id": good_run_id,
            "bad_run_id": bad_run_id,
            "dedup_key": key,
            "attempts": 0,
            "cell": cell,
            "suite": suite,
            "tests": sorted(tests),
            "good_sha": good_sha,
            "bad_sha": bad_sha,
            "candidates": 0,
            "max_probes": 0,
            "repeats": repeats,
            "status": "queued",
            "created_at": now(),
        }
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        stmt = (
            dialect.insert(bisections_t)
            .values(row)
            .on_conflict_do_nothing(index_elements=["dedup_key"])
            .returning(bisections_t.c.id)
        )
        found = self.conn.execute(stmt).scalar()
        return int(found) if found is not None else None

    def queued(self, limit: int = 20) -> list[BisectionRecord]:
        """Scheduled bisections waiting for a worker, oldest first."""
        c = bisections_t.c
        q = select(bisections_t).where(c.status == "queued").order_by(c.id).limit(limit)
        return [BisectionRecord.from_row(r) for r in self.conn.execute(q)]

    def running_count(self, repository: str) -> int:
        """Scheduled bisections of ``repository`` a worker holds now."""
        c = bisections_t.c
        q = select(func.count()).where(
            c.repository == repository, c.origin == "auto", c.status == "running"
        )
        return int(self.conn.execute(q).scalar_one())

    def probes_since(self, repository: str, since: datetime) -> int:
        """Commits probed (role ``probe``, the budget's unit) since ``since`` by the
        scheduled bisections of ``repository``."""
        b, p = bisections_t.c, probes_t.c
        q = (
            select(func.count())
            .select_from(probes_t.join(bisections_t, p.bisection_id == b.id))
            .where(
                b.repository == repository,
                b.origin == "auto",
                p.role == "probe",
                p.created_at >= since,
            )
        )
        return int(self.conn.execute(q).scalar_one())

    def reserved_probes(self, repository: str) -> int:
        """Probes the running scheduled bisections of ``repository`` may still make."""
        b, p = bisections_t.c, probes_t.c
        made = (
            select(func.count())
            .where(p.bisection_id == b.id, p.role == "probe")
            .correlate(bisections_t)
            .scalar_subquery()
        )
        q = select(func.coalesce(func.sum(b.max_probes - made), 0)).where(
            b.repository == repository, b.origin == "auto", b.status == "running"
        )
        return max(0, int(self.conn.execute(q).scalar_one()))

    def claim(self, bisection_id: int, owner: str, lease_s: float) -> bool:
        """Lease a queued bisection to ``owner`` (compare-and-set: ``False`` when another
        worker took it first)."""
        c = bisections_t.c
        t = now()
        stmt = (
            update(bisections_t)
            .where(c.id == bisection_id, c.status == "queued")
            .values(
                status="running",
                lease_owner=owner,
                lease_expires_at=t + timedelta(seconds=lease_s),
                attempts=c.attempts + 1,
                reason=None,
            )
        )
        return bool(self.conn.execute(stmt).rowcount)

    def wait_reason(self, bisection_id: int, reason: str) -> None:
        """Say why a queued bisection waits (its budget)."""
        c = bisections_t.c
        self.conn.execute(
            update(bisections_t)
            .where(c.id == bisection_id, c.status == "queued")
            .values(reason=reason)
        )

    def heartbeat(self, bisection_id: int, owner: str, lease_s: float) -> bool:
        """Extend ``owner``'s lease; ``False`` when it no longer holds it."""
        c = bisections_t.c
        stmt = (
            update(bisections_t)
            .where(c.id == bisection_id, c.status == "running", c.lease_owner == owner)
            .values(lease_expires_at=now() + timedelta(seconds=lease_s))
        )
        return bool(self.conn.execute(stmt).rowcount)

    def expire_leases(self, max_attempts: int) -> tuple[list[int], list[int]]:
        """Scheduled bisections whose worker died (lease expired): queued again, or
        ``error`` after ``max_attempts``; (requeued ids, failed ids)."""
        c = bisections_t.c
        t = now()
        rows = self.conn.execute(
            select(c.id, c.attempts).where(
                c.status == "running", c.origin == "auto", c.lease_expires_at < t
            )
        ).all()
        requeued, failed = [], []
        for bisection_id, attempts in rows:
            if attempts < max_attempts:
                values: dict[str, Any] = {
                    "status": "queued",
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "reason": f"its worker stopped (attempt {attempts}); queued again",
                }
                requeued.append(int(bisection_id))
            else:
                values = {
                    "status": "error",
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "reason": f"its worker stopped {attempts} time(s); given up",
                    "finished_at": t,
                }
                failed.append(int(bisection_id))
            self.conn.execute(
                update(bisections_t)
                .where(c.id == bisection_id, c.status == "running", c.lease_expires_at < t)
                .values(**values)
            )
        return requeued, failed

    def begin(
        self,
        bisection_id: int,
        *,
        job_id: str,
        tests: Sequence[str],
        candidates: int,
        max_probes: int,
        repeats: int,
    ) -> None:
        """A scheduled bisection starts searching: its job, tests and budget."""
        c = bisections_t.c
        self.conn.execute(
            update(bisections_t)
            .where(c.id == bisection_id)
            .values(
                job_id=job_id,
                tests=list(tests),
                candidates=candidates,
                max_probes=max_probes,
                repeats=repeats,
            )
        )

    def clear_probes(self, bisection_id: int) -> None:
        """Forget the probes of an attempt that died (a retry starts over; the runs they
        made stay stored and are reused)."""
        self.conn.execute(probes_t.delete().where(probes_t.c.bisection_id == bisection_id))

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
        owner: str | None = None,
    ) -> bool:
        """Record how it ended; with ``owner``, only while that worker still holds the
        scheduled row's lease (whether it was recorded)."""
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
        c = bisections_t.c
        where = [c.id == bisection_id]
        if owner is not None:
            where += [c.lease_owner == owner, c.status == "running"]
        return bool(self.conn.execute(update(bisections_t).where(*where).values(**values)).rowcount)

    def get(self, bisection_id: int) -> BisectionRecord | None:
        row = self.conn.execute(
            select(bisections_t).where(bisections_t.c.id == bisection_id)
        ).first()
        return BisectionRecord.from_row(row) if row is not None else None

    def probes(self, bisection_id: int) -> list[ProbeRecord]:
        q = select(probes_t).where(probes_t.c.bisection_id == bisection_id).order_by(probes_t.c.id)
        return [ProbeRecord.from_row(r) for r in self.conn.execute(q)]

    def probes_of(self, bisection_ids: Collection[int]) -> dict[int, list[ProbeRecord]]:
        """Bisection id → its probes in order, for many bisections in one query (every
        id given has an entry)."""
        out: dict[int, list[ProbeRecord]] = {i: [] for i in bisection_ids}
        if not out:
            return out
        q = select(probes_t).where(probes_t.c.bisection_id.in_(list(out))).order_by(probes_t.c.id)
        for row in self.conn.execute(q):
            probe = ProbeRecord.from_row(row)
            out[probe.bisection_id].append(probe)
        return out

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
            select(rc.id, rc.status, envs_t.c.data)
            .join_from(runs_t, envs_t, rc.environment_id == envs_t.c.id, isouter=True)
            .where(rc.cell == cell, rc.sha == sha, rc.status.in_(_FINISHED))
            .order_by(rc.id.desc())
        ).all()
        wanted = list(tests)
        out: list[RunAttempts] = []
        for run_id, status, fingerprint in run_rows:
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
            fp = dict(fingerprint) if fingerprint is not None else None
            out.append(RunAttempts(int(run_id), str(status), outcomes, fp))
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
    ) -> dict[tuple[str, str, str], list[str]]:
        """(commit, image variant, stack pins) → every outcome of ``test_id`` in the
        stored runs of ``suite`` on ``backend`` at that commit on that variant with those
        pins (first attempts and reruns), over the newest ``limit`` results: a test that
        passed and failed at one commit on one stack has flaked (one that passes on one
        stack or image variant and fails on another has not). The pins are the runs'
        ``harness run --stack`` pins as canonical JSON, ``""`` for none."""
        rc, r, x = runs_t.c, results_t.c, reruns_t.c
        where = (rc.suite == suite, rc.backend == backend, rc.sha.is_not(None))
        rows: list[tuple[str, str, int | None, str]] = []
        for table, col in ((results_t, r), (reruns_t, x)):
            q = (
                select(rc.sha, rc.variant, rc.environment_id, col.outcome)
                .join_from(table, runs_t, col.run_id == rc.id)
                .where(col.test_id == test_id, *where)
                .order_by(col.id.desc())
                .limit(limit)
            )
            rows += [
                (str(sha), str(variant), env, str(outcome))
                for sha, variant, env, outcome in self.conn.execute(q)
            ]
        pins = self._stack_pins({env for *_, env, _ in rows if env is not None})
        out: dict[tuple[str, str, str], list[str]] = {}
        for sha, variant, env, outcome in rows:
            key = (sha, variant, pins.get(env, "") if env is not None else "")
            out.setdefault(key, []).append(outcome)
        return out

    def _stack_pins(self, environment_ids: Collection[int]) -> dict[int, str]:
        """Environment id → its fingerprint's stack pins as canonical JSON (``""``: none)."""
        if not environment_ids:
            return {}
        q = select(envs_t.c.id, envs_t.c.data).where(envs_t.c.id.in_(list(environment_ids)))
        out: dict[int, str] = {}
        for env_id, data in self.conn.execute(q):
            stack = data.get("stack") if isinstance(data, dict) else None
            out[int(env_id)] = json.dumps(stack, sort_keys=True) if stack else ""
        return out

    def of_cell(self, cell: str, *, limit: int = 50) -> list[BisectionRecord]:
        """The bisections of ``cell``, newest first."""
        q = (
            select(bisections_t)
            .where(bisections_t.c.cell == cell)
            .order_by(bisections_t.c.id.desc())
            .limit(limit)
        )
        return [BisectionRecord.from_row(r) for r in self.conn.execute(q)]

    def about_run(
        self, run_id: int, cell: str, sha: str | None, *, limit: int = 20
    ) -> list[BisectionRecord]:
        """The bisections a run is part of, newest first: its bad end is the run
        (``bad_run_id``), or, of the run's cell, an end or a probe is the run's commit
        or a probe used the run."""
        b, p = bisections_t.c, probes_t.c
        about = [b.bad_run_id == run_id, b.good_run_id == run_id]
        if sha:
            probed = select(p.bisection_id).where(p.sha == sha)
            about.append(
                (b.cell == cell) & or_(b.bad_sha == sha, b.good_sha == sha, b.id.in_(probed))
            )
        q = select(bisections_t).where(or_(*about)).order_by(b.id.desc()).limit(limit)
        return [BisectionRecord.from_row(r) for r in self.conn.execute(q)]

    def run_started(self, run_ids: Collection[int]) -> dict[int, datetime]:
        """Run id → when it started, for those of ``run_ids`` that exist."""
        if not run_ids:
            return {}
        rc = runs_t.c
        q = select(rc.id, rc.started_at).where(rc.id.in_(list(run_ids)))
        return {int(i): at for i, at in self.conn.execute(q)}

    def broken_since(
        self, cell: str, test_ids: Collection[str], *, scan: int = 200
    ) -> dict[str, BisectionRecord]:
        """Test id → the newest finished bisection of ``cell`` that answered for that
        test (over the cell's newest ``scan`` of them): a commit bisection that found a
        first bad commit, or a stack bisection that named the component."""
        wanted = set(test_ids)
        if not wanted:
            return {}
        b = bisections_t.c
        q = (
            select(bisections_t)
            .where(
                b.cell == cell,
                b.status == "done",
                or_(
                    and_(b.kind == "commits", b.outcome == "found", b.first_bad.is_not(None)),
                    and_(b.kind == "stack", b.outcome.in_(("found", "component"))),
                ),
            )
            .order_by(b.id.desc())
            .limit(scan)
        )
        out: dict[str, BisectionRecord] = {}
        for row in self.conn.execute(q):
            record = BisectionRecord.from_row(row)
            for test in wanted.intersection(record.followed) - out.keys():
                out[test] = record
            if len(out) == len(wanted):
                break
        return out
