"""Re-run a cell's failed tests in the same environment, to tell flaky from broken.

After the test steps, each step with failed tests runs again, up to ``reruns`` times,
with the same command and selection, narrowed to the tests still failing:

- pytest (``junit`` results): the ``harness_select`` plugin, enabled through
  ``PYTEST_ADDOPTS``, deselects every collected test not listed in a file of test ids;
- googletest (``gtest-xml``): ``GTEST_FILTER`` (a recipe that passes ``--gtest_filter`` on
  the command line overrides it, and then its reruns run its whole selection);
- other formats (ctest, llama.cpp's test-backend-ops) are not re-run.

A pytest step that ran its tests in pytest-randomly's order (its result file holds the
seed: :mod:`harness.test_order`) is re-run differently, at most twice whatever
``reruns`` says, to tell an order-dependent failure from a flaky one:

1. *reproduce*: the same seed (``-p randomly --randomly-seed=N``), selecting the failing
   tests and every test that ran before them in the first attempt (at most
   :data:`MAX_REPRODUCE_TESTS`): pytest-randomly orders by seed and test id only, so
   each failing test runs after exactly the tests it ran after the first time. A test
   that passes now is flaky. When there are too many earlier tests the reproduction is
   left out (the run's notes say so);
2. *fixed order*: the tests still failing, alone and in collection order
   (``--randomly-dont-reorganize``). A test that passes now is order-dependent.

The selection is written by the harness into a directory the step cannot write
(:mod:`harness.executors.selection`). Reruns write their result files to a result
directory of their own (``<step key>.rerun<attempt>``) and are stored apart from the first
attempt (:meth:`harness.store.Store.add_reruns`): the run's
counts and status stay those of the first attempt; the verdict calls a test that failed
and then passed *flaky*. A test passing on a rerun is not run again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.config.suite import Phase, Step
from harness.errors import HarnessError
from harness.executors.base import CellContext, ExecutionSession, Rerun
from harness.results import parse
from harness.results.collect import collect_result_files
from harness.results.model import Outcome
from harness.store import Store
from harness.test_order import FIXED, describe, ordering_args, seed_ordering

#: Result formats whose failed tests can be selected for a rerun.
RERUNNABLE_FORMATS = frozenset({"junit", "gtest-xml"})
#: A step with more failed tests than this is not re-run: that is a broken build or a
#: broken backend, not flakiness, and re-running it would double the cell's time.
MAX_RERUN_TESTS = 100
#: the most tests a same-seed reproduction runs (the failing ones and those before them)
MAX_REPRODUCE_TESTS = 2000
_FAILING = frozenset({Outcome.FAILED, Outcome.ERROR})
_OK = frozenset({Outcome.PASSED, Outcome.XFAILED, Outcome.XPASSED})


@dataclass(slots=True)
class StepFailures:
    """A test step of this run and the ids its result files reported failing."""

    index: int
    step: Step
    failing: list[str] = field(default_factory=list)
    #: the step's result files reported more failures than were tracked
    truncated: bool = False
    #: the pytest-randomly seed the step's tests ran in the order of, if any
    seed: int | None = None
    #: the result files that recorded ``seed`` (their test order is the run's)
    result_files: list[Path] = field(default_factory=list)


@dataclass(slots=True)
class RerunSummary:
    rerun: int = 0
    passed_on_rerun: int = 0
    notes: list[str] = field(default_factory=list)


def rerun_format(step: Step) -> str | None:
    """The one rerunnable result format of ``step``, or ``None``."""
    formats = {r.format for r in step.results}
    if len(formats) == 1 and (fmt := formats.pop()) in RERUNNABLE_FORMATS:
        return fmt
    return None


def _prior_addopts(ctx: CellContext, step: Step) -> str | None:
    for env in (step.env, ctx.recipe.env, ctx.suite.env):
        if "PYTEST_ADDOPTS" in env:
            return env["PYTEST_ADDOPTS"]
    return None


def rerun_failures(
    session: ExecutionSession,
    ctx: CellContext,
    store: Store,
    run_id: int,
    steps: Sequence[StepFailures],
    *,
    attempts: int,
    note: Callable[[str], None],
) -> RerunSummary:
    """Re-run the failed tests of ``steps`` up to ``attempts`` times (module docstring)
    and store each attempt's outcomes."""
    summary = RerunSummary()
    for sf in steps:
        if not sf.failing:
            continue
        fmt = rerun_format(sf.step)
        if fmt is None:
            formats = ", ".join(sorted({r.format for r in sf.step.results}))
            summary.notes.append(f"step '{sf.step.name}': {formats} results cannot be re-run")
            continue
        if sf.truncated or len(sf.failing) > MAX_RERUN_TESTS:
            summary.notes.append(
                f"step '{sf.step.name}': more than {MAX_RERUN_TESTS} failed tests, not re-run "
                "(a broken build or backend rather than flaky tests)"
            )
            continue
        still = list(dict.fromkeys(sf.failing))
        summary.rerun += len(still)
        plan = _plan(sf, fmt, still, attempts, summary.notes)
        for attempt, (ordering, context) in enumerate(plan, 1):
            if not still:
                break
            how = f" ({describe(ordering)})" if ordering else ""
            note(
                f"rerun {attempt}/{len(plan)} of step '{sf.step.name}'{how}: "
                f"{len(still)} test(s)" + (f", after {len(context)} earlier" if context else "")
            )
            outcomes = _run_once(session, ctx, sf, fmt, [*context, *still], attempt, ordering)
            rows = [(t, attempt, o.value, d, m) for t, (o, d, m) in outcomes.items() if t in still]
            store.add_reruns(run_id, rows, ordering=ordering)
            passed = [t for t in still if outcomes.get(t, (None,))[0] in _OK]
            summary.passed_on_rerun += len(passed)
            missing = [t for t in still if t not in outcomes]
            if missing:
                summary.notes.append(
                    f"step '{sf.step.name}' rerun {attempt}: {len(missing)} test(s) not in its "
                    f"results (e.g. {missing[0]})"
                )
            still = [t for t in still if t not in passed and t in outcomes]
    if summary.rerun:
        summary.notes.insert(
            0,
            f"re-ran {summary.rerun} failed test(s): {summary.passed_on_rerun} passed on a rerun "
            "(flaky, or order-dependent when it passed only in another order)",
        )
    return summary


def _plan(
    sf: StepFailures, fmt: str, failing: Sequence[str], attempts: int, notes: list[str]
) -> list[tuple[str | None, list[str]]]:
    """The reruns of one step: ``(ordering, tests to run before the failing ones)`` each
    (module docstring)."""
    if sf.seed is None or fmt != "junit":
        return [(None, [])] * attempts
    plan: list[tuple[str | None, list[str]]] = []
    earlier = _earlier_tests(sf.result_files, set(failing))
    if earlier is None:
        notes.append(
            f"step '{sf.step.name}': the failed tests ran after more than "
            f"{MAX_REPRODUCE_TESTS} others: not reproduced with seed {sf.seed}"
        )
    else:
        plan.append((seed_ordering(sf.seed), earlier))
    plan.append((FIXED, []))
    return plan


def _earlier_tests(files: Sequence[Path], failing: set[str]) -> list[str] | None:
    """The tests that ran before the last of ``failing`` in the first attempt (in the
    order its result files list them), not failing ones; ``None`` when more than
    :data:`MAX_REPRODUCE_TESTS` would run."""
    order: list[str] = []
    for path in files:
        try:
            order.extend(r.test_id for r in parse(path, "junit"))
        except HarnessError:
            continue  # cut short: the cases before the cut are still listed
    last = max((i for i, t in enumerate(order) if t in failing), default=-1)
    earlier = list(dict.fromkeys(t for t in order[:last] if t not in failing))
    if len(earlier) + len(failing) > MAX_REPRODUCE_TESTS:
        return None
    return earlier


def _run_once(
    session: ExecutionSession,
    ctx: CellContext,
    sf: StepFailures,
    fmt: str,
    test_ids: Sequence[str],
    attempt: int,
    ordering: str | None = None,
) -> dict[str, tuple[Outcome, float, str | None]]:
    """One rerun of one step: outcome, duration and message per test id it reported."""
    prior = _prior_addopts(ctx, sf.step)
    if ordering is not None:
        prior = " ".join(p for p in (prior, ordering_args(ordering)) if p)
    rerun = Rerun(attempt, fmt, tuple(test_ids), prior)
    outcome = session.run_step(sf.step, Phase.TEST, sf.index, rerun)
    wanted = set(test_ids)
    out: dict[str, tuple[Outcome, float, str | None]] = {}
    if outcome.results_dir is None:
        return out
    for spec in sf.step.results:
        for path in collect_result_files(outcome.results_dir, spec.path).files:
            try:
                for r in parse(path, spec.format):
                    if r.test_id in wanted and (
                        r.test_id not in out or r.outcome in _FAILING
                    ):  # a test listed twice: the failing occurrence wins
                        out[r.test_id] = (r.outcome, r.duration_s, r.message)
            except HarnessError:
                continue  # an unreadable rerun file: its tests count as not re-run
    return out
