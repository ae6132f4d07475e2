"""``harness bisect CELL [TEST...] --good REF --bad REF``, ``bisect show ID``, ``bisect list``:
find the upstream commit that first broke a cell's tests, and read stored bisections."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.backends.target import BackendDetector
from harness.bisect.bisection import BisectionReport, run_bisection
from harness.bisect.commits import Commit, History
from harness.bisect.probe import Prober
from harness.cli.options import db_option, default_cache_dir, json_option, suites_option
from harness.config.loader import default_suites_dir, load_suites
from harness.errors import ConfigError
from harness.executors.registry import make_executor
from harness.matrix import select
from harness.planner import all_cells, for_executor, image_matrix
from harness.reporting.console import ConsoleDisplay
from harness.runner import RunOptions
from harness.source.checkout import update_mirror
from harness.store import NotFound, Store
from harness.store.bisections import BisectionRecord, ProbeRecord


class _DefaultToStart(click.Group):
    """``harness bisect CELL ...`` is ``harness bisect start CELL ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["start", *args]
        return super().parse_args(ctx, args)


@click.group(
    cls=_DefaultToStart,
    short_help="Find the upstream commit that first broke a cell's tests (flake-aware).",
)
def bisect() -> None:
    """Find the upstream commit that first broke a cell's tests (flake-aware), and read
    stored bisections. `harness bisect CELL [TEST...] --good REF --bad REF` starts one."""


@bisect.command("start")
@click.argument("cell_pattern", metavar="CELL")
@click.argument("tests", nargs=-1)
@click.option("--good", required=True, metavar="REF", help="A commit where the tests pass.")
@click.option("--bad", required=True, metavar="REF", help="A later commit where they fail.")
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
    help="The most commits to probe. Default: ceil(log2(candidates)) + 3.",
)
@click.option(
    "--test-args",
    metavar="ARGS",
    help="The selection for the probes' runs instead of the tests' pytest node ids.",
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
    """
    suites = load_suites(suites_dir or default_suites_dir())
    cells = for_executor(select(all_cells(suites, image_matrix()), [cell_pattern], []), executor)
    if len(cells) != 1:
        names = ", ".join(c.id for c in cells[:5]) or "none"
        raise ConfigError(f"'{cell_pattern}' must match exactly one cell (matches: {names})")
    cell = cells[0]
    suite = suites[cell.suite]
    cache = (cache_dir or default_cache_dir()).resolve()
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


def _load(store: Store, bisection_id: int) -> tuple[BisectionRecord, list[ProbeRecord]]:
    with store.reading(f"reading bisection {bisection_id}") as r:
        record = r.bisections.get(bisection_id)
        if record is None:
            raise NotFound(
                f"no bisection with id {bisection_id}",
                hint="`harness bisect list` shows the bisections",
            )
        return record, r.bisections.probes(bisection_id)


def bisection_json(record: BisectionRecord, probes: list[ProbeRecord]) -> dict[str, Any]:
    return {**record.as_json(), "probes": [p.as_json() for p in probes]}


@bisect.command("show")
@click.argument("bisection_id", type=int)
@db_option
@json_option
def show(bisection_id: int, db_url: str | None, as_json: bool) -> None:
    """Show a stored bisection: outcome, reason and every probe with its runs."""
    with Store.open(db_url) as store:
        record, probes = _load(store, bisection_id)
    if as_json:
        json.dump(bisection_json(record, probes), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    out = Console()
    out.print(
        f"[bold]bisection {record.id}[/] {record.cell} "
        f"{record.good_sha[:12]}..{record.bad_sha[:12]} {record.status} "
        f"{record.outcome or ''}: {escape(record.reason or '')}"
    )
    out.print(f"tests: {', '.join(record.tests)}")
    table = Table("role", "commit", "verdict", "runs", "reused", "outcomes")
    for p in probes:
        table.add_row(
            p.role,
            p.sha[:12],
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
        records = r.bisections.recent(limit=limit)
    if as_json:
        json.dump({"bisections": [b.as_json() for b in records]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    table = Table("id", "cell", "range", "status", "outcome", "reason")
    for b in records:
        table.add_row(
            str(b.id),
            b.cell,
            f"{b.good_sha[:8]}..{b.bad_sha[:8]}",
            b.status,
            b.outcome or "-",
            escape(b.reason or ""),
        )
    Console().print(table)
