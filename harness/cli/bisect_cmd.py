"""``harness bisect CELL [TEST...] --good REF --bad REF``, ``harness bisect CELL --stack
--good RUN --bad RUN``, ``bisect show ID``, ``bisect list``: find the upstream commit (or
the stack component and version) that first broke a cell's tests, and read stored
bisections."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.backends.target import BackendDetector
from harness.bisect.answer import Answer, listed_bisections, read_answer
from harness.bisect.bisection import BisectionReport, run_bisection
from harness.bisect.commits import Commit, History
from harness.bisect.probe import Prober
from harness.bisect.stack_bisection import (
    StackBisectionReport,
    check_stack_runs,
    create_stack_bisection,
    run_stack_bisection,
)
from harness.cli.options import db_option, default_cache_dir, json_option, suites_option
from harness.config.loader import default_suites_dir, load_suites
from harness.config.suite import Suite
from harness.errors import EXIT_OK, EXIT_TEST_FAILURES, ConfigError
from harness.executors.registry import make_executor
from harness.matrix import Cell, matches, select
from harness.planner import all_cells, for_executor, image_matrix
from harness.reporting.console import ConsoleDisplay
from harness.runner import Display, RunOptions
from harness.source.checkout import update_mirror
from harness.store import NotFound, Store
from harness.store.bisections import BisectionRecord, ProbeRecord


class _DefaultToStart(click.Group):
    """``harness bisect CELL ...`` is ``harness bisect start CELL ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["start", *args]
        return super().parse_args(ctx, args)


EXIT_CODES = (
    "Exit codes: 0 a culprit found (the first bad commit, or the stack component); "
    "1 none (a range, flaky, the budget spent, no change); 2 configuration error."
)


@click.group(
    cls=_DefaultToStart,
    short_help="Find the upstream commit that first broke a cell's tests (flake-aware).",
    epilog=EXIT_CODES,
)
def bisect() -> None:
    """Find the upstream commit (or, with --stack, the stack component and version) that
    first broke a cell's tests (flake-aware), and read stored bisections.
    `harness bisect CELL [TEST...] --good REF --bad REF` starts one;
    `harness bisect CELL --stack --good RUN --bad RUN` bisects across the stack."""


@bisect.command("start", epilog=EXIT_CODES)
@click.argument("cell_pattern", metavar="CELL")
@click.argument("tests", nargs=-1)
@click.option(
    "--good",
    required=True,
    metavar="REF|RUN",
    help="A commit where the tests pass (with --stack: the id of a run where they pass).",
)
@click.option(
    "--bad",
    required=True,
    metavar="REF|RUN",
    help="A later commit where they fail (with --stack: the id of a run where they fail).",
)
@click.option(
    "--stack",
    "across_stack",
    is_flag=True,
    help="Bisect across the stack: --good and --bad are runs of CELL at one upstream "
    "commit whose declared stack components (`stack:`) differ.",
)
@click.option(
    "--test",
    "test_opts",
    multiple=True,
    metavar="TEST_ID",
    help="A test to follow (as stored; repeatable); the same as naming it after CELL.",
)
@click.option(
    "--repeats",
    type=click.IntRange(1, 10),
    default=3,
    show_default=True,
    help="Attempts of a failing test per commit before calling it failing (doubled for a "
    "test whose stored history flipped); a test that passes on one is flaky.",
)
@click.option(
    "--max-probes",
    type=click.IntRange(1, 200),
    default=None,
    help="The most commits to probe (with --stack: versions of the component named). "
    "Default: ceil(log2(candidates)) + 3.",
)
@click.option(
    "--test-args",
    metavar="ARGS",
    help="The selection for the probes' runs instead of the tests by name (pytest node "
    "ids, or a --gtest_filter for googletest results); needed for other result formats "
    "(ctest, test-backend-ops).",
)
@click.option("--executor", default="local", show_default=True, help="Where steps run.")
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Mirrors, worktrees and environments. Default: $HARNESS_CACHE or ~/.cache/harness.",
)
@click.option(
    "--out-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("reports/out"),
    show_default=True,
    help="The probes' logs go to OUT_DIR/<job-id>/.",
)
@db_option
@suites_option
@json_option
def start(
    cell_pattern: str,
    tests: tuple[str, ...],
    good: str,
    bad: str,
    across_stack: bool,
    test_opts: tuple[str, ...],
    repeats: int,
    max_probes: int | None,
    test_args: str | None,
    executor: str,
    cache_dir: Path | None,
    out_dir: Path,
    db_url: str | None,
    suites_dir: Path | None,
    as_json: bool,
) -> None:
    """Bisect CELL (one cell id, or a pattern matching one) between --good and --bad.

    TESTS default to those failing in the bad commit's run and not in the good one's
    (read from the database; a side without a run is run first). Candidates are the
    first-parent commits after --good up to --bad: a break that came in through a merge is
    found as that merge. Each probe runs only the tests through the normal cell path,
    recorded as runs of a `bisect` job, and reuses runs the database already has.

    With --stack, --good and --bad are runs at one upstream commit whose fingerprints
    differ in declared stack components (CELL matches the bad run's cell; the good run may
    be of another image variant when the suite declares its image component): each
    changed component is tried alone on the good stack, and the versions of the one that
    flips the tests (from its wheel folder, index or the image matrix) are bisected. A
    probe reuses a stored run of the cell at that commit with the same version of every
    declared component; a probe of another image variant runs that variant's cell.
    """
    suites = load_suites(suites_dir or default_suites_dir())
    cache = (cache_dir or default_cache_dir()).resolve()
    tests = (*tests, *test_opts)
    if across_stack:
        code = _start_stack(
            cell_pattern,
            suites,
            _run_id(good, "--good"),
            _run_id(bad, "--bad"),
            list(tests),
            repeats=repeats,
            max_probes=max_probes,
            test_args=test_args,
            executor=executor,
            cache=cache,
            out_dir=out_dir,
            db_url=db_url,
            suites_dir=suites_dir,
            as_json=as_json,
        )
        raise click.exceptions.Exit(code)
    cells = for_executor(select(all_cells(suites, image_matrix()), [cell_pattern], []), executor)
    if len(cells) != 1:
        names = ", ".join(c.id for c in cells[:5]) or "none"
        raise ConfigError(f"'{cell_pattern}' must match exactly one cell (matches: {names})")
    cell = cells[0]
    suite = suites[cell.suite]
    console = Console(stderr=True)
    console.print(f"fetching {suite.upstream.clone_url}", highlight=False)
    history = History(update_mirror(suite.upstream.clone_url, cache))
    good_sha, bad_sha = history.resolve(good), history.resolve(bad)
    store = Store.open(db_url)
    try:
        job_id = store.create_job("bisect", cell.id, f"{good_sha[:12]}..{bad_sha[:12]}")
        job_out = (out_dir / job_id).resolve()
        job_out.mkdir(parents=True, exist_ok=True)
        console.print(f"bisection job [bold]{job_id}[/] of {cell.id}", highlight=False)
        with ConsoleDisplay(console) as display:
            prober = Prober(
                cell=cell,
                suite=suite,
                tests=list(tests),
                target=BackendDetector().target(cell.backend, None),
                store=store,
                executor=make_executor(executor, cache),
                options=RunOptions(
                    cache_dir=cache, suites_dir=(suites_dir or default_suites_dir()).resolve()
                ),
                job_id=job_id,
                out_dir=job_out,
                display=display,
                repeats=repeats,
                test_args=test_args,
            )
            report = run_bisection(
                prober,
                history,
                repo=suite.upstream.repo,
                good=good_sha,
                bad=bad_sha,
                max_probes=max_probes,
                say=lambda text: console.print(escape(text), highlight=False),
            )
        store.finish_job(job_id, "done")
    finally:
        store.close()
    if as_json:
        json.dump(report.as_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_report(report)
    raise click.exceptions.Exit(EXIT_OK if report.first_bad is not None else EXIT_TEST_FAILURES)


def _run_id(value: str, option: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(
            f"{option} {value!r}: with --stack, {option} is a run id",
            hint="`harness runs` lists the runs of a cell",
        ) from None


def _start_stack(
    cell_pattern: str,
    suites: Mapping[str, Suite],
    good_id: int,
    bad_id: int,
    tests: list[str],
    *,
    repeats: int,
    max_probes: int | None,
    test_args: str | None,
    executor: str,
    cache: Path,
    out_dir: Path,
    db_url: str | None,
    suites_dir: Path | None,
    as_json: bool,
) -> int:
    """``harness bisect CELL --stack``: a stored stack bisection of the bad run's cell
    (which ``cell_pattern`` must match; its image variant may be one the suite does not
    list); the exit code."""
    console = Console(stderr=True)

    def say(text: str) -> None:
        console.print(escape(text), highlight=False)

    matrix = image_matrix()
    store = Store.open(db_url)
    try:
        good, bad = store.get_run(good_id), store.get_run(bad_id)
        cell = Cell.parse(bad.cell)
        if not matches(cell.id, cell_pattern):
            raise ConfigError(f"'{cell_pattern}' does not match run {bad_id}'s cell {cell}")
        for_executor([cell], executor)  # the executor runs this kind of cell
        if cell.suite not in suites:
            raise ConfigError(f"run {bad_id}'s suite '{cell.suite}' is not among the suites")
        suite = suites[cell.suite]
        check_stack_runs(suite, cell.id, good, bad, store)
        assert good.sha is not None
        job_id = store.create_job("bisect", cell.id, f"stack {good_id}..{bad_id}")
        job_out = (out_dir / job_id).resolve()
        job_out.mkdir(parents=True, exist_ok=True)
        console.print(f"stack bisection job [bold]{job_id}[/] of {cell.id}", highlight=False)
        bisection_id = create_stack_bisection(
            store,
            cell=cell.id,
            suite=suite.name,
            repository=suite.upstream.repo,
            good=good,
            bad=bad,
            tests=tests,
            repeats=repeats,
            job_id=job_id,
        )
        with ConsoleDisplay(console) as display:

            def make_prober(_record: BisectionRecord) -> Prober:
                prober = _prober(
                    cell, suite, store, executor, cache, suites_dir, job_id, job_out, display
                )
                prober.test_args = test_args
                return prober

            report = run_stack_bisection(
                store,
                bisection_id,
                make_prober,
                matrix=matrix,
                max_probes=max_probes,
                say=say,
            )
        store.finish_job(job_id, "done")
    finally:
        store.close()
    if as_json:
        json.dump(report.as_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_stack_report(report)
    return EXIT_OK if report.culprit else EXIT_TEST_FAILURES


def _prober(
    cell: Cell,
    suite: Suite,
    store: Store,
    executor: str,
    cache: Path,
    suites_dir: Path | None,
    job_id: str,
    job_out: Path,
    display: Display,
) -> Prober:
    return Prober(
        cell=cell,
        suite=suite,
        tests=[],
        target=BackendDetector().target(cell.backend, None),
        store=store,
        executor=make_executor(executor, cache),
        options=RunOptions(
            cache_dir=cache, suites_dir=(suites_dir or default_suites_dir()).resolve()
        ),
        job_id=job_id,
        out_dir=job_out,
        display=display,
    )


def _pins(pins: dict[str, str] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((pins or {}).items())) or "-"


def _print_stack_report(report: StackBisectionReport) -> None:
    out = Console()
    out.print(f"[bold]stack bisection {report.bisection_id}[/]: {escape(report.reason)}")
    for change in report.changes:
        out.print(f"changed: {change.name} {change.good} → {change.bad}", highlight=False)
    if report.component is not None and report.culprit:
        what = f"{report.component} {report.version}" if report.version else report.component
        out.print(f"[bold red]culprit[/]: {escape(what)}")
    for s in report.steps:
        p = s.report
        runs = [f"reused run(s) {p.reused_runs}"] if p.reused_runs else []
        runs += [f"new run(s) {p.new_runs}"] if p.new_runs else []
        out.print(
            f"{s.role}: {escape(_pins(p.pins))} → {p.verdict.value} ({escape('; '.join(runs))})",
            highlight=False,
        )
    reused, new = report.runs()
    out.print(
        f"probes: {report.probe_count} (budget {report.max_probes}); runs reused: "
        f"{len(reused)} {reused}; new: {len(new)} {new}"
    )


def _commit_line(c: Commit, repo: str) -> str:
    url = c.pr_url(repo)
    return f"{c.sha[:12]} {c.subject}\n  {c.author}, {c.date}" + (f"\n  {url}" if url else "")


def _print_report(report: BisectionReport) -> None:
    out = Console()
    out.print(f"[bold]bisection {report.bisection_id}[/]: {escape(report.reason)}")
    if report.first_bad is not None:
        out.print(
            "[bold red]first bad commit[/]: " + escape(_commit_line(report.first_bad, report.repo))
        )
    elif report.suspects and report.outcome != "flaky":
        out.print("first bad is one of:")
        for c in report.suspects:
            out.print("  " + escape(_commit_line(c, report.repo)))
    for test, evidence in report.flaky.items():
        out.print(
            f"[yellow]flaky[/] {escape(test)} at {evidence['sha'][:12]}: "
            f"{', '.join(evidence['outcomes'])}"
        )
    reused, new = report.runs()
    out.print(
        f"probes: {report.probe_count} (budget {report.max_probes}, "
        f"{report.candidates} candidate(s)); runs reused: {len(reused)} "
        f"{reused}; new: {len(new)} {new}"
    )


def _load(store: Store, bisection_id: int) -> tuple[BisectionRecord, list[ProbeRecord], Answer]:
    with store.reading(f"reading bisection {bisection_id}") as r:
        record = r.bisections.get(bisection_id)
        if record is None:
            raise NotFound(
                f"no bisection with id {bisection_id}",
                hint="`harness bisect list` shows the bisections",
            )
        return record, r.bisections.probes(bisection_id), read_answer(r, record)


def bisection_json(
    record: BisectionRecord, probes: list[ProbeRecord], answer: Answer | None = None
) -> dict[str, Any]:
    out = {**record.as_json(), "probes": [p.as_json() for p in probes]}
    if answer is not None:
        out |= {
            "headline": answer.headline,
            "confidence": answer.confidence,
            "confidence_reason": answer.confidence_reason,
        }
    return out


@bisect.command("show")
@click.argument("bisection_id", type=int)
@db_option
@json_option
def show(bisection_id: int, db_url: str | None, as_json: bool) -> None:
    """Show a stored bisection: outcome, reason and every probe with its runs."""
    with Store.open(db_url) as store:
        record, probes, answer = _load(store, bisection_id)
    if as_json:
        json.dump(bisection_json(record, probes, answer), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    out = Console()
    stack = record.kind == "stack"
    where = (
        f"runs {record.good_run_id}..{record.bad_run_id} at {record.good_sha[:12]}"
        if stack
        else f"{record.good_sha[:12]}..{record.bad_sha[:12]}"
    )
    out.print(
        f"[bold]{'stack ' if stack else ''}bisection {record.id}[/] {record.cell} {where}: "
        f"{escape(answer.headline)}",
        highlight=False,
    )
    if answer.confidence is not None:
        out.print(
            f"confidence {answer.confidence}: {escape(answer.confidence_reason)}", highlight=False
        )
    if answer.culprit is not None and answer.culprit.pr_url:
        out.print(f"pull request: {answer.culprit.pr_url}", highlight=False)
    out.print(f"{record.status} {record.outcome or ''}: {escape(record.reason or '')}")
    out.print(f"tests: {', '.join(answer.tests)}")
    if stack and record.result:
        for change in record.result.get("changes", []):
            out.print(
                f"changed: {change['component']} {change['good']} → {change['bad']}",
                highlight=False,
            )
        if record.result.get("component") and record.outcome in ("found", "component"):
            version = record.result.get("version") or " or ".join(record.result["suspects"])
            out.print(f"[bold red]culprit[/]: {escape(record.result['component'])} {version}")
        for field, (a, b) in record.result.get("differences", {}).items():
            out.print(f"differs: {field} {a} → {b}", highlight=False)
    table = Table("role", "pins" if stack else "commit", "verdict", "runs", "reused", "outcomes")
    for p in probes:
        table.add_row(
            p.role,
            escape(_pins(p.pins)) if stack else p.sha[:12],
            p.verdict,
            ", ".join(map(str, p.run_ids)),
            "yes" if p.reused else "no",
            escape("; ".join(f"{t}: {' '.join(o)}" for t, o in p.outcomes.items())),
        )
    out.print(table)


@bisect.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=30, show_default=True)
@db_option
@json_option
def list_(limit: int, db_url: str | None, as_json: bool) -> None:
    """List stored bisections, newest first."""
    with Store.open(db_url) as store, store.reading("listing bisections") as r:
        rows = listed_bisections(r, limit)
    if as_json:
        json.dump({"bisections": rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    table = Table("id", "kind", "cell", "range", "status", "answer")
    for b in rows:
        answer = b["headline"] + (f", confidence {b['confidence']}" if b["confidence"] else "")
        table.add_row(
            str(b["id"]),
            b["kind"],
            b["cell"],
            f"runs {b['good_run_id']}..{b['bad_run_id']} @{b['good_sha'][:8]}"
            if b["kind"] == "stack"
            else f"{b['good_sha'][:8]}..{b['bad_sha'][:8]}",
            b["status"],
            escape(answer),
        )
    Console().print(table)
