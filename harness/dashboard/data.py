"""What the dashboard shows, read from the store (the one module of the dashboard that
reads it, through :class:`harness.store.views.Views`). Every page reads a bounded
amount: the overview reads the newest runs per cell (``runs`` already holds each run's
counts), a grid reads one page of runs of one cell and their results, a run page one run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from harness.bisect.answer import Answer, read_answer, read_answers
from harness.matrix import CELL_ID_RE
from harness.store import RunRecord, Store
from harness.store.coverage import OpCoverage, op_coverage

log = logging.getLogger("harness.dashboard")

#: runs per cell in the overview's trend line
TREND = 20
#: a cell whose newest result is older than this is stale
STALE_AFTER = timedelta(days=3)
#: what a run's status means on the dashboard
OK_STATUSES = frozenset({"passed"})
FAILED_STATUSES = frozenset({"failed"})
INFRA_STATUSES = frozenset({"error", "crashed", "timeout", "cancelled"})


def pass_rate(run: RunRecord) -> float | None:
    """Passed (and xfailed) over everything that ran (skips left out)."""
    c = run.counts
    ran = c["passed"] + c["failed"] + c["error"] + c["xfailed"] + c["xpassed"]
    return None if ran == 0 else (c["passed"] + c["xfailed"]) / ran


def all_explained(run: RunRecord) -> bool:
    return run.all_explained


def run_label(run: RunRecord) -> str:
    return run.label


def run_state(run: RunRecord | None) -> str:
    """pass, known (its failures are all known ones), fail, infra, running or missing:
    the colour of a cell."""
    if run is None:
        return "missing"
    if run.status in OK_STATUSES:
        return "pass"
    if all_explained(run):
        return "known"
    if run.status in FAILED_STATUSES:
        return "fail"
    if run.status == "running":
        return "running"
    return "infra"


@dataclass(frozen=True, slots=True)
class CellSummary:
    cell: str
    suite: str
    backend: str
    variant: str
    latest: RunRecord | None
    #: pass rates of the newest runs, oldest first (None: nothing ran)
    trend: list[float | None]
    #: test cases that ran on this backend vs on the reference backend (cpu), newest runs
    coverage: float | None
    stale: bool

    @property
    def slug(self) -> str:
        return self.cell.replace("/", "__")

    @property
    def state(self) -> str:
        return run_state(self.latest)

    @property
    def rate(self) -> float | None:
        return pass_rate(self.latest) if self.latest else None

    @property
    def label(self) -> str:
        """What the tile says: the state, the known failures counted."""
        if self.latest is not None and self.latest.explained and self.state in ("known", "fail"):
            n = self.latest.explained
            return f"known failures ({n})" if self.state == "known" else f"fail ({n} known)"
        return self.state


def _ran(run: RunRecord) -> int:
    c = run.counts
    return c["passed"] + c["failed"] + c["error"] + c["xfailed"] + c["xpassed"]


def overview(
    store: Store, expected: Iterable[str] = (), *, now: datetime | None = None
) -> list[CellSummary]:
    """One summary per cell that has runs, plus ``expected`` cells without any
    (missing), sorted by suite, backend, variant."""
    now = now or datetime.now(UTC)
    with store.reading("reading the overview") as r:
        by_cell = r.views.newest_runs_per_cell(TREND)
    for cell in [c for c in by_cell if not CELL_ID_RE.fullmatch(c)]:
        # a cell id no matrix makes (a hand-made or hostile bundle): never a page or a
        # file name; the rest of the dashboard is shown
        log.warning("cell id %r is not suite/backend/variant: left out of the dashboard", cell)
        del by_cell[cell]
    newest_ran: dict[tuple[str, str], int] = {}
    for cell, runs in by_cell.items():
        suite, backend, _ = cell.split("/")
        if backend == "cpu":
            newest_ran[(suite, backend)] = max(newest_ran.get((suite, backend), 0), _ran(runs[0]))
    out = []
    for cell in sorted(set(by_cell) | {c for c in expected if CELL_ID_RE.fullmatch(c)}):
        suite, backend, variant = cell.split("/")
        runs = by_cell.get(cell, [])
        latest = runs[0] if runs else None
        reference = newest_ran.get((suite, "cpu"))
        coverage = (
            _ran(latest) / reference
            if latest is not None and reference and backend != "cpu"
            else None
        )
        out.append(
            CellSummary(
                cell=cell,
                suite=suite,
                backend=backend,
                variant=variant,
                latest=latest,
                trend=[pass_rate(r) for r in reversed(runs)],
                coverage=coverage,
                stale=latest is None or now - latest.started_at > STALE_AFTER,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Grid:
    cell: str
    #: newest first
    runs: list[RunRecord]
    #: (test id, outcome per run in ``runs`` order or None where it did not run)
    rows: list[tuple[str, list[str | None]]]
    total_tests: int
    page: int
    pages: int
    query: str = ""
    status: str = ""
    older: int | None = None


GRID_RUNS, GRID_TESTS = 30, 300
BAD = frozenset({"failed", "error", "xpassed"})


def grid(
    store: Store,
    cell: str,
    *,
    query: str = "",
    status: str = "",
    page: int = 1,
    before_id: int | None = None,
    runs_per_page: int = GRID_RUNS,
    tests_per_page: int = GRID_TESTS,
) -> Grid:
    """Tests x the newest runs of ``cell``: tests failing in any shown run first (most
    failures first), then by name; ``query`` keeps test ids containing it, ``status``
    (failing, passing, flaky) keeps tests by their outcomes across the shown runs."""
    with store.reading("reading grid runs") as r:
        runs = r.views.cell_runs(cell, before_id=before_id, limit=runs_per_page + 1)
    older = runs[runs_per_page].id + 1 if len(runs) > runs_per_page else None
    runs = runs[:runs_per_page]
    return _table(
        store, cell, runs, query=query, status=status, page=page,
        tests_per_page=tests_per_page, older=older,
    )  # fmt: skip


def upstream_grid(
    store: Store,
    suite: str,
    *,
    query: str = "",
    status: str = "",
    page: int = 1,
    tests_per_page: int = GRID_TESTS,
) -> Grid:
    """Tests x every cell of ``suite`` (its newest finished run each): one upstream
    across backends and images at test level."""
    with store.reading("reading an upstream's cells") as r:
        runs = r.views.newest_run_per_cell_of(suite)
    return _table(
        store, suite, runs, query=query, status=status, page=page, tests_per_page=tests_per_page
    )


def _table(
    store: Store,
    title: str,
    runs: list[RunRecord],
    *,
    query: str,
    status: str,
    page: int,
    tests_per_page: int,
    older: int | None = None,
) -> Grid:
    index = {r.id: i for i, r in enumerate(runs)}
    table: dict[str, list[str | None]] = {}
    if runs:
        with store.reading("reading grid results") as r:
            for run_id, test_id, outcome in r.views.outcomes(list(index)):
                row = table.get(test_id)
                if row is None:
                    row = table[test_id] = [None] * len(runs)
                row[index[run_id]] = outcome
    needle = query.strip().lower()
    rows = []
    for test_id, outcomes in table.items():
        if needle and needle not in test_id.lower():
            continue
        bad = sum(o in BAD for o in outcomes)
        good = sum(o in {"passed", "xfailed"} for o in outcomes)
        if status == "failing" and not bad:
            continue
        if status == "passing" and bad:
            continue
        if status == "flaky" and not (bad and good):
            continue
        rows.append((-bad, test_id, outcomes))
    rows.sort()
    total = len(rows)
    pages = max(1, -(-total // tests_per_page))
    page = min(max(1, page), pages)
    shown = rows[(page - 1) * tests_per_page : page * tests_per_page]
    return Grid(
        cell=title,
        runs=runs,
        rows=[(t, o) for _, t, o in shown],
        total_tests=total,
        page=page,
        pages=pages,
        query=query,
        status=status,
        older=older,
    )


@dataclass(frozen=True, slots=True)
class PullRequestView:
    sha: str
    runs: list[RunRecord]


def runs_at(store: Store, sha: str) -> PullRequestView:
    """The newest run of every cell at commit ``sha`` (a PR head)."""
    with store.reading("reading runs at a commit") as r:
        runs = r.views.runs_at(sha)
    newest: dict[str, RunRecord] = {}
    for run in runs:
        newest.setdefault(run.cell, run)
    return PullRequestView(sha, list(newest.values()))


def pr_heads(store: Store, limit: int = 200) -> list[tuple[str, str | None, int, datetime]]:
    """(sha, ref, cells, newest start) of commits tested from pull-request refs."""
    with store.reading("listing pull-request heads") as r:
        rows = r.views.pr_heads(limit)
    out = []
    for sha, ref, n, newest in rows:
        aware = newest if newest.tzinfo else newest.replace(tzinfo=UTC)
        out.append((sha, ref, int(n), aware))
    return out


@dataclass
class OpMatrix:
    """Ops x backends from each backend's newest run with op results."""

    backends: list[str] = field(default_factory=list)
    runs: dict[str, int] = field(default_factory=dict)
    #: op → backend → aggregate over that run's devices (the first device)
    cells: dict[str, dict[str, OpCoverage]] = field(default_factory=dict)


def op_matrix(store: Store, suite: str = "llama.cpp") -> OpMatrix:
    with store.reading("finding op coverage runs") as r:
        latest = r.views.newest_op_runs(suite)
    matrix = OpMatrix()
    for backend, run_id in sorted(latest):
        matrix.backends.append(backend)
        matrix.runs[backend] = int(run_id)
        first_device: str | None = None
        for cov in sorted(op_coverage(store, int(run_id)), key=lambda o: (o.device, o.op)):
            first_device = first_device or cov.device
            if cov.device != first_device:
                continue
            matrix.cells.setdefault(cov.op, {})[backend] = cov
    return matrix


def latest_for(store: Store, suite: str, backend: str) -> RunRecord | None:
    """The newest finished run of any variant of suite x backend (for badges)."""
    with store.reading("reading the newest run") as r:
        return r.views.latest_finished(suite, backend)


#: bisections listed on a cell page
CELL_BISECTIONS = 20


def run_bisections(store: Store, run: RunRecord) -> list[Answer]:
    """The bisections about ``run`` (its bad end is the run, or they probed its cell at
    its commit), newest first, summarized."""
    with store.reading("reading a run's bisections") as r:
        return read_answers(r, r.bisections.about_run(run.id, run.cell, run.sha))


def cell_bisections(store: Store, cell: str, limit: int = CELL_BISECTIONS) -> list[Answer]:
    """The newest bisections of ``cell``, summarized."""
    with store.reading("reading a cell's bisections") as r:
        return read_answers(r, r.bisections.of_cell(cell, limit=limit))


def bisection(store: Store, bisection_id: int) -> Answer | None:
    """One bisection with its evidence (``None``: no such bisection)."""
    with store.reading(f"reading bisection {bisection_id}") as r:
        record = r.bisections.get(bisection_id)
        return read_answer(r, record) if record is not None else None


def bisection_ids(store: Store, cell: str, runs: Iterable[RunRecord]) -> set[int]:
    """The ids of the bisections a cell page and its runs' pages link to (the static
    site writes a page for each)."""
    with store.reading("listing a cell's bisections") as r:
        ids = {b.id for b in r.bisections.of_cell(cell, limit=CELL_BISECTIONS)}
        for run in runs:
            ids.update(b.id for b in r.bisections.about_run(run.id, run.cell, run.sha))
    return ids
