"""Run cells: source → executor steps → result ingest → store, one cell at a time.

Infrastructure problems inside a cell become that run's status (``error``, ``timeout``,
``crashed``) and never abort the other cells; test failures are data. The boundary is
total: any exception at all (a bug, an engine call that fails in a way nobody foresaw)
makes the run ``error`` with ``internal error: …`` as its reason and the traceback in
``harness-error.log`` of its log directory, and the next cell runs. Teardown (the
executor session, worktree removal, the run's final record) always happens, including
on Ctrl-C, where the run in progress is recorded as ``cancelled`` and the interrupt is
re-raised.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from harness.backends.target import BackendTarget
from harness.config.suite import Phase, Step, Suite
from harness.errors import CommitGone, ConfigError, HarnessError, StepError
from harness.executors.base import (
    CellContext,
    ExecutionSession,
    Executor,
    Rerun,
    isolates_untrusted,
)
from harness.executors.installer import resolve_as_of
from harness.executors.leftovers import run_mark
from harness.executors.process import StepOutcome
from harness.executors.provenance import Provenance
from harness.fingerprint import host_fingerprint
from harness.matrix import Cell
from harness.next_steps import with_next_step
from harness.path_choice import PathChoice, git_contains, resolve_paths
from harness.reporting import otel_spans
from harness.rerun import StepFailures, rerun_failures
from harness.results.backend_ops import OP_FORMATS, iter_op_records
from harness.results.collect import Collected, collect_result_files, matches
from harness.results.fallback import scan_log_files
from harness.results.ingest import ingest_file
from harness.results.model import OUTCOMES
from harness.source import (
    Checkout,
    mask_url,
    prepare_source,
    release_checkout,
    source_identity,
)
from harness.source.mirrors import rewrite
from harness.source.pairing import PullRequestBranch, companion_ref
from harness.stack import pin_environment
from harness.store import Store
from harness.store.coverage import add_fallbacks, add_op_records
from harness.test_order import read_seed
from harness.verdict.explained import explain_run


class RunStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    CRASHED = "crashed"
    ERROR = "error"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


#: When several things went wrong, the run shows the most severe.
_SEVERITY = [
    RunStatus.PASSED,
    RunStatus.FAILED,
    RunStatus.CRASHED,
    RunStatus.TIMEOUT,
    RunStatus.ERROR,
    RunStatus.CANCELLED,
]


class Display(Protocol):
    def cell_started(self, cell: Cell) -> None: ...
    def step_started(self, cell: Cell, phase: Phase, step: Step) -> None: ...
    def step_finished(self, cell: Cell, phase: Phase, step: Step, outcome: StepOutcome) -> None: ...
    def note(self, cell: Cell, text: str) -> None: ...
    def line(self, cell: Cell, text: str) -> None: ...
    def cell_finished(self, summary: RunSummary) -> None: ...


@dataclass(frozen=True, slots=True)
class RunOptions:
    source: str | None = None  # --source: a directory or git URL instead of the upstream
    ref: str | None = None
    args: str | None = None  # --test-args; overrides a subset
    subset: str | None = None
    cache_dir: Path = Path(".harness/cache")
    keep_worktree: bool = False
    pass_env: tuple[str, ...] = ()
    #: the pull request's head branch, for pairing companion repositories
    pr_branch: PullRequestBranch | None = None
    #: re-runs of failed tests; ``None``: the suite's ``reruns``
    reruns: int | None = None
    #: whether the code's author is trusted (the service's trust gate; ``--untrusted``):
    #: untrusted code runs only on an executor that isolates it
    trusted: bool = True
    #: the exact commit to run (the service's items): ``ref`` is only fetched to get it;
    #: a commit the upstream no longer has makes the run ``cancelled`` (superseded)
    sha: str | None = None
    #: how the service stops this run from outside (superseded, cancelled)
    cancel: Cancel | None = None
    #: where the suites and their quarantine files are: failures they explain are
    #: counted (:mod:`harness.verdict.explained`); ``None``: the suite's known failures
    suites_dir: Path | None = None
    #: resolve dependencies as of ``commit`` (its committer date), a date, or ``none``;
    #: ``None``: the suite's ``resolve_as_of`` (:mod:`harness.executors.installer`)
    resolve_as_of: str | None = None
    #: pinned stack components (``--stack NAME=VERSION``, :mod:`harness.stack`)
    stack: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class RunSummary:
    cell: Cell
    run_id: int
    status: RunStatus = RunStatus.ERROR
    reason: str | None = None
    sha: str | None = None
    ref: str | None = None
    counts: dict[str, int] = field(default_factory=lambda: {o.value: 0 for o in OUTCOMES})
    duration_s: float = 0.0
    log_dir: Path | None = None
    crash_reasons: list[str] = field(default_factory=list)
    #: the run ended in an exception that is not a harness error (a bug: exit code 4)
    internal_error: bool = False
    #: the commit asked for (``RunOptions.sha``) is gone from the upstream: nothing ran
    superseded: bool = False
    #: failed and errored tests a known failure or quarantine entry explains
    explained: int = 0
    #: where the job's reports are (summary.json, summary.md, junit.xml, logs)
    out_dir: Path | None = None
    #: notes of the result parsers ("FILE: note"), e.g. skips that could not be told
    notes: list[str] = field(default_factory=list)
    #: the selection arguments the test steps ran with ({path:NAME} replaced)
    args: str | None = None
    #: which alternative of each declared path ({path:NAME}) the run used, and why
    paths: dict[str, PathChoice] = field(default_factory=dict)
    #: test step → the pytest-randomly seed its tests ran in the order of
    seeds: dict[str, int] = field(default_factory=dict)

    @property
    def failing(self) -> int:
        return self.counts["failed"] + self.counts["error"]

    @property
    def conclusion(self) -> str:
        """``success`` when it passed or every failure is explained, ``failure`` when a
        failure is not, else the status (``error``, ``crashed``, ``timeout``...)."""
        if self.status is RunStatus.PASSED:
            return "success"
        if self.status is RunStatus.FAILED:
            return "success" if self.explained == self.failing else "failure"
        return self.status.value

    def as_json(self) -> dict[str, object]:
        """The documented ``--json`` shape (scripts rely on it: keys are only added)."""
        return {
            "cell": self.cell.id,
            "run_id": self.run_id,
            "status": self.status.value,
            "conclusion": self.conclusion,
            "explained": self.explained,
            "sha": self.sha,
            "counts": dict(self.counts),
            "duration_s": round(self.duration_s, 3),
            "reason": self.reason,
            "reports": str(self.out_dir) if self.out_dir is not None else None,
            "notes": list(self.notes),
            "seeds": dict(self.seeds),
        }


class RunCancelled(HarnessError):
    """The run was stopped from outside (superseded, cancelled): recorded ``cancelled``."""


class Cancel:
    """How the service stops a run in progress. :meth:`stop` says why (the caller also
    stops the step that runs: :meth:`Executor.reap`); the runner checks before and after
    every step and records the run ``cancelled`` with that reason."""

    def __init__(self) -> None:
        self.reason: str | None = None
        #: the run this token belongs to, once it is recorded
        self.run_id: int | None = None

    def stop(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def check(self) -> None:
        if self.reason is not None:
            raise RunCancelled(self.reason)


class _Checked:
    """A session whose steps check a :class:`Cancel` before and after they run."""

    def __init__(self, session: ExecutionSession, cancel: Cancel) -> None:
        self._session = session
        self._cancel = cancel

    @property
    def environment_ready(self) -> bool:
        return self._session.environment_ready

    @environment_ready.setter
    def environment_ready(self, ready: bool) -> None:
        self._session.environment_ready = ready

    def run_step(
        self, step: Step, phase: Phase, index: int, rerun: Rerun | None = None
    ) -> StepOutcome:
        self._cancel.check()
        outcome = self._session.run_step(step, phase, index, rerun)
        self._cancel.check()
        return outcome

    def mark_environment_ready(self) -> None:
        self._session.mark_environment_ready()

    def fingerprint(self) -> dict[str, Any]:
        return self._session.fingerprint()


class CellInterrupted(KeyboardInterrupt):
    """Ctrl-C during a cell; the run was recorded as cancelled (``summary``)."""

    def __init__(self, summary: RunSummary) -> None:
        super().__init__(f"{summary.cell.id} cancelled")
        self.summary = summary


class _Problem:
    """Collects what went wrong in a cell; the most severe status wins."""

    def __init__(self) -> None:
        self.status = RunStatus.PASSED
        self.reasons: list[str] = []

    def add(self, status: RunStatus, reason: str) -> None:
        if _SEVERITY.index(status) > _SEVERITY.index(self.status):
            self.status = status
            self.reasons.insert(0, reason)
        else:
            self.reasons.append(reason)

    @property
    def reason(self) -> str | None:
        return "; ".join(self.reasons) if self.reasons else None


def selection_args(suite: Suite, options: RunOptions) -> str:
    if options.args is not None:
        return options.args
    if options.subset is not None:
        return suite.subsets[options.subset].args
    return suite.default_args


#: fingerprint keys the run itself records, which no executor's environment part may
#: replace (the stack pins key the environment and a stack bisection's reuse)
RUN_OWNED = frozenset({"stack", "backend", "harness", "source", "sources", "paths"})


def run_cell(
    cell: Cell,
    suite: Suite,
    *,
    target: BackendTarget,
    store: Store,
    executor: Executor,
    options: RunOptions,
    job_id: str | None,
    out_dir: Path,
    display: Display,
) -> RunSummary:
    """Run one cell on ``target`` and record it; see the module docstring.

    A backend that is not usable here makes the run ``error`` with the reason and what to
    do, before anything is checked out: a missing result is never silent.
    """
    recipe = suite.backends[cell.backend]
    url = options.source or suite.upstream.clone_url
    # OpenTelemetry CI/CD spans when an OTLP endpoint is configured: the steps' times are
    # recorded as they run, the spans sent once the run is recorded (reporting/otel_spans)
    otlp_url = otel_spans.endpoint()
    recorder = otel_spans.SpanRecorder(display) if otlp_url is not None else None
    if recorder is not None:
        display = recorder
    log_dir = out_dir / "logs" / cell.slug
    results_dir = out_dir / "results" / cell.slug
    results_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    run_id = store.start_run(
        job_id=job_id,
        cell=cell.id,
        suite=cell.suite,
        backend=cell.backend,
        variant=cell.variant,
        upstream=suite.upstream.repo,
        ref=options.ref,
        sha=None,
        executor=executor.name,
        log_dir=str(log_dir),
        out_dir=str(out_dir),
        subset=options.subset if options.args is None else None,
        args=selection_args(suite, options),
    )
    summary = RunSummary(
        cell=cell, run_id=run_id, ref=options.ref, log_dir=log_dir, out_dir=out_dir
    )
    if options.cancel is not None:
        options.cancel.run_id = run_id
    inputs_dir = out_dir / "inputs" / cell.slug
    problem = _Problem()
    checkout: Checkout | None = None
    companions: list[Checkout] = []
    started = time.monotonic()
    interrupted = False
    display.cell_started(cell)
    # every run row carries a fingerprint, even one that fails before its first step
    fingerprint = {**host_fingerprint(), "backend": target.fingerprint(), "executor": executor.name}
    pins = dict(options.stack)
    if pins:
        fingerprint["stack"] = pins
    try:
        store.set_environment(run_id, fingerprint)
        pin_env = pin_environment(suite, pins)
        if not options.trusted and not isolates_untrusted(executor):
            raise StepError(
                f"an untrusted author's code runs only on an executor that isolates it; "
                f"the {executor.name} executor does not",
                hint="run it with --executor docker (non-root, no credentials, confined "
                "network, limits)",
            )
        if (unusable := target.unusable_reason()) is not None:
            raise StepError(unusable)
        display.note(cell, target.describe())
        work_dir = attempt_work_dir(options.cache_dir, out_dir, cell, store.key, run_id)
        checkout = prepare_source(
            url=url,
            ref=options.ref,
            default_branch=suite.upstream.default_branch,
            cache_dir=options.cache_dir,
            work_dir=work_dir,
            progress=lambda text: display.note(cell, text),
            sha=options.sha,
        )
        if (fetched := rewrite(url)) != url:  # which URL was really fetched (a mirror)
            fingerprint["source"] = {"url": mask_url(url), "fetched": mask_url(fetched)}
            store.set_environment(run_id, fingerprint)
            display.note(cell, f"fetched through the mirror {mask_url(fetched)}")
        summary.sha = checkout.sha
        if checkout.sha:
            store.set_run_sha(run_id, checkout.sha)
        if checkout.base_sha is not None or checkout.on_default_branch is not None:
            store.set_run_base(
                run_id, base_sha=checkout.base_sha, is_default_branch=checkout.on_default_branch
            )
        if checkout.dirty:
            display.note(cell, f"source {checkout.path} has uncommitted changes")
        repos_dir = work_dir.with_name(f"{work_dir.name}-repos")
        sources = _checkout_companions(suite, options, repos_dir, companions, cell, display)
        if sources:
            fingerprint["sources"] = sources
        args, summary.paths = resolve_paths(
            selection_args(suite, options),
            suite.paths,
            checkout.path,
            git_contains(checkout.path),
        )
        summary.args = args
        if summary.paths:
            fingerprint["paths"] = {name: c.as_json() for name, c in summary.paths.items()}
            store.set_environment(run_id, fingerprint)
            for choice in summary.paths.values():
                display.note(cell, f"test path {choice.describe()}")
        as_of = options.resolve_as_of or suite.resolve_as_of
        exclude_newer = resolve_as_of(as_of, checkout.path)
        if exclude_newer is not None:
            if (recipe.installer or suite.installer) != "uv":
                raise ConfigError(
                    f"resolving as of {as_of} needs the uv installer (uv's --exclude-newer); "
                    f"suite {suite.name} uses pip for {cell.backend}",
                    hint="set `installer: uv`, or run with --resolve-as-of none",
                )
            display.note(cell, f"resolving dependencies as of {exclude_newer} ({as_of})")
        ctx = CellContext(
            exclude_newer=exclude_newer,
            resolve_as_of=as_of,
            repos_dir=repos_dir,
            cell=cell,
            suite=suite,
            recipe=recipe,
            source_dir=checkout.path,
            results_dir=results_dir,
            log_dir=log_dir,
            args=args,
            pass_env=options.pass_env,
            target=target,
            backend_env=target.environment(),
            backend_vars=target.variables(),
            on_line=lambda text: display.line(cell, text),
            reruns=suite.reruns if options.reruns is None else options.reruns,
            provenance=Provenance(
                author_trusted=options.trusted,
                on_default_branch=checkout.on_default_branch,
                sha=checkout.sha,
                dirty=checkout.dirty,
                source=source_identity(url),
            ),
            inputs_dir=inputs_dir,
            run_mark=run_mark(store.key, run_id),
            extra_env=pin_env,
        )
        with executor.session(ctx) as session:
            try:
                steps: ExecutionSession = session
                if options.cancel is not None:
                    options.cancel.check()  # stopped while checking out
                    steps = _Checked(session, options.cancel)
                _run_cell_steps(steps, ctx, store, run_id, summary, problem, display)
            finally:
                # the cell environment's part (interpreter, packages, image) is added
                # whatever happened to the steps
                fingerprint.update(
                    {k: v for k, v in session.fingerprint().items() if k not in RUN_OWNED}
                )
                if checkout.dirty:
                    fingerprint["source_dirty"] = True
                store.set_environment(run_id, fingerprint)
    except KeyboardInterrupt:
        problem.add(RunStatus.CANCELLED, "interrupted by the user")
        interrupted = True
    except RunCancelled:
        pass  # recorded below, whatever the stop made the step raise
    except CommitGone as exc:
        summary.superseded = True
        problem.add(RunStatus.CANCELLED, f"superseded: {exc.message}")
    except HarnessError as exc:
        first = str(exc).splitlines()[0]
        problem.add(RunStatus.ERROR, with_next_step(first, [str(exc)]))
    except Exception as exc:  # the boundary is total (module docstring)
        summary.internal_error = True
        where = _record_traceback(log_dir)
        first = (str(exc).splitlines() or [""])[0]
        problem.add(
            RunStatus.ERROR,
            f"internal error: {type(exc).__name__}: {first}".rstrip(": ") + f" (see {where})",
        )
        display.note(cell, f"internal error: {type(exc).__name__}: {first} (traceback: {where})")
    finally:
        if options.cancel is not None and options.cancel.reason is not None:
            problem.add(RunStatus.CANCELLED, options.cancel.reason)
        summary.duration_s = time.monotonic() - started
        if problem.status is not RunStatus.CANCELLED:
            total = sum(summary.counts.values())
            if problem.status is RunStatus.PASSED and total == 0:
                problem.add(RunStatus.ERROR, "the result files hold no test cases")
            if problem.status is RunStatus.PASSED and summary.failing:
                n = summary.failing
                why = explain_run(
                    store, run_id, options.suites_dir,
                    suite=cell.suite, cell=cell.id, backend=cell.backend, suite_config=suite,
                )  # fmt: skip
                summary.explained = why.explained
                known = (
                    f", all {n} known failures"
                    if why.all_explained
                    else f" ({why.explained} of them known)"
                    if why.explained
                    else ""
                )
                problem.add(RunStatus.FAILED, f"{n} test(s) failed{known}")
        summary.status = problem.status
        summary.reason = problem.reason
        if not options.keep_worktree:
            for done in [*companions, *([checkout] if checkout is not None else [])]:
                try:
                    release_checkout(done, options.cache_dir)
                except HarnessError as exc:
                    display.note(cell, f"could not remove the worktree {done.path}: {exc}")
        store.finish_run(
            run_id,
            status=summary.status.value,
            reason=summary.reason,
            counts=summary.counts,
            duration_s=summary.duration_s,
            explained=summary.explained if summary.status is RunStatus.FAILED else None,
        )
        display.cell_finished(summary)
        if recorder is not None and otlp_url is not None:
            _send_spans(store, run_id, recorder, otlp_url, display, cell)
    if interrupted:
        raise CellInterrupted(summary)
    return summary


def _send_spans(
    store: Store,
    run_id: int,
    recorder: otel_spans.SpanRecorder,
    url: str,
    display: Display,
    cell: Cell,
) -> None:
    """Read what the run's spans need, then export them on a thread of their own; a
    failure here is a note, never the run's."""
    if (missing := otel_spans.missing_packages()) is not None:
        display.note(cell, f"OpenTelemetry spans not sent: {missing}")
        return
    try:
        spans = otel_spans.gather(store, run_id, recorder.steps, recorder.started_ns)
        otel_spans.send_in_background(spans, url)
    except Exception as exc:
        display.note(cell, f"OpenTelemetry spans not sent: {type(exc).__name__}: {exc}")


def attempt_work_dir(cache_dir: Path, out_dir: Path, cell: Cell, key: str, run_id: int) -> Path:
    """Where one attempt checks out its source: its own directory, so a retry after a
    worker died never meets what the dead attempt left (``<job>-<cell>-<store>-<run>``)."""
    return cache_dir / "work" / f"{out_dir.name}-{cell.slug}-{key}-{run_id}"


def _record_traceback(log_dir: Path) -> Path:
    """The current exception's traceback, appended to the cell's ``harness-error.log``."""
    path = log_dir / "harness-error.log"
    try:
        with path.open("a", encoding="utf-8") as f:
            f.write(traceback.format_exc())
    except OSError:
        traceback.print_exc()
    return path


def _checkout_companions(
    suite: Suite,
    options: RunOptions,
    repos_dir: Path,
    done: list[Checkout],
    cell: Cell,
    display: Display,
) -> dict[str, dict[str, str | None]]:
    """Check out the suite's companion repositories under ``repos_dir`` (appending each
    to ``done`` for release); returns url/ref/sha per companion for the fingerprint."""
    sources: dict[str, dict[str, str | None]] = {}
    for companion in suite.companions:
        try:
            chosen = companion_ref(companion, options.pr_branch)
            display.note(cell, f"companion {companion.name}: {chosen.why}")
            co = prepare_source(
                url=chosen.url,
                ref=chosen.ref,
                default_branch=companion.default_branch,
                cache_dir=options.cache_dir,
                work_dir=repos_dir / companion.name,
                progress=lambda text: display.note(cell, text),
            )
        except HarnessError as exc:
            if not companion.optional:
                raise
            display.note(cell, f"optional companion {companion.name} left out: {exc.message}")
            continue
        done.append(co)
        sources[companion.name] = {"url": mask_url(chosen.url), "ref": chosen.ref, "sha": co.sha}
        if (fetched := rewrite(chosen.url)) != chosen.url:
            sources[companion.name]["fetched"] = mask_url(fetched)
    return sources


def _run_phase(
    session: ExecutionSession,
    phase: Phase,
    steps: Iterable[Step],
    cell: Cell,
    display: Display,
) -> StepOutcome | None:
    """Run steps in order; returns the outcome of the first failing step, or None."""
    for i, step in enumerate(steps):
        display.step_started(cell, phase, step)
        outcome = session.run_step(step, phase, i)
        display.step_finished(cell, phase, step, outcome)
        if not outcome.ok:
            return outcome
    return None


def _run_cell_steps(
    session: ExecutionSession,
    ctx: CellContext,
    store: Store,
    run_id: int,
    summary: RunSummary,
    problem: _Problem,
    display: Display,
) -> None:
    cell, recipe = ctx.cell, ctx.recipe
    if session.environment_ready:
        display.note(cell, "environment already built for these dependencies; setup skipped")
    else:
        failed = _run_phase(session, Phase.SETUP, recipe.setup, cell, display)
        if failed is not None:
            problem.add(_status_of_failed_step(failed), _step_reason(Phase.SETUP, failed))
            return
        session.mark_environment_ready()
    failed = _run_phase(session, Phase.BUILD, recipe.build, cell, display)
    if failed is not None:
        problem.add(_status_of_failed_step(failed), _step_reason(Phase.BUILD, failed))
        return
    try:
        _run_test_steps(session, ctx, store, run_id, summary, problem, display)
    finally:
        # operators the device plugin ran on the CPU, from whatever the steps logged
        logs = sorted(
            p for p in ctx.log_dir.glob(f"{Phase.TEST.value}-*.log") if ".rerun" not in p.name
        )
        add_fallbacks(store, run_id, scan_log_files(logs))


def _run_test_steps(
    session: ExecutionSession,
    ctx: CellContext,
    store: Store,
    run_id: int,
    summary: RunSummary,
    problem: _Problem,
    display: Display,
) -> None:
    cell, recipe = ctx.cell, ctx.recipe
    failed_steps: list[StepFailures] = []
    for i, step in enumerate(recipe.test):
        display.step_started(cell, Phase.TEST, step)
        outcome = session.run_step(step, Phase.TEST, i)
        display.step_finished(cell, Phase.TEST, step, outcome)
        failures_before = summary.counts["failed"] + summary.counts["error"]
        failed = StepFailures(i, step)
        failed_steps.append(failed)
        found_any = _ingest_step_results(
            step, ctx, store, run_id, summary, problem, outcome, failed
        )
        new_failures = summary.counts["failed"] + summary.counts["error"] - failures_before
        if outcome.infra_reason:
            problem.add(
                RunStatus.ERROR,
                f"test step '{step.name}' {outcome.infra_reason}; results may be incomplete",
            )
        elif outcome.timed_out:
            problem.add(RunStatus.TIMEOUT, f"test step '{step.name}' {outcome.describe()}")
        elif not found_any:
            continue  # already recorded as an infrastructure error
        elif outcome.signal is not None:
            problem.add(
                RunStatus.CRASHED,
                f"test step '{step.name}' was {outcome.describe()}; results may be incomplete",
            )
        elif outcome.exit_code != 0 and new_failures == 0:
            # the runner's own last words say why (pytest: "ERROR: file or directory not
            # found: PATH" for a listed test path the commit does not have)
            said = _last_words(outcome.tail)
            problem.add(
                RunStatus.ERROR,
                f"test step '{step.name}' {outcome.describe()} but its results show no failure"
                f"{said} (see {outcome.log_path.name})",
            )
    if ctx.reruns > 0 and any(f.failing for f in failed_steps):
        done = rerun_failures(
            session,
            ctx,
            store,
            run_id,
            failed_steps,
            attempts=ctx.reruns,
            note=lambda text: display.note(cell, text),
        )
        for text in done.notes:
            display.note(cell, text)


def _ingest_step_results(
    step: Step,
    ctx: CellContext,
    store: Store,
    run_id: int,
    summary: RunSummary,
    problem: _Problem,
    outcome: StepOutcome,
    failed: StepFailures,
) -> bool:
    """Parse and store every result file of ``step``; False when a required one is missing.
    The failing test ids go to ``failed`` (for reruns)."""
    found_all = True
    for spec in step.results:
        collected = (
            collect_result_files(outcome.results_dir, spec.path)
            if outcome.results_dir is not None
            else Collected()
        )
        files = collected.files
        refused = [*collected.refused, *(r for r in outcome.refused if matches_name(r, spec.path))]
        if refused:
            # a result file the harness would not read (a link, a FIFO, a bad name):
            # the results are incomplete, and the run says why
            problem.add(
                RunStatus.ERROR,
                f"test step '{step.name}': result file {refused[0]}"
                + (f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""),
            )
        if not files:
            if spec.optional:
                continue
            found_all = False
            status = RunStatus.TIMEOUT if outcome.timed_out else RunStatus.ERROR
            problem.add(
                status,
                f"test step '{step.name}' {outcome.describe()} and wrote no result file "
                f"'{spec.path}'",
            )
            continue
        for path in files:
            if spec.format == "junit" and (seed := read_seed(path)) is not None:
                # read first: a file cut short by a crash still has its seed
                failed.seed = seed
                failed.result_files.append(path)
                if summary.seeds.get(step.name) != seed:
                    summary.seeds[step.name] = seed
                    store.set_run_seed(run_id, step.name, seed)
            report = ingest_file(store, run_id, path, spec.format)
            failed.failing.extend(report.failing)
            failed.truncated |= len(report.failing) < report.counts.get(
                "failed", 0
            ) + report.counts.get("error", 0)
            if spec.format in OP_FORMATS:  # the op coverage matrix, from the same file
                add_op_records(store, run_id, iter_op_records(path, spec.format))
            for key, value in report.counts.items():
                summary.counts[key] = summary.counts.get(key, 0) + value
            summary.notes.extend(f"{path.name}: {note}" for note in report.notes)
            if report.crashed:
                reason = report.crash_reason or f"{path.name}: unreadable"
                summary.crash_reasons.append(reason)
                problem.add(RunStatus.CRASHED, f"result file cut short or malformed: {reason}")
    return found_all


def _status_of_failed_step(outcome: StepOutcome) -> RunStatus:
    return RunStatus.TIMEOUT if outcome.timed_out else RunStatus.ERROR


def _last_words(tail: Iterable[str]) -> str:
    """``": <line>"``: the last ``ERROR:`` line of a step's output tail (pytest's usage
    errors), else its last non-empty line; empty when the tail is."""
    lines = [line.strip() for line in tail if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    said = errors[-1] if errors else lines[-1] if lines else ""
    return f": {said[:200]}" if said else ""


def _step_reason(phase: Phase, outcome: StepOutcome) -> str:
    last = next((line for line in reversed(outcome.tail) if line.strip()), "")
    detail = f": {last.strip()[:200]}" if last else ""
    reason = f"{phase.value} step {outcome.log_path.stem} {outcome.describe()}{detail}"
    return with_next_step(reason, outcome.tail)


def matches_name(refusal: str, pattern: str) -> bool:
    """Whether a copy-out refusal ("NAME: why") is about a file matching ``pattern``."""
    name = refusal.split(": ", 1)[0]
    return matches(name, pattern)
