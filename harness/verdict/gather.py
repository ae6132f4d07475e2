"""Read what a verdict needs from the store and the suite files, then hand it to the pure
functions. The one module of :mod:`harness.verdict` that does I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from harness.config.loader import load_suite
from harness.fingerprint import EnvChange, drift
from harness.store import RunRecord, Store
from harness.store import history as h
from harness.verdict.baseline import (
    BaselineChoice,
    choose_baseline,
    same_selection,
    selection_label,
)
from harness.verdict.categories import FAILING, OK, QuarantineRule
from harness.verdict.classify import RunOutcomes
from harness.verdict.coverage import ReferenceRun
from harness.verdict.flaky import FlakePolicy, flake_stats
from harness.verdict.quarantine import (
    known_failure_rules,
    load_quarantine,
    quarantine_path,
    rules_for_backend,
    split_expired,
)
from harness.verdict.report import Comparison, Verdict, build_verdict, compare_runs

AUTO = "auto"


def _today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True, slots=True)
class VerdictOptions:
    #: compare with this run instead of choosing a baseline
    baseline_id: int | None = None
    #: where the suite files (and ``quarantine/``) are; ``None``: none are read
    suites_dir: Path | None = None
    #: backend for the coverage comparison at the same SHA; "auto": cpu for a run on
    #: another backend; ``None``: none
    reference_backend: str | None = AUTO
    policy: FlakePolicy = field(default_factory=FlakePolicy)
    today: date = field(default_factory=_today)


@dataclass(frozen=True, slots=True)
class SuiteContext:
    rules: list[QuarantineRule]
    result_format: str | None
    #: the test steps' working directory when they all share one, else "."
    test_workdir: str = "."


def suite_context(suites_dir: Path | None, run: RunRecord) -> SuiteContext:
    """Quarantine rules (file + known failures) for the run's backend and cell, and its
    test steps' result format; nothing when the suite file is not there."""
    if suites_dir is None:
        return SuiteContext([], None)
    rules = rules_for_backend(load_quarantine(quarantine_path(suites_dir, run.suite)), run.backend)
    suite_file = suites_dir / f"{run.suite}.yaml"
    if not suite_file.is_file():
        return SuiteContext(rules, None)
    suite = load_suite(suite_file)
    rules += known_failure_rules(suite, run.cell, str(suite_file))
    recipe = suite.backends.get(run.backend)
    formats = {rf.format for step in recipe.test for rf in step.results} if recipe else set()
    workdirs = {step.workdir for step in recipe.test} if recipe else set()
    return SuiteContext(
        rules,
        formats.pop() if len(formats) == 1 else None,
        workdirs.pop() if len(workdirs) == 1 else ".",
    )


def run_outcomes(store: Store, run_id: int) -> RunOutcomes:
    outcomes, messages = h.load_outcomes(store, run_id)
    return RunOutcomes(outcomes, messages)


def environment_drift(store: Store, before: RunRecord, after: RunRecord) -> list[EnvChange]:
    if before.environment_id is None or after.environment_id is None:
        return []
    return drift(
        store.get_environment(before.environment_id), store.get_environment(after.environment_id)
    )


def gather_verdict(store: Store, run_id: int, options: VerdictOptions | None = None) -> Verdict:
    """The verdict of run ``run_id`` (see :mod:`harness.verdict`)."""
    options = options or VerdictOptions()
    run = store.get_run(run_id)
    context = suite_context(options.suites_dir, run)
    if options.baseline_id is not None:
        chosen = store.get_run(options.baseline_id)
        note = f"run {chosen.id}, chosen with --baseline"
        if not same_selection(chosen, run):  # compared as asked, but said plainly
            note += (
                f" (another selection: {selection_label(chosen)}, not "
                f"{selection_label(run)}"
                + (f", cell {chosen.cell}" if chosen.cell != run.cell else "")
                + ")"
            )
        choice = BaselineChoice(chosen, True, note)
    else:
        choice = choose_baseline(run, h.baseline_candidates(store, run))
    current = run_outcomes(store, run.id)
    base = run_outcomes(store, choice.run.id) if choice.run is not None else None

    # flake statistics for the tests whose category they can change
    wanted = {t for t, o in current.outcomes.items() if o in FAILING}
    if base is not None:
        wanted |= {
            t for t, o in base.outcomes.items() if o in FAILING and current.outcomes.get(t) in OK
        }
    flakes = {}
    if wanted:
        window = [
            r
            for r in h.default_branch_runs(
                store,
                run.cell,
                limit=options.policy.window,
                statuses=h.WITH_RESULTS,
                exclude=run.id,
            )
            if r.started_at <= run.started_at
        ]
        order = [r.id for r in reversed(window)]
        flakes = flake_stats(h.iter_history(store, order, wanted), order)

    active, expired = split_expired(context.rules, options.today)
    reference = None
    ref_backend = options.reference_backend
    if ref_backend == AUTO:
        ref_backend = "cpu" if run.backend != "cpu" else None
    if ref_backend and run.sha:
        ref_run = h.reference_run(store, run.suite, ref_backend, run.sha)
        if ref_run is not None and ref_run.id != run.id:
            ref_outcomes, _ = h.load_outcomes(store, ref_run.id, message_chars=0)
            reference = ReferenceRun(ref_backend, ref_run.id, ref_run.sha, ref_outcomes)
    return build_verdict(
        run,
        current,
        choice,
        base,
        flakes=flakes,
        reruns=store.rerun_outcomes(run.id),
        orderings=store.rerun_orderings(run.id),
        quarantine=active,
        expired_quarantine=expired,
        drift=environment_drift(store, choice.run, run) if choice.run is not None else [],
        reference=reference,
        result_format=context.result_format,
        test_workdir=context.test_workdir,
        policy=options.policy,
    )


def gather_comparison(store: Store, a_id: int, b_id: int) -> Comparison:
    """Run ``b_id`` against run ``a_id``."""
    a, b = store.get_run(a_id), store.get_run(b_id)
    return compare_runs(
        a,
        run_outcomes(store, a.id),
        b,
        run_outcomes(store, b.id),
        drift=environment_drift(store, a, b),
    )
