"""``harness bisect-stack``: which stack component (and version) broke a cell's tests.

The probes are real runs of the cell (:func:`harness.runner.run_cell`, same environment
keying and executors as ``harness run``, recorded in the database in a job of their own,
trigger ``manual``, pattern ``bisect-stack CELL``) at the good run's commit with stack
components pinned (:mod:`harness.stack`); :mod:`harness.bisect.stack` decides.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping
from pathlib import Path

import click
from rich.console import Console

from harness.backends.target import BackendDetector
from harness.bisect.stack import ProbeResult, bisect_stack
from harness.bisect.version_search import Verdict
from harness.cli.options import db_option, default_cache_dir, json_option, suites_option
from harness.config.loader import default_suites_dir, load_suites
from harness.config.suite import Suite
from harness.errors import EXIT_OK, EXIT_TEST_FAILURES, ConfigError
from harness.executors.registry import executor_choices, make_executor
from harness.matrix import Cell
from harness.planner import image_matrix
from harness.reporting.console import ConsoleDisplay
from harness.runner import RunOptions, RunStatus, run_cell
from harness.store import Store
from harness.store.models import RunRecord

FAILING = ("failed", "error")


def _outcomes(store: Store, run_id: int) -> dict[str, str]:
    return {r.test_id: str(r.outcome) for r in store.iter_results(run_id)}


def newly_failing(store: Store, good: int, bad: int) -> list[str]:
    """Tests that failed (or errored) in the bad run and passed in the good one."""
    before, after = _outcomes(store, good), _outcomes(store, bad)
    return sorted(t for t, o in after.items() if o in FAILING and before.get(t) == "passed")


def judge(store: Store, run_id: int, status: RunStatus, tests: list[str]) -> ProbeResult:
    """good: every test passed; bad: one failed in every attempt (first and reruns);
    flaky: one failed and then passed on a rerun; skip: the run did not test them."""
    outcomes = _outcomes(store, run_id)
    reruns = store.rerun_outcomes(run_id)
    missing = [t for t in tests if t not in outcomes]
    if missing:
        return ProbeResult(
            Verdict.SKIP, (run_id,), f"run {run_id} ({status.value}) has no result for {missing[0]}"
        )
    failing = [t for t in tests if outcomes[t] in FAILING]
    if not failing:
        return ProbeResult(Verdict.GOOD, (run_id,), "passed")
    flaky = [t for t in failing if any(str(o) == "passed" for o in reruns.get(t, []))]
    if flaky:
        return ProbeResult(Verdict.FLAKY, (run_id,), f"{flaky[0]} failed, then passed on a rerun")
    tries = 1 + min((len(reruns.get(t, [])) for t in failing), default=0)
    return ProbeResult(Verdict.BAD, (run_id,), f"{failing[0]} failed {tries} time(s)")


@click.command(
    short_help="Find the stack component (and version) that broke a cell's tests.",
    epilog="Exit codes: 0 a component found; 1 none, flaky or undecided; 2 configuration error.",
)
@click.argument("cell_id", metavar="CELL")
@click.option("--good", "good_id", type=int, required=True, help="A run where the tests pass.")
@click.option("--bad", "bad_id", type=int, required=True, help="A run where they fail.")
@click.option(
    "--test",
    "tests",
    multiple=True,
    metavar="TEST_ID",
    help="The test ids to judge by (as stored); default: those failing in the bad run and "
    "passing in the good one.",
)
@click.option(
    "--repeats",
    type=click.IntRange(1, 10),
    default=3,
    show_default=True,
    help="Attempts at a failing test per probe (first run + reruns) before calling it bad; "
    "a pass among them makes it flaky.",
)
@click.option(
    "--executor",
    type=click.Choice(executor_choices()),
    default="local",
    show_default=True,
    help="Where the probes run (as for harness run).",
)
@click.option(
    "--out-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("reports/out"),
    show_default=True,
    help="The probes' reports go to OUT_DIR/<job-id>/.",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Mirrors and environments (default: $HARNESS_CACHE, else ~/.cache/harness).",
)
@db_option
@suites_option
@json_option
def bisect_stack_cmd(
    cell_id: str,
    good_id: int,
    bad_id: int,
    tests: tuple[str, ...],
    repeats: int,
    executor: str,
    out_dir: Path,
    cache_dir: Path | None,
    db_url: str | None,
    suites_dir: Path | None,
    as_json: bool,
) -> None:
    """Bisect across the stack for CELL: the GOOD and BAD runs are at the same upstream
    commit and their fingerprints differ in components the suite declares (`stack:`).

    Each changed component is tried alone on the good stack (the others at their good
    versions); the one that turns the tests bad is named and, when its declaration lists
    versions (wheel folder, index, image matrix), the versions between good and bad are
    bisected to the first bad one. Every probe is a real run, recorded.
    """
    suites = load_suites(suites_dir or default_suites_dir())
    store = Store.open(db_url)
    try:
        good, bad = store.get_run(good_id), store.get_run(bad_id)
        suite = _check_runs(cell_id, good, bad, suites)
        chosen = list(tests) or newly_failing(store, good_id, bad_id)
        if not chosen:
            raise ConfigError(
                f"no test fails in run {bad_id} and passes in run {good_id}",
                hint="name the tests with --test",
            )
        good_fp = store.get_environment(good.environment_id) if good.environment_id else {}
        bad_fp = store.get_environment(bad.environment_id) if bad.environment_id else {}
        cell = Cell(good.suite, good.backend, good.variant)
        target = BackendDetector().target(cell.backend, None)
        options_base = RunOptions(
            ref=good.ref,
            sha=good.sha,
            args=good.args,
            cache_dir=(cache_dir or default_cache_dir()).resolve(),
            reruns=repeats - 1,
            suites_dir=(suites_dir or default_suites_dir()).resolve(),
        )
        exec_ = make_executor(executor, options_base.cache_dir)
        job_id = store.create_job("manual", f"bisect-stack {cell_id}", good.ref)
        job_out = (out_dir / job_id).resolve()
        job_out.mkdir(parents=True, exist_ok=True)
        console = Console(stderr=True)
        console.print(
            f"bisect-stack job [bold]{job_id}[/]: judging {len(chosen)} test(s) at {good.sha}",
            highlight=False,
        )

        def probe(pins: Mapping[str, str]) -> ProbeResult:
            opts = dataclasses.replace(options_base, stack=tuple(sorted(pins.items())))
            with ConsoleDisplay(console) as display:
                summary = run_cell(
                    cell,
                    suite,
                    target=target,
                    store=store,
                    executor=exec_,
                    options=opts,
                    job_id=job_id,
                    out_dir=job_out,
                    display=display,
                )
            result = judge(store, summary.run_id, summary.status, chosen)
            pinned = ", ".join(f"{k}={v}" for k, v in sorted(pins.items()))
            console.print(
                f"probe {pinned}: {result.verdict.value} (run {summary.run_id}; {result.detail})",
                highlight=False,
            )
            return result

        matrix = image_matrix()
        variants = [v.id for v in matrix.for_backend(cell.backend)] if matrix else []
        answer = bisect_stack(suite, good_fp, bad_fp, probe, variants)
        store.finish_job(job_id, "done")
    finally:
        store.close()
    if as_json:
        doc = {"cell": cell_id, "good": good_id, "bad": bad_id, "tests": chosen}
        json.dump(doc | answer.as_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        out = Console()
        for change in answer.changes:
            out.print(f"changed: {change.name} {change.good} → {change.bad}", highlight=False)
        for p in answer.probes:
            out.print(
                f"probe: {p.component} {p.version} → {p.result.verdict.value} "
                f"(runs {', '.join(map(str, p.result.run_ids))})",
                highlight=False,
            )
        out.print(f"{answer.outcome}: {answer.reason}", highlight=False)
        out.print(f"{len(answer.probes)} probe(s)", highlight=False)
    raise click.exceptions.Exit(EXIT_OK if answer.outcome == "found" else EXIT_TEST_FAILURES)


def _check_runs(
    cell_id: str, good: RunRecord, bad: RunRecord, suites: Mapping[str, Suite]
) -> Suite:
    for run in (good, bad):
        if run.cell != cell_id:
            raise ConfigError(f"run {run.id} is of cell {run.cell}, not {cell_id}")
    if good.sha != bad.sha or good.sha is None:
        raise ConfigError(
            f"runs {good.id} and {bad.id} are at different commits ({good.sha} and {bad.sha})",
            hint="bisect across the stack needs the same upstream commit; bisect the commits first",
        )
    if good.suite not in suites:
        raise ConfigError(f"no suite '{good.suite}' in the suites directory")
    return suites[good.suite]
