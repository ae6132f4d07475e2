"""Read queries the verdict needs: baseline candidates, a run's outcomes, per-test
history over a cell's recent default-branch runs, and streaks for quarantine suggestions.

A *default-branch run* is one recorded with ``is_default_branch`` true or, where that was
not recorded (runs from before the runner filled it), one without a ``ref``. History is
streamed or aggregated in SQL, never loaded whole: a window of many 100k-result runs is a
few million rows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, Select, Table, and_, case, func, or_, select

from harness.results.model import Outcome
from harness.store.models import Job, Result, Run, RunRecord
from harness.store.repository import Store, glob_to_like

runs_t = cast(Table, Run.__table__)
results_t = cast(Table, Result.__table__)
jobs_t = cast(Table, Job.__table__)

#: Statuses of runs whose results are complete: baselines come from these.
COMPLETE = ("passed", "failed")
#: Statuses of runs whose results, possibly cut short, are still outcomes (history).
WITH_RESULTS = ("passed", "failed", "crashed", "timeout")
FAILING_VALUES = (Outcome.FAILED.value, Outcome.ERROR.value)
OK_VALUES = (Outcome.PASSED.value, Outcome.XFAILED.value, Outcome.XPASSED.value)
#: Test ids per ``IN (...)`` list when reading the history of given tests.
CHUNK = 500
_OUTCOMES = {o.value: o for o in Outcome}


def default_branch() -> ColumnElement[bool]:
    """SQL: the run tested the upstream's default branch (see the module docstring)."""
    c = runs_t.c
    return or_(
        c.is_default_branch.is_(True),
        and_(c.is_default_branch.is_(None), c.ref.is_(None)),
    )


def not_bisecting() -> ColumnElement[bool]:
    """SQL: the run is no probe of a bisection (a job with trigger ``bisect``). Probes run
    older commits out of order, in whatever order the search picks them: counted in a
    cell's history by start time, a test that broke once would look as if it flipped."""
    c = runs_t.c
    probes = select(jobs_t.c.id).where(jobs_t.c.trigger == "bisect")
    return or_(c.job_id.is_(None), c.job_id.not_in(probes))


def _records(store: Store, q: Select[Any], doing: str) -> list[RunRecord]:
    return [RunRecord.from_row(r) for r in store._read(doing, lambda c: c.execute(q).all())]


def default_branch_runs(
    store: Store,
    cell: str,
    *,
    limit: int,
    statuses: Sequence[str] = COMPLETE,
    exclude: int | None = None,
) -> list[RunRecord]:
    """The newest ``limit`` default-branch runs of ``cell`` with one of ``statuses``,
    newest first; a bisection's probes are not among them (:func:`not_bisecting`)."""
    c = runs_t.c
    q = (
        select(runs_t)
        .where(c.cell == cell, default_branch(), not_bisecting(), c.status.in_(list(statuses)))
        .order_by(c.started_at.desc(), c.id.desc())
        .limit(limit)
    )
    if exclude is not None:
        q = q.where(c.id != exclude)
    return _records(store, q, f"reading default-branch runs of {cell}")


def baseline_candidates(store: Store, run: RunRecord, *, limit: int = 20) -> list[RunRecord]:
    """Complete default-branch runs of ``run``'s cell a baseline can be chosen from: every
    one at its merge base, the newest ``limit`` of the same selection (subset and args)
    started before it, and the newest few of any selection, which the verdict names when
    none made the same selection (see :func:`harness.verdict.baseline.choose_baseline`)."""
    c = runs_t.c
    mine = and_(c.cell == run.cell, default_branch(), c.status.in_(COMPLETE), c.id != run.id)
    same = and_(
        c.subset.is_(None) if run.subset is None else c.subset == run.subset,
        c.args.is_(None) if run.args is None else c.args == run.args,
    )
    newest = (c.started_at.desc(), c.id.desc())
    before = c.started_at <= run.started_at
    queries = [
        select(runs_t).where(mine, same, before).order_by(*newest).limit(limit),
        select(runs_t).where(mine, before).order_by(*newest).limit(3),
    ]
    if run.base_sha:
        queries.append(select(runs_t).where(mine, c.sha == run.base_sha))
    found: dict[int, RunRecord] = {}
    for q in queries:
        found |= {r.id: r for r in _records(store, q, f"reading baselines for run {run.id}")}
    return sorted(found.values(), key=lambda r: (r.started_at, r.id), reverse=True)


def load_outcomes(
    store: Store, run_id: int, *, message_chars: int = 2000
) -> tuple[dict[str, Outcome], dict[str, str]]:
    """(outcome per test id, message head per failing test id) of one run, streamed.

    When a test id occurs twice in a run (a result file listing it twice), the failing
    occurrence wins, so a failure is never hidden.
    """
    r = results_t.c
    failing = r.outcome.in_(FAILING_VALUES)
    q = (
        select(r.test_id, r.outcome, case((failing, func.substr(r.message, 1, message_chars))))
        .where(r.run_id == run_id)
        .order_by(r.id)
    )
    outcomes: dict[str, Outcome] = {}
    messages: dict[str, str] = {}

    def _load(conn: Connection) -> None:
        for test_id, outcome, message in conn.execution_options(yield_per=5000).execute(q):
            value = _OUTCOMES[outcome]
            if test_id in outcomes and outcomes[test_id] in FAILING_VALUES:
                continue
            outcomes[test_id] = value
            if message and value in FAILING_VALUES:
                messages[test_id] = message

    store._read(f"reading results of run {run_id}", _load)
    return outcomes, messages


def iter_history(
    store: Store, run_ids: Collection[int], test_ids: Iterable[str] | None = None
) -> Iterator[tuple[str, int, str]]:
    """``(test_id, run_id, outcome)`` rows of ``run_ids``, grouped by test id (and in run
    id order within a test), streamed. With ``test_ids``, only those tests (read
    :data:`CHUNK` ids per query through the (test_id, run_id) index)."""
    if not run_ids:
        return
    r = results_t.c
    base = select(r.test_id, r.run_id, r.outcome).order_by(r.test_id, r.run_id)
    in_runs = r.run_id.in_(list(run_ids))
    if test_ids is None:
        queries: Iterable[Select[Any]] = [base.where(in_runs)]
    else:
        ids = iter(sorted(set(test_ids)))
        queries = (
            base.where(in_runs, r.test_id.in_(chunk))
            for chunk in iter(lambda: list(islice(ids, CHUNK)), [])
        )
    for q in queries:
        with store._errors("reading test history"), store.engine.connect() as conn:
            rows = conn.execution_options(yield_per=5000).execute(q)
            yield from ((test_id, run_id, outcome) for test_id, run_id, outcome in rows)


@dataclass(frozen=True, slots=True)
class OutcomeCounts:
    """How many of some runs a test was ok in, failing in, and present in."""

    ok: int
    failing: int
    seen: int


def outcome_counts(
    store: Store,
    run_ids: Collection[int],
    *,
    failing_in_all: bool = False,
    like: Sequence[str] | None = None,
) -> dict[str, OutcomeCounts]:
    """Per test id, its counts over ``run_ids``, aggregated in SQL.

    ``failing_in_all``: only tests failing in every one of the runs (quarantine
    additions). ``like``: only test ids matching one of these globs (``*``/``?``; a
    pre-filter, the caller matches exactly).
    """
    if not run_ids:
        return {}
    r = results_t.c
    ok = func.sum(case((r.outcome.in_(OK_VALUES), 1), else_=0))
    failing = func.sum(case((r.outcome.in_(FAILING_VALUES), 1), else_=0))
    q = (
        select(r.test_id, ok, failing, func.count())
        .where(r.run_id.in_(list(run_ids)))
        .group_by(r.test_id)
    )
    if failing_in_all:
        q = q.having(failing >= len(run_ids))
    if like is not None:
        if not like:
            return {}
        q = q.where(or_(*(r.test_id.like(glob_to_like(_as_fnmatch(p)), escape="\\") for p in like)))
    rows = store._read("counting outcomes", lambda c: c.execute(q).all())
    return {t: OutcomeCounts(int(o or 0), int(f or 0), int(n)) for t, o, f, n in rows}


def _as_fnmatch(pattern: str) -> str:
    """A quarantine glob (``[`` literal) as an fnmatch pattern for :func:`glob_to_like`."""
    return pattern.replace("[", "[[]")


def failing_messages(store: Store, run_id: int, test_ids: Collection[str]) -> dict[str, str]:
    """The first line of the message of each of ``test_ids`` that failed in ``run_id``."""
    r = results_t.c
    out: dict[str, str] = {}
    ids = iter(sorted(test_ids))

    def _read(conn: Connection, chunk: list[str]) -> None:
        q = select(r.test_id, func.substr(r.message, 1, 500)).where(
            r.run_id == run_id, r.test_id.in_(chunk), r.outcome.in_(FAILING_VALUES)
        )
        for test_id, message in conn.execute(q):
            if message and message.strip():
                out[test_id] = message.strip().splitlines()[0]

    for chunk in iter(lambda: list(islice(ids, CHUNK)), []):
        store._read("reading messages", partial(_read, chunk=chunk))
    return out


def reference_run(store: Store, suite: str, backend: str, sha: str) -> RunRecord | None:
    """The latest complete run of ``suite`` on ``backend`` at ``sha`` (any variant)."""
    c = runs_t.c
    q = (
        select(runs_t)
        .where(c.suite == suite, c.backend == backend, c.sha == sha, c.status.in_(COMPLETE))
        .order_by(c.started_at.desc(), c.id.desc())
        .limit(1)
    )
    found = _records(store, q, f"reading {suite}/{backend} runs at {sha[:12]}")
    return found[0] if found else None


def cells_of(store: Store, suite: str, backend: str) -> list[str]:
    """The cells of ``suite`` on ``backend`` that have runs, sorted."""
    c = runs_t.c
    q = select(c.cell).where(c.suite == suite, c.backend == backend).distinct().order_by(c.cell)
    return [
        row[0]
        for row in store._read(f"reading cells of {suite}/{backend}", lambda x: x.execute(q).all())
    ]


def ids_in_runs(store: Store, run_ids: Collection[int]) -> list[str]:
    """The distinct test ids of ``run_ids``, sorted."""
    if not run_ids:
        return []
    r = results_t.c
    q = select(r.test_id).where(r.run_id.in_(list(run_ids))).distinct().order_by(r.test_id)
    return [row[0] for row in store._read("reading test ids", lambda c: c.execute(q).all())]
