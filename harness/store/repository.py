"""The store: every read and write of runs and results goes through :class:`Store`."""

from __future__ import annotations

import fnmatch
import json
import secrets
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from harness.errors import StoreError
from harness.fingerprint import digest
from harness.results.model import OUTCOMES, Outcome, TestResult
from harness.store import db
from harness.store.models import Environment, Job, Result, Run

COUNT_COLUMNS = {o.value: f"n_{o.value}" for o in OUTCOMES}


class RunNotFound(StoreError):
    exit_code = 2


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    job_id: str | None
    cell: str
    suite: str
    backend: str
    variant: str
    upstream: str
    ref: str | None
    sha: str | None
    status: str
    reason: str | None
    executor: str
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    counts: dict[str, int] = field(default_factory=dict)
    environment_id: int | None = None
    log_dir: str | None = None
    out_dir: str | None = None

    @classmethod
    def from_row(cls, run: Run) -> RunRecord:
        return cls(
            id=run.id,
            job_id=run.job_id,
            cell=run.cell,
            suite=run.suite,
            backend=run.backend,
            variant=run.variant,
            upstream=run.upstream,
            ref=run.ref,
            sha=run.sha,
            status=run.status,
            reason=run.reason,
            executor=run.executor,
            started_at=_aware(run.started_at),
            finished_at=_aware(run.finished_at) if run.finished_at else None,
            duration_s=run.duration_s,
            counts={k: getattr(run, col) or 0 for k, col in COUNT_COLUMNS.items()},
            environment_id=run.environment_id,
            log_dir=run.log_dir,
            out_dir=run.out_dir,
        )


def _aware(value: datetime) -> datetime:
    """SQLite gives naive datetimes back; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def new_job_id() -> str:
    return _now().strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def _glob_prefix(pattern: str) -> str:
    """The literal prefix of a glob, for an indexed LIKE pre-filter."""
    out = []
    for ch in pattern:
        if ch in "*?[{":
            break
        out.append(ch)
    return "".join(out)


class Store:
    """Runs, results and environments in SQLite or PostgreSQL (see :mod:`.models`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str | None = None) -> Store:
        engine = db.create_db_engine(url or db.default_db_url())
        db.upgrade(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def _write(self, fn: Any) -> Any:
        try:
            with self._session() as s, s.begin():
                return fn(s)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"database write failed ({db.masked(self.engine.url)}): {str(exc).splitlines()[0]}"
            ) from exc

    # jobs -------------------------------------------------------------------------------

    def create_job(self, trigger: str, pattern: str, ref: str | None) -> str:
        job_id = new_job_id()
        self._write(
            lambda s: s.add(
                Job(
                    id=job_id,
                    trigger=trigger,
                    pattern=pattern,
                    ref=ref,
                    status="running",
                    created_at=_now(),
                )
            )
        )
        return job_id

    def finish_job(self, job_id: str, status: str) -> None:
        self._write(lambda s: s.execute(update(Job).where(Job.id == job_id).values(status=status)))

    # runs -------------------------------------------------------------------------------

    def start_run(
        self,
        *,
        job_id: str | None,
        cell: str,
        suite: str,
        backend: str,
        variant: str,
        upstream: str,
        ref: str | None,
        sha: str | None,
        executor: str,
        log_dir: str | None,
        out_dir: str | None,
    ) -> int:
        run = Run(
            job_id=job_id,
            cell=cell,
            suite=suite,
            backend=backend,
            variant=variant,
            upstream=upstream,
            ref=ref,
            sha=sha,
            status="running",
            executor=executor,
            started_at=_now(),
            log_dir=log_dir,
            out_dir=out_dir,
            **dict.fromkeys(COUNT_COLUMNS.values(), 0),
        )

        def _add(s: Session) -> int:
            s.add(run)
            s.flush()
            return run.id

        return int(self._write(_add))

    def set_run_sha(self, run_id: int, sha: str) -> None:
        self._write(lambda s: s.execute(update(Run).where(Run.id == run_id).values(sha=sha)))

    def set_environment(self, run_id: int, fingerprint: dict[str, Any]) -> int:
        canonical = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))
        key = digest(canonical)

        def _find(s: Session) -> int | None:
            return s.scalar(select(Environment.id).where(Environment.digest == key))

        with self._session() as s:
            env_id = _find(s)
        if env_id is None:
            try:
                env_id = self._write(lambda s: _insert_env(s, key, canonical))
            except StoreError as exc:  # a concurrent writer inserted the same digest
                if not isinstance(exc.__cause__, IntegrityError):
                    raise
                with self._session() as s:
                    env_id = _find(s)
        self._write(
            lambda s: s.execute(update(Run).where(Run.id == run_id).values(environment_id=env_id))
        )
        assert env_id is not None
        return int(env_id)

    def get_environment(self, environment_id: int) -> dict[str, Any]:
        with self._session() as s:
            data = s.scalar(select(Environment.data).where(Environment.id == environment_id))
        if data is None:
            raise StoreError(f"no environment {environment_id}")
        return dict(data)

    def add_results(
        self, run_id: int, results: Iterable[TestResult], batch_size: int = 5000
    ) -> dict[str, int]:
        """Insert results in batches as they stream in; returns counts per outcome."""
        counts = {o.value: 0 for o in OUTCOMES}
        it = iter(results)
        table = Result.__table__
        try:
            with self.engine.begin() as conn:
                while batch := list(islice(it, batch_size)):
                    rows = []
                    for r in batch:
                        counts[r.outcome.value] += 1
                        rows.append(
                            {
                                "run_id": run_id,
                                "test_id": r.test_id,
                                "outcome": r.outcome.value,
                                "duration_s": r.duration_s,
                                "message": r.message,
                            }
                        )
                    conn.execute(insert(table), rows)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"storing results of run {run_id} failed: {str(exc).splitlines()[0]}"
            ) from exc
        return counts

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        reason: str | None,
        counts: dict[str, int],
        duration_s: float,
    ) -> None:
        values: dict[str, Any] = {
            "status": status,
            "reason": reason,
            "duration_s": duration_s,
            "finished_at": _now(),
        }
        for key, col in COUNT_COLUMNS.items():
            values[col] = int(counts.get(key, 0))
        self._write(lambda s: s.execute(update(Run).where(Run.id == run_id).values(**values)))

    def get_run(self, run_id: int) -> RunRecord:
        with self._session() as s:
            run = s.get(Run, run_id)
            if run is None:
                raise RunNotFound(
                    f"no run with id {run_id}", hint="`harness runs list` shows the recorded runs"
                )
            return RunRecord.from_row(run)

    def list_runs(
        self,
        *,
        cell_glob: str | None = None,
        status: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[RunRecord]:
        """Newest first. ``cell_glob`` is matched with fnmatch on the cell id."""
        q = select(Run).order_by(Run.id.desc())
        if status:
            q = q.where(Run.status == status)
        if before_id is not None:
            q = q.where(Run.id < before_id)
        if cell_glob:
            prefix = _glob_prefix(cell_glob)
            if prefix:
                escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                q = q.where(Run.cell.like(escaped + "%", escape="\\"))
        out: list[RunRecord] = []
        with self._session() as s:
            for run in s.scalars(q.execution_options(yield_per=500)):
                if cell_glob and not fnmatch.fnmatchcase(run.cell, cell_glob):
                    continue
                out.append(RunRecord.from_row(run))
                if len(out) >= limit:
                    break
        return out

    def iter_results(
        self, run_id: int, *, outcomes: Collection[str] | None = None
    ) -> Iterator[TestResult]:
        q = (
            select(Result.test_id, Result.outcome, Result.duration_s, Result.message)
            .where(Result.run_id == run_id)
            .order_by(Result.id)
        )
        if outcomes is not None:
            q = q.where(Result.outcome.in_(list(outcomes)))
        with self.engine.connect() as conn:
            for row in conn.execution_options(yield_per=2000).execute(q):
                yield TestResult(
                    row.test_id, Outcome(row.outcome), row.duration_s or 0.0, row.message
                )

    def count_results(self, run_id: int) -> int:
        with self._session() as s:
            return int(s.scalar(select(func.count()).where(Result.run_id == run_id)) or 0)

    def test_history(
        self, suite: str, test_id: str, *, backend: str | None = None, limit: int = 50
    ) -> list[tuple[RunRecord, TestResult]]:
        q = (
            select(Run, Result)
            .join(Result, Result.run_id == Run.id)
            .where(Result.test_id == test_id, Run.suite == suite)
            .order_by(Run.id.desc())
            .limit(limit)
        )
        if backend:
            q = q.where(Run.backend == backend)
        with self._session() as s:
            return [
                (
                    RunRecord.from_row(run),
                    TestResult(res.test_id, Outcome(res.outcome), res.duration_s, res.message),
                )
                for run, res in s.execute(q)
            ]


def _insert_env(s: Session, key: str, data: dict[str, Any]) -> int:
    env = Environment(digest=key, data=data, created_at=_now())
    s.add(env)
    s.flush()
    return env.id
