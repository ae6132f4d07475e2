"""``harness verdict RUN`` and ``harness compare A B``: a run judged against its baseline."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from harness.cli.options import db_option, json_option, suites_option
from harness.config.loader import default_suites_dir
from harness.errors import EXIT_OK, EXIT_TEST_FAILURES, ConfigError
from harness.store import Store
from harness.test_order import orders_text
from harness.verdict.categories import FAILING, LABELS, LISTED, Category, Classification, Conclusion
from harness.verdict.classify import EXPLAINING_KEYS
from harness.verdict.coverage import Coverage
from harness.verdict.flaky import DEFAULT_MIN_FLIPS, DEFAULT_WINDOW, FlakePolicy
from harness.verdict.gather import AUTO, VerdictOptions, gather_comparison, gather_verdict
from harness.verdict.render_json import comparison_json, verdict_json
from harness.verdict.render_markdown import render_markdown
from harness.verdict.report import Verdict

STYLE = {Conclusion.FAILURE: "bold red", Conclusion.NEUTRAL: "yellow", Conclusion.SUCCESS: "green"}
#: Tests listed per category on the console (--all lists every one).
SHOWN = 20


def resolve_suites_dir(given: Path | None) -> Path | None:
    """``--suites`` must exist; the default (``$HARNESS_SUITES`` or ``./suites``) may be
    absent, and then no quarantine or known failures apply."""
    if given is not None:
        if not given.is_dir():
            raise ConfigError(f"suites directory '{given}' does not exist")
        return given
    default = default_suites_dir()
    return default if default.is_dir() else None


@click.command(
    short_help="Judge a run against its baseline at the merge base.",
    epilog="Exit codes: 0 success or neutral; 1 failure (new failures); 2 unknown run or bad "
    "option or suite/quarantine file; 3 database error.",
)
@click.argument("run_id", type=int, metavar="RUN")
@click.option(
    "--baseline", "baseline_id", type=int, metavar="RUN", help="Compare with this run instead."
)
@click.option("--json", "fmt", flag_value="json", help="Print the verdict as JSON (stable shape).")
@click.option("--markdown", "fmt", flag_value="markdown", help="Print a pull-request comment.")
@click.option(
    "--reference",
    default=AUTO,
    show_default=True,
    metavar="BACKEND|none",
    help="Backend whose run at the same commit the coverage compares with "
    "(auto: cpu, for runs on another backend).",
)
@click.option(
    "--history",
    "window",
    type=click.IntRange(2, 1000),
    default=DEFAULT_WINDOW,
    show_default=True,
    help="Default-branch runs of the cell that flake scores look at.",
)
@click.option(
    "--min-flips",
    type=click.IntRange(1, 1000),
    default=DEFAULT_MIN_FLIPS,
    show_default=True,
    help="Outcome changes in that history that make a test flaky.",
)
@click.option("--all", "show_all", is_flag=True, help="List every test of each category.")
@suites_option
@db_option
def verdict(
    run_id: int,
    baseline_id: int | None,
    fmt: str | None,
    reference: str,
    window: int,
    min_flips: int,
    show_all: bool,
    suites_dir: Path | None,
    db_url: str | None,
) -> None:
    """Judge run RUN against its baseline: the latest complete run of the same cell on the
    upstream's default branch at the merge base (or the nearest earlier one, said so).

    Every test is a new failure, new failure explained by environment drift, new failing
    test, flaky, quarantined, pre-existing failure, not run (infrastructure), fixed, new
    passing test, removed, passing or skipped; the cell's conclusion is failure exactly
    when a change-caused failure remains. Quarantine: SUITES/quarantine/<suite>.yaml.
    """
    options = VerdictOptions(
        baseline_id=baseline_id,
        suites_dir=resolve_suites_dir(suites_dir),
        reference_backend=None if reference.lower() == "none" else reference,
        policy=FlakePolicy(min_flips=min_flips, window=window),
    )
    with Store.open(db_url) as store:
        result = gather_verdict(store, run_id, options)
    if fmt == "json":
        json.dump(verdict_json(result), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    elif fmt == "markdown":
        sys.stdout.write(render_markdown(result))
    else:
        print_verdict(Console(), result, show_all=show_all)
    raise click.exceptions.Exit(
        EXIT_TEST_FAILURES if result.conclusion is Conclusion.FAILURE else EXIT_OK
    )


def print_verdict(console: Console, v: Verdict, *, show_all: bool = False) -> None:
    run = v.run
    where = f"{run.ref or 'default branch'} @ {(run.sha or '?')[:12]}"
    console.print(
        f"[bold]run {run.id}[/] {escape(run.cell)} ({escape(where)}): "
        f"[{STYLE[v.conclusion]}]{v.conclusion.value}[/] — {escape(v.reason)}",
        highlight=False,
    )
    console.print(f"baseline: {escape(v.baseline.note)}", highlight=False)
    if run.seeds:
        steps = ", ".join(f"{step} seed {seed}" for step, seed in sorted(run.seeds.items()))
        console.print(f"test order: pytest-randomly, {escape(steps)}", highlight=False)
    for change in v.drift:
        note = "" if change.key in EXPLAINING_KEYS else " (does not explain failures)"
        console.print(f"environment drift: {escape(str(change))}{note}", highlight=False)
    print_classification(console, v.classification, v.reproduce, show_all=show_all)
    print_coverage(console, v.coverage, run.backend)
    for rule in v.expired_quarantine:
        console.print(
            f"[dim]expired quarantine entry {escape(rule.source)} "
            f"({escape(', '.join(rule.tests))}, expired {rule.expires})[/]",
            highlight=False,
        )


def print_classification(
    console: Console,
    result: Classification,
    reproduce: Callable[[str], str] | None = None,
    *,
    show_all: bool = False,
) -> None:
    counts = result.counts()
    console.print(
        "counts: " + "; ".join(f"{n} {LABELS[Category(k)]}" for k, n in counts.items() if n),
        highlight=False,
    )
    for category in LISTED:
        tests = result.tests(category)
        if not tests:
            continue
        console.print(f"[bold]{LABELS[category]}[/] ({len(tests)})", highlight=False)
        shown = tests if show_all else tests[:SHOWN]
        for t in shown:
            first = (t.message or "").strip().splitlines()[:1]
            msg = f"  [dim]{escape(first[0][:160])}[/]" if first else ""
            console.print(f"  {escape(t.test_id)}{msg}", highlight=False)
            if t.failed_orders or t.passed_orders:
                text = orders_text(t.failed_orders, t.passed_orders, escape)
                console.print(f"    [dim]{text}[/]", highlight=False)
            if reproduce is not None and t.outcome in FAILING and category in _REPRODUCE:
                console.print(f"    [dim]reproduce: {escape(reproduce(t.test_id))}[/]")
        if len(shown) < len(tests):
            console.print(f"  … and {len(tests) - len(shown)} more (--all lists them)")


_REPRODUCE = frozenset(
    {
        Category.NEW_FAILURE,
        Category.NEW_TEST_FAILING,
        Category.NEW_FAILURE_DRIFT,
        Category.ORDER_DEPENDENT,
    }
)


def print_coverage(console: Console, cov: Coverage, backend: str) -> None:
    rate = f" ({cov.pass_rate:.1%} of executed)" if cov.pass_rate is not None else ""
    console.print(
        f"coverage: {cov.collected} collected, {cov.executed} executed, {cov.passed} passed{rate}",
        highlight=False,
    )
    ref = cov.reference
    if ref is not None and ref.relative_pass_rate is not None:
        than = (
            f"run {ref.run_id} of {escape(ref.backend)} passed"
            if ref.backend == backend
            else f"{escape(ref.backend)} passes at this commit (run {ref.run_id})"
        )
        only = "here" if ref.backend == backend else f"on {escape(backend)}"
        console.print(
            f"{escape(backend)} passes {ref.relative_pass_rate:.1%} of what {than}; "
            f"failing only {only}: {len(ref.fail_only_here)}",
            highlight=False,
        )
        for test_id in ref.fail_only_here[:SHOWN]:
            console.print(f"  {escape(test_id)}", highlight=False)


@click.command(short_help="What changed from RUN_A to RUN_B: failures, fixes, tests, environment.")
@click.argument("run_a", type=int, metavar="RUN_A")
@click.argument("run_b", type=int, metavar="RUN_B")
@click.option("--all", "show_all", is_flag=True, help="List every test of each category.")
@db_option
@json_option
def compare(run_a: int, run_b: int, show_all: bool, db_url: str | None, as_json: bool) -> None:
    """What changed from RUN_A to RUN_B (two commits, two backends, two environments):
    new failures, fixed, new and removed tests, environment drift, coverage. Unlike
    `harness verdict`, no history or quarantine is applied."""
    with Store.open(db_url) as store:
        result = gather_comparison(store, run_a, run_b)
    if as_json:
        json.dump(comparison_json(result), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return
    console = Console()
    for label, rec in (("a", result.a), ("b", result.b)):
        console.print(
            f"{label}: run {rec.id} {escape(rec.cell)} {escape(rec.ref or 'default branch')} @ "
            f"{(rec.sha or '?')[:12]} ({rec.status})",
            highlight=False,
        )
    for change in result.drift:
        console.print(f"environment drift: {escape(str(change))}", highlight=False)
    print_classification(console, result.classification, show_all=show_all)
    print_coverage(console, result.coverage_b, result.b.backend)
