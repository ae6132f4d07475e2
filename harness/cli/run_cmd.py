"""``harness run``: run the selected cells and report counts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console

from harness import settings
from harness.attest.keys import runner_key
from harness.backends.target import BackendDetector, narrow_to_backend, parse_device_list
from harness.bundle import write_bundle
from harness.cli.options import db_option, default_cache_dir, json_option, suites_option
from harness.config.loader import default_suites_dir, load_suites
from harness.errors import (
    EXIT_INFRA,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TEST_FAILURES,
    ConfigError,
)
from harness.executors.installer import parse_as_of
from harness.executors.registry import (
    choose_executor,
    executor_choices,
    executor_entry,
    make_executor,
)
from harness.matrix import Cell, select
from harness.planner import all_cells, for_executor, image_matrix
from harness.reporting import actions
from harness.reporting.console import ConsoleDisplay, summary_table
from harness.reporting.outputs import write_merged_junit, write_summary_json, write_summary_md
from harness.runner import CellInterrupted, RunOptions, RunStatus, RunSummary, run_cell
from harness.source.mirrors import mirrors
from harness.source.pairing import PullRequestBranch
from harness.stack import check_pins, parse_pins
from harness.store import Store


def _as_of(value: str | None) -> str | None:
    """``--resolve-as-of``: ``commit``, ``none`` or a date/time (checked here)."""
    if value is None or value in ("commit", "none"):
        return value
    try:
        parse_as_of(value)
    except ConfigError as exc:
        raise click.BadParameter(exc.message) from None
    return value


def exit_code_for(runs: list[RunSummary], *, strict: bool = False) -> int:
    """The exit code of a job: test failures (1) only for failures no known failure or
    quarantine entry explains, unless ``strict``."""
    statuses = {r.status for r in runs}
    if RunStatus.CANCELLED in statuses:
        return EXIT_INTERRUPTED
    if any(r.internal_error for r in runs):
        return EXIT_INTERNAL
    if statuses & {RunStatus.ERROR, RunStatus.CRASHED, RunStatus.TIMEOUT}:
        return EXIT_INFRA
    if any(r.status is RunStatus.FAILED and (strict or r.conclusion == "failure") for r in runs):
        return EXIT_TEST_FAILURES
    return EXIT_OK


@click.command(
    short_help="Run the cells matching PATTERNS and record every result.",
    epilog="Exit codes: 0 all passed, or every failure a known one; 1 test failures "
    "(--strict: known ones too); 2 configuration error; "
    "3 infrastructure error; 4 internal error (a bug in the harness); 130 interrupted.",
)
@click.argument("patterns", nargs=-1, required=True)
@click.option(
    "--source",
    metavar="DIR|URL",
    help="Run on this directory or git URL instead of "
    "the suite's upstream. A directory without --ref runs in place.",
)
@click.option(
    "--ref",
    metavar="REF",
    help="Branch, tag, SHA, refs/pull/N/head or "
    "refs/pull/N/merge (also pr/N, pr/N/merge). Default: the default branch.",
)
@click.option(
    "--pr-head",
    metavar="[OWNER:]BRANCH",
    help="The pull request's head (GitHub's label, e.g. alice:fix-resize): companion "
    "repositories are checked out at the branch of that name when OWNER's fork or the "
    "companion has it, as OpenCV's CI pairs opencv and opencv_contrib PRs.",
)
@click.option("--skip", "skip", multiple=True, metavar="PATTERN", help="Leave out these cells.")
@click.option("--subset", metavar="NAME", help="A subset defined in the suite (its args).")
@click.option(
    "--test-args",
    metavar="ARGS",
    help="Selection arguments for {args} (overrides --subset), e.g. \"-k 'not slow'\".",
)
@click.option(
    "--executor",
    type=click.Choice(executor_choices()),
    default="local",
    show_default=True,
    help="Where steps run: local (a virtualenv here; host cells), docker (containers from "
    "the cell's image variant; image cells), auto (docker when an engine answers) or a "
    "plugin's executor (`harness doctor` lists them). "
    "Containers: HARNESS_DOCKER_MEMORY/CPUS/PIDS/NETWORK/BASE_IMAGE, HARNESS_CANN_PACKAGES.",
)
@click.option(
    "--out-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("reports/out"),
    show_default=True,
    envvar=settings.OUT.name,
    help="Reports go to OUT_DIR/<job-id>/ (default: $HARNESS_OUT, else reports/out).",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Mirrors, worktrees and environments. Default: $HARNESS_CACHE or ~/.cache/harness.",
)
@click.option(
    "--pass-env",
    multiple=True,
    metavar="NAME",
    help="Also pass this host variable to steps (secrets are never passed implicitly).",
)
@click.option(
    "--backend",
    metavar="auto|NAME",
    help="Only cells on this backend (npu, cuda, cpu or a plugin's name); 'auto' runs each "
    "suite on the best backend usable here and says which.",
)
@click.option(
    "--devices",
    metavar="LIST",
    help="Logical device indices the cells may use, e.g. 0,1 or 0-3 (default: every "
    "healthy device; for cpu, core ids).",
)
@click.option(
    "--reruns",
    type=click.IntRange(0, 10),
    metavar="N",
    help="Re-run failed tests up to N times in the same environment (pytest and googletest "
    "results); a test that then passes is flaky. Default: the suite's reruns.",
)
@click.option(
    "--resolve-as-of",
    metavar="commit|DATE|none",
    callback=lambda _ctx, _param, value: _as_of(value),
    help="Resolve dependencies as they were at the tested commit's committer date "
    "(commit), at DATE (2025-06-01 or 2025-06-01T12:00:00Z), or without a cutoff (none): "
    "uv's --exclude-newer, recorded in the run's fingerprint and part of the environment "
    "key. Needs an index that serves upload times (PyPI's JSON API); find-links folders "
    "are not filtered. Default: the suite's resolve_as_of.",
)
@click.option("--keep-worktree", is_flag=True, help="Keep the checkout after the run.")
@click.option(
    "--untrusted",
    is_flag=True,
    help="Treat the code as an untrusted author's (as the service does for a stranger's "
    "pull request): only an isolating executor runs it, its network is confined to the "
    "package indexes, no --pass-env credential reaches it.",
)
@click.option(
    "--bundle",
    "bundle_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Also write the runs as a result bundle here (for `harness ingest` on another "
    "machine, or `harness results send` to the service), each run's attestation signed "
    "with the runner's key when there is one ($HARNESS_ATTEST_KEY_FILE).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 for any failed test, even one a known failure or quarantine entry "
    "explains (by default those leave the exit code 0).",
)
@click.option(
    "--stack",
    "stack",
    multiple=True,
    metavar="NAME=VERSION",
    help="Pin a stack component the suite declares (`stack:` in the recipe), e.g. "
    "torch=2.9.1: its variable is set for the steps, the pin is recorded in the run's "
    "fingerprint and keys the environment. Repeatable.",
)
@db_option
@suites_option
@json_option
def run(
    patterns: tuple[str, ...],
    source: str | None,
    ref: str | None,
    pr_head: str | None,
    skip: tuple[str, ...],
    subset: str | None,
    test_args: str | None,
    executor: str,
    out_dir: Path,
    cache_dir: Path | None,
    pass_env: tuple[str, ...],
    reruns: int | None,
    resolve_as_of: str | None,
    keep_worktree: bool,
    untrusted: bool,
    bundle_dir: Path | None,
    backend: str | None,
    devices: str | None,
    strict: bool,
    stack: tuple[str, ...],
    db_url: str | None,
    suites_dir: Path | None,
    as_json: bool,
) -> None:
    """Run the cells matching PATTERNS (suite/backend/variant globs, e.g. 'comfyui/cpu').

    Each cell checks out the upstream, runs its setup, build and test steps, parses the
    result files and records every test case in the database. A summary table is printed
    and OUT_DIR/<job-id>/ gets summary.json, summary.md, a merged junit.xml and the logs.
    """
    suites = load_suites(suites_dir or default_suites_dir())
    mirrors()  # a malformed HARNESS_MIRRORS is a configuration error before anything runs
    cells = select(all_cells(suites, image_matrix()), list(patterns), list(skip))
    executor, executor_note = choose_executor(executor)
    cells = for_executor(cells, executor)
    _check_devices(executor, cells)
    if subset is not None:
        for cell in cells:
            if subset not in suites[cell.suite].subsets:
                known = ", ".join(suites[cell.suite].subsets) or "none"
                raise ConfigError(f"suite '{cell.suite}' has no subset '{subset}' (known: {known})")
    pins = parse_pins(stack)
    # the runner's signing key, read before anything runs (a named key file must exist)
    signing_key = runner_key() if bundle_dir is not None else None
    for cell in cells:
        check_pins(suites[cell.suite], pins, run=True)
    detector = BackendDetector()
    notes: list[str] = []
    if backend is not None:
        cells, notes = narrow_to_backend(cells, backend, detector)
    device_ids = parse_device_list(devices) if devices else None
    targets = {name: detector.target(name, device_ids) for name in {c.backend for c in cells}}
    if source and not ("://" in source or source.startswith("git@")) and not Path(source).exists():
        raise ConfigError(f"--source '{source}' is neither an existing directory nor a git URL")
    options = RunOptions(
        source=str(Path(source).resolve()) if source and Path(source).exists() else source,
        ref=ref,
        args=test_args,
        subset=subset,
        cache_dir=(cache_dir or default_cache_dir()).resolve(),
        keep_worktree=keep_worktree,
        pass_env=pass_env,
        pr_branch=_pr_branch(pr_head),
        reruns=reruns,
        resolve_as_of=resolve_as_of,
        trusted=not untrusted,
        suites_dir=(suites_dir or default_suites_dir()).resolve(),
        stack=tuple(sorted(pins.items())),
    )
    store = Store.open(db_url)
    runs: list[RunSummary] = []
    try:
        job_id = store.create_job("cli", " ".join(patterns), ref)
        job_out = (out_dir / job_id).resolve()
        job_out.mkdir(parents=True, exist_ok=True)
        exec_ = make_executor(executor, options.cache_dir)
        console = Console(stderr=True)
        console.print(
            f"job [bold]{job_id}[/]: {len(cells)} cell(s); reports in {job_out}", highlight=False
        )
        for note in [*([executor_note] if executor_note else []), *notes]:
            console.print(note, highlight=False)
        interrupted = False
        with ConsoleDisplay(console) as display:
            for cell in cells:
                try:
                    with actions.group(cell.id):
                        runs.append(
                            run_cell(
                                cell,
                                suites[cell.suite],
                                target=targets[cell.backend],
                                store=store,
                                executor=exec_,
                                options=options,
                                job_id=job_id,
                                out_dir=job_out,
                                display=display,
                            )
                        )
                except CellInterrupted as exc:
                    runs.append(exc.summary)
                    interrupted = True
                    break
                _annotate(runs[-1])
        write_summary_json(job_out / "summary.json", job_id, runs)
        write_merged_junit(job_out / "junit.xml", store, runs)
        write_summary_md(job_out / "summary.md", job_id, store, runs, suites, options.suites_dir)
        actions.append_summary(job_out / "summary.md")
        if bundle_dir is not None:
            written = write_bundle(store, [r.run_id for r in runs], bundle_dir, signing_key)
            signed = ", signed" if signing_key is not None else ""
            console.print(
                f"bundle: {len(written)} run(s) in {bundle_dir.resolve()}{signed}",
                highlight=False,
            )
        code = exit_code_for(runs, strict=strict) if not interrupted else EXIT_INTERRUPTED
        store.finish_job(job_id, "cancelled" if interrupted else "done")
    finally:
        store.close()
    if as_json:
        doc = {"job": job_id, "reports": str(job_out), "runs": [r.as_json() for r in runs]}
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        Console().print(summary_table(runs))
    raise click.exceptions.Exit(code)


def _annotate(run: RunSummary) -> None:
    """In GitHub Actions: an annotation for a cell that failed or could not run."""
    if run.status is RunStatus.FAILED:
        actions.annotate(
            "warning", run.cell.id, f"{run.counts['failed'] + run.counts['error']} test(s) failed"
        )
    elif run.status not in {RunStatus.PASSED, RunStatus.CANCELLED}:
        actions.annotate("error", run.cell.id, f"{run.status.value}: {run.reason or 'see the log'}")


def _check_devices(executor: str, cells: list[Cell]) -> None:
    """A cell whose backend's devices the executor cannot give a step is refused."""
    caps = executor_entry(executor).capabilities
    refused = sorted({c.backend for c in cells if not caps.passes_devices(c.backend)})
    if refused:
        raise ConfigError(
            f"the {executor} executor cannot give a step the devices of {', '.join(refused)} "
            f"(it declares devices: {', '.join(caps.devices) or 'none'})",
            hint="select cpu cells, or use an executor that passes those devices through",
        )


def _pr_branch(head: str | None) -> PullRequestBranch | None:
    if not head:
        return None
    owner, sep, branch = head.rpartition(":")
    if not branch:
        raise ConfigError(f"--pr-head '{head}': no branch name")
    return PullRequestBranch(branch=branch, owner=owner if sep and owner else None)
