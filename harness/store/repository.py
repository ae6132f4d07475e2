"""The store: every read and write of runs and results goes through :class:`Store`.

Each call uses its own short-lived connection from the engine's pool, so one store may be
shared by threads. Reads return plain values (:class:`RunRecord`, :class:`TestResult`),
never ORM objects bound to a session.
"""

from __future__ import annotations

import fnmatch
import hashlib
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, Select, Table, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from harness.errors import EXIT_CONFIG, StoreError
from harness.results.model import OUTCOMES, Outcome, TestResult
from harness.store import db
from harness.store.attestations import Attestations, Attested
from harness.store.models import COUNT_COLUMNS, Environment, Job, Rerun, Result, Run, RunRecord
from harness.store.rows import new_job_id
from harness.store.sql import (
    ResultRow,
    bulk_insert_results,
    environment_id,
    glob_to_like,
    no_nul,
)
from harness.store.transaction import Transaction

T = TypeVar("T")
__all__ = ["NotFound", "ResultRow", "RunNotFound", "Store", "glob_to_like", "new_job_id"]

TRIGGERS = frozenset(
    {"cli", "bisect", "pull_request", "push", "schedule", "manual", "comment", "check_run"}
)
RUN_STATUSES = frozenset(
    {"queued", "running", "passed", "failed", "crashed", "error", "timeout", "cancelled"}
)

runs_t = cast(Table, Run.__table__)
results_t = cast(Table, Result.__table__)
envs_t = cast(Table, Environment.__table__)
jobs_t = cast(Table, Job.__table__)
reruns_t = cast(Table, Rerun.__table__)


class NotFound(StoreError, KeyError):
    """A run, job or environment id that is not in the store."""

    exit_code = EXIT_CONFIG


class RunNotFound(NotFound):
    pass


_RESULT_COLUMNS = [results_t.c[n] for n in ("test_id", "outcome", "duration_s", "message")]


def _now() -> datetime:
    return datetime.now(UTC)


class Store:
    """Jobs, runs, results and environments in SQLite or PostgreSQL (see :mod:`.models`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: names this database on this machine (marks of runs: executors.leftovers)
        url = engine.url.render_as_string(hide_password=True)
        self.key = hashlib.sha256(url.encode()).hexdigest()[:12]
        self._writer = db.writer(engine)
        self._local = threading.local()

    @classmethod
    def open(cls, url: str | None = None) -> Store:
        """Open (creating or migrating to the newest schema) the database at ``url``.

        ``None`` means :func:`~harness.store.db.default_db_url`. Raises :class:`StoreError`
        naming the URL (password masked) and the cause.
        """
        try:
            url = url or db.default_db_url()
        except OSError as exc:
            raise StoreError(f"cannot create the default database directory: {exc}") from exc
        engine = db.create_db_engine(url)
        try:
            db.upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # plumbing -------------------------------------------------------------------------

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            raise StoreError(
                f"{doing} failed ({db.mask_url(self.engine.url)}): {db.error_line(exc)}"
            ) from exc

    # units of work --------------------------------------------------------------------

    @contextmanager
    def transaction(self, doing: str) -> Iterator[Transaction]:
        """A write unit of work: what is done through the :class:`Transaction` commits
        when the block ends, or rolls back when it raises. On SQLite it takes the write
        lock at once (``BEGIN IMMEDIATE``, waiting up to the busy timeout); a database
        error becomes a :class:`StoreError` saying ``doing`` (\"claiming a queue item\").
        """
        with self._errors(doing), self._writer.begin() as conn:
            depth = getattr(self._local, "depth", 0)
            self._local.depth = depth + 1
            try:
                yield Transaction(conn, writing=True)
            finally:
                self._local.depth = depth

    @contextmanager
    def reading(self, doing: str) -> Iterator[Transaction]:
        """A read-only unit of work (a plain ``BEGIN``; nothing is committed)."""
        with self._errors(doing), self.engine.connect() as conn:
            yield Transaction(conn, writing=False)

    @property
    def in_transaction(self) -> bool:
        """Whether this thread is inside a write unit of work of this store (work that
        must not happen under the write lock, such as computing a verdict, checks it)."""
        return bool(getattr(self._local, "depth", 0))

    def _write(self, doing: str, fn: Callable[[Connection], T]) -> T:
        with self.transaction(doing) as tx:
            return fn(tx.connection)

    def _read(self, doing: str, fn: Callable[[Connection], T]) -> T:
        with self.reading(doing) as tx:
            return fn(tx.connection)

    @staticmethod
    def _update_run(conn: Connection, run_id: int, **values: Any) -> None:
        if conn.execute(update(runs_t).where(runs_t.c.id == run_id).values(**values)).rowcount:
            return
        raise RunNotFound(f"no run with id {run_id}", hint="`harness runs list` shows the runs")

    # jobs -----------------------------------------------------------------------------

    def create_job(self, trigger: str, pattern: str, ref: str | None) -> str:
        """Record a new job (status ``running``); returns its id."""
        if trigger not in TRIGGERS:
            raise ValueError(f"unknown trigger {trigger!r}: one of {sorted(TRIGGERS)}")
        job_id = new_job_id()
        row: dict[str, Any] = {"id": job_id, "trigger": trigger, "pattern": pattern, "ref": ref}
        row |= {"status": "running", "created_at": _now()}
        self._write("creating a job", lambda c: c.execute(insert(jobs_t), row))
        return job_id

    def finish_job(self, job_id: str, status: str) -> None:
        def _finish(conn: Connection) -> None:
            stmt = update(jobs_t).where(jobs_t.c.id == job_id).values(status=status)
            if not conn.execute(stmt).rowcount:
                raise NotFound(f"no job with id {job_id}")

        self._write(f"finishing job {job_id}", _finish)

    # runs -----------------------------------------------------------------------------

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
        subset: str | None = None,
        args: str | None = None,
    ) -> int:
        """Record a run as ``running`` now; returns its id. ``subset`` and ``args``: the
        selection its test steps make (a baseline must have made the same)."""
        row: dict[str, Any] = {
            "job_id": job_id,
            "cell": cell,
            "suite": suite,
            "backend": backend,
            "variant": variant,
            "upstream": upstream,
            "ref": ref,
            "sha": sha,
            "status": "running",
            "executor": executor,
            "started_at": _now(),
            "log_dir": log_dir,
            "out_dir": out_dir,
            "subset": subset,
            "args": args,
            **dict.fromkeys(COUNT_COLUMNS.values(), 0),
        }
        stmt = insert(runs_t).values(row).returning(runs_t.c.id)
        return int(self._write(f"starting a run of {cell}", lambda c: c.execute(stmt).scalar_one()))

    def set_run_seed(self, run_id: int, step: str, seed: int) -> None:
        """Record that test step ``step`` ran its tests in pytest-randomly's order for
        ``seed`` (kept per step in ``runs.seeds``)."""
        rc = runs_t.c

        def _set(conn: Connection) -> None:
            seeds = conn.execute(select(rc.seeds).where(rc.id == run_id)).scalar()
            self._update_run(conn, run_id, seeds={**(seeds or {}), step: int(seed)})

        self._write(f"recording the test order seed of run {run_id}", _set)

    def set_run_sha(self, run_id: int, sha: str) -> None:
        self._write(f"updating run {run_id}", lambda c: self._update_run(c, run_id, sha=sha))

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        reason: str | None,
        counts: dict[str, int],
        duration_s: float,
        explained: int | None = None,
    ) -> None:
        """Record the end of a run: status, one-line reason, counts per outcome, duration,
        and how many of its failures known failures or quarantine explain."""
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}: one of {sorted(RUN_STATUSES)}")
        values: dict[str, Any] = {
            "status": status,
            "reason": reason,
            "duration_s": duration_s,
            "finished_at": _now(),
            "explained": explained,
        }
        values |= {col: int(counts.get(key, 0)) for key, col in COUNT_COLUMNS.items()}
        self._write(f"finishing run {run_id}", lambda c: self._update_run(c, run_id, **values))

    def job_runs(self, job_id: str, cell: str | None = None) -> list[RunRecord]:
        """The runs of job ``job_id`` (of ``cell`` only, if given), oldest first."""
        rc = runs_t.c
        query = select(runs_t).where(rc.job_id == job_id).order_by(rc.id)
        if cell is not None:
            query = query.where(rc.cell == cell)
        rows = self._read(f"reading the runs of job {job_id}", lambda c: c.execute(query).all())
        return [RunRecord.from_row(r) for r in rows]

    def get_run(self, run_id: int) -> RunRecord:
        """The run ``run_id``; raises :class:`RunNotFound`."""
        row = self._read(
            f"reading run {run_id}",
            lambda c: c.execute(select(runs_t).where(runs_t.c.id == run_id)).first(),
        )
        if row is None:
            raise RunNotFound(f"no run with id {run_id}", hint="`harness runs list` shows the runs")
        return RunRecord.from_row(row)

    def list_runs(
        self,
        *,
        cell_glob: str | None = None,
        status: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[RunRecord]:
        """Newest first. ``cell_glob`` is matched with fnmatch on the cell id.

        The glob becomes a SQL LIKE pre-filter (exact on PostgreSQL; SQLite's LIKE ignores
        case) and fnmatch has the last word; ``before_id`` pages back from a run id.
        """
        q: Select[Any] = select(runs_t).order_by(runs_t.c.id.desc())
        if status:
            q = q.where(runs_t.c.status == status)
        if before_id is not None:
            q = q.where(runs_t.c.id < before_id)
        if cell_glob:
            q = q.where(runs_t.c.cell.like(glob_to_like(cell_glob), escape="\\"))

        def _list(conn: Connection) -> list[RunRecord]:
            out: list[RunRecord] = []
            for row in conn.execution_options(yield_per=200).execute(q):
                if cell_glob and not fnmatch.fnmatchcase(row.cell, cell_glob):
                    continue
                out.append(RunRecord.from_row(row))
                if len(out) >= limit:
                    break
            return out

        return [] if limit <= 0 else self._read("listing runs", _list)

    # environments ---------------------------------------------------------------------

    def set_environment(self, run_id: int, fingerprint: dict[str, Any]) -> int:
        """Attach ``fingerprint`` to the run, stored once per distinct content; its id."""

        def _set(conn: Connection) -> int:
            env_id = environment_id(conn, fingerprint)
            self._update_run(conn, run_id, environment_id=env_id)
            return env_id

        return self._write(f"storing the environment of run {run_id}", _set)

    def import_run(
        self,
        *,
        origin: str,
        row: dict[str, Any],
        results: Iterable[TestResult],
        environment: dict[str, Any] | None = None,
        reruns: Iterable[tuple[str, int, str, float, str | None, str | None]] = (),
        batch_size: int = 5000,
        attestation: Attested | None = None,
    ) -> tuple[int, bool]:
        """A finished run made elsewhere (a result bundle), in one transaction: the
        idempotency key ``origin`` is checked and written in it, so a run is imported
        whole or not at all, and once (a resend, a concurrent one, answers the run
        already there). ``row``: the run's columns (cell, status, counts, times...);
        returns (run id, whether it was new). ``attestation``: the run's verified
        attestation, stored with it."""
        rc = runs_t.c

        def _txn(conn: Connection) -> tuple[int, bool]:
            known = conn.execute(select(rc.id).where(rc.origin == origin)).scalar()
            if known is not None:
                return int(known), False
            values = {**row, "origin": origin}
            if environment:
                values["environment_id"] = environment_id(conn, environment)
            run_id = int(conn.execute(insert(runs_t).values(values).returning(rc.id)).scalar_one())
            it = iter(results)
            while rows := list(islice(it, batch_size)):
                bulk_insert_results(
                    conn,
                    run_id,
                    [(no_nul(t), str(o), d, m and no_nul(m)) for t, o, d, m in rows],
                )
            extra = [
                {"run_id": run_id, "test_id": no_nul(t), "attempt": a, "outcome": o,
                 "duration_s": d, "message": m and no_nul(m), "ordering": order}
                for t, a, o, d, m, order in reruns
            ]  # fmt: skip
            if extra:
                conn.execute(insert(reruns_t), extra)
            if attestation is not None:
                Attestations(conn).add(run_id, attestation)
            return run_id, True

        try:
            return self._write(f"importing run {origin}", _txn)
        except StoreError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            known = self._read(
                f"reading run {origin}",
                lambda conn: conn.execute(select(rc.id).where(rc.origin == origin)).scalar(),
            )
            if known is None:
                raise
            return int(known), False  # imported by someone else at the same moment

    def run_of_origin(self, origin: str) -> int | None:
        """The run imported with idempotency key ``origin`` (a bundle id), if any."""
        rc = runs_t.c
        found = self._read(
            f"reading run {origin}",
            lambda conn: conn.execute(select(rc.id).where(rc.origin == origin)).scalar(),
        )
        return int(found) if found is not None else None

    def get_environment(self, environment_id: int) -> dict[str, Any]:
        data = self._read(
            f"reading environment {environment_id}",
            lambda c: c.scalar(select(envs_t.c.data).where(envs_t.c.id == environment_id)),
        )
        if data is None:
            raise NotFound(f"no environment with id {environment_id}")
        return dict(data)

    # results --------------------------------------------------------------------------

    def _require_run(self, run_id: int) -> None:
        present = exists().where(runs_t.c.id == run_id).select()
        if not self._read(f"reading run {run_id}", lambda c: c.scalar(present)):
            raise RunNotFound(f"no run with id {run_id}")

    def add_results(
        self, run_id: int, results: Iterable[TestResult], batch_size: int = 5000
    ) -> dict[str, int]:
        """Insert results as they stream in; returns the count per outcome (six keys).

        The iterable is consumed ``batch_size`` at a time and each batch is inserted with
        one executemany and committed, so memory stays bounded and the results read before
        a failure (a parser that raises, an interrupt) are kept.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        counts = {o.value: 0 for o in OUTCOMES}
        self._require_run(run_id)
        it = iter(results)
        while True:
            rows: list[TestResult] = list(islice(it, batch_size))
            if not rows:
                break
            for i, (test_id, outcome, _duration, message) in enumerate(rows):
                try:
                    counts[outcome] += 1
                except KeyError:
                    raise ValueError(f"unknown outcome {outcome!r} for {test_id}") from None
                if "\x00" in test_id or (message and "\x00" in message):
                    rows[i] = rows[i]._replace(
                        test_id=no_nul(test_id), message=message and no_nul(message)
                    )
            self._insert_rows(run_id, rows)
        return counts

    def add_result_rows(self, run_id: int, batches: Iterable[Sequence[ResultRow]]) -> int:
        """Insert pre-batched plain rows (from a parser worker); returns how many.

        The caller vouches for the rows (valid outcome values, no NUL characters): the
        worker in :mod:`harness.results.ingest` builds them from parsed results.
        """
        self._require_run(run_id)
        total = 0
        for rows in batches:
            if rows:
                self._insert_rows(run_id, rows)
                total += len(rows)
        return total

    def _insert_rows(self, run_id: int, rows: Sequence[Sequence[Any]]) -> None:
        with self._errors(f"storing results of run {run_id}"), self._writer.begin() as conn:
            bulk_insert_results(conn, run_id, rows)

    def iter_results(
        self, run_id: int, *, outcomes: Collection[str] | None = None
    ) -> Iterator[TestResult]:
        """The run's results in the order they were added, streamed from the database."""
        q = select(*_RESULT_COLUMNS).where(results_t.c.run_id == run_id).order_by(results_t.c.id)
        if outcomes is not None:
            q = q.where(results_t.c.outcome.in_([str(o) for o in outcomes]))
        with self._errors(f"reading results of run {run_id}"), self.engine.connect() as conn:
            for test_id, outcome, duration_s, message in conn.execution_options(
                yield_per=2000
            ).execute(q):
                yield TestResult(test_id, Outcome(outcome), duration_s or 0.0, message)

    def count_results(self, run_id: int) -> int:
        q = select(func.count()).select_from(results_t).where(results_t.c.run_id == run_id)
        return int(self._read(f"counting results of run {run_id}", lambda c: c.scalar(q)) or 0)

    def test_history(
        self, suite: str, test_id: str, *, backend: str | None = None, limit: int = 50
    ) -> list[tuple[RunRecord, TestResult]]:
        """The outcomes of one test in the newest runs of ``suite`` (on ``backend``)."""
        r = results_t.c
        q = (
            select(runs_t, *(c.label(f"r_{c.name}") for c in _RESULT_COLUMNS))
            .join_from(runs_t, results_t, r.run_id == runs_t.c.id)
            .where(r.test_id == test_id, runs_t.c.suite == suite)
            .order_by(runs_t.c.id.desc(), r.id.desc())
            .limit(limit)
        )
        if backend:
            q = q.where(runs_t.c.backend == backend)
        rows = self._read(f"reading the history of {test_id}", lambda c: c.execute(q).all())
        return [
            (
                RunRecord.from_row(row),
                TestResult(
                    row.r_test_id, Outcome(row.r_outcome), row.r_duration_s or 0.0, row.r_message
                ),
            )
            for row in rows
        ]

    # what the verdict needs -----------------------------------------------------------

    def set_run_base(
        self, run_id: int, *, base_sha: str | None, is_default_branch: bool | None
    ) -> None:
        """Record where a run sits on the upstream: its merge base with the default branch
        (a pull request's) and whether it tested the default branch itself.

        The verdict looks for a baseline at ``base_sha``; default-branch runs are the
        baselines and the history flake scores and quarantine suggestions come from.
        """
        values = {"base_sha": base_sha, "is_default_branch": is_default_branch}
        self._write(f"updating run {run_id}", lambda c: self._update_run(c, run_id, **values))

    def add_reruns(
        self,
        run_id: int,
        reruns: Iterable[tuple[str, int, str, float, str | None]],
        *,
        ordering: str | None = None,
    ) -> int:
        """Store re-executions of a run's tests: ``(test_id, attempt, outcome, duration_s,
        message)``, ``attempt`` 1 for the first rerun, all run in test order ``ordering``
        (``seed=N``, ``fixed``; ``None``: not randomized). The first attempt stays in
        ``results``; returns how many rows were added."""
        self._require_run(run_id)
        rows: list[dict[str, Any]] = []
        for test_id, attempt, outcome, duration_s, message in reruns:
            if outcome not in COUNT_COLUMNS:
                raise ValueError(f"unknown outcome {outcome!r} for {test_id}")
            if attempt < 1:
                raise ValueError(f"rerun attempt {attempt} of {test_id}: attempts start at 1")
            rows.append(
                {
                    "run_id": run_id,
                    "test_id": no_nul(test_id),
                    "attempt": attempt,
                    "ordering": ordering,
                    "outcome": str(outcome),
                    "duration_s": duration_s,
                    "message": message and no_nul(message),
                }
            )
        if rows:
            self._write(
                f"storing reruns of run {run_id}", lambda c: c.execute(insert(reruns_t), rows)
            )
        return len(rows)

    def rerun_outcomes(self, run_id: int) -> dict[str, list[Outcome]]:
        """Per test id, the outcomes of its reruns in attempt order (tests without reruns
        are absent)."""
        c = reruns_t.c
        q = select(c.test_id, c.outcome).where(c.run_id == run_id).order_by(c.test_id, c.attempt)
        out: dict[str, list[Outcome]] = {}
        for test_id, outcome in self._read(
            f"reading reruns of run {run_id}", lambda conn: conn.execute(q).all()
        ):
            out.setdefault(test_id, []).append(Outcome(outcome))
        return out

    def attempts(self, run_id: int) -> dict[str, list[TestResult]]:
        """Per test id that was re-run, every attempt in order: the first (its row in
        ``results``), then its reruns by attempt. Tests without reruns are absent, so the
        map is as small as the reruns (a few hundred at most, :mod:`harness.rerun`)."""
        x = reruns_t.c
        q = (
            select(x.test_id, x.outcome, x.duration_s, x.message)
            .where(x.run_id == run_id)
            .order_by(x.test_id, x.attempt)
        )
        reruns: dict[str, list[TestResult]] = {}
        for test_id, outcome, duration_s, message in self._read(
            f"reading reruns of run {run_id}", lambda conn: conn.execute(q).all()
        ):
            reruns.setdefault(test_id, []).append(
                TestResult(test_id, Outcome(outcome), duration_s or 0.0, message)
            )
        if not reruns:
            return {}
        r = results_t.c
        first_q = (
            select(*_RESULT_COLUMNS)
            .where(r.run_id == run_id, r.test_id.in_(list(reruns)))
            .order_by(r.id)
        )
        out: dict[str, list[TestResult]] = {}
        for test_id, outcome, duration_s, message in self._read(
            f"reading the first attempts of run {run_id}", lambda conn: conn.execute(first_q).all()
        ):
            if test_id not in out:
                out[test_id] = [
                    TestResult(test_id, Outcome(outcome), duration_s or 0.0, message),
                    *reruns[test_id],
                ]
        return out

    def outcome_counts(self, run_id: int) -> dict[str, int]:
        """How many of the run's stored results (first attempts) have each outcome, all six
        keys in OUTCOMES order, counted by the database."""
        r = results_t.c
        q = select(r.outcome, func.count()).where(r.run_id == run_id).group_by(r.outcome)
        counts = {o.value: 0 for o in OUTCOMES}
        for outcome, n in self._read(
            f"counting results of run {run_id}", lambda conn: conn.execute(q).all()
        ):
            counts[outcome] = int(n)
        return counts

    def rerun_orderings(self, run_id: int) -> dict[str, list[tuple[Outcome, str | None]]]:
        """Per test id, ``(outcome, ordering)`` of its reruns in attempt order (tests
        without reruns are absent); ``ordering`` as :meth:`add_reruns` stored it."""
        c = reruns_t.c
        q = (
            select(c.test_id, c.outcome, c.ordering)
            .where(c.run_id == run_id)
            .order_by(c.test_id, c.attempt)
        )
        out: dict[str, list[tuple[Outcome, str | None]]] = {}
        for test_id, outcome, ordering in self._read(
            f"reading reruns of run {run_id}", lambda conn: conn.execute(q).all()
        ):
            out.setdefault(test_id, []).append((Outcome(outcome), ordering))
        return out
