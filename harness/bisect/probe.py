"""One probe: the named tests of one cell at one commit, through the normal cell path.

A probe first looks for runs the store already has of the cell at that commit that ran
every named test (any trigger: a push run, an earlier bisection) and uses their outcomes.
Only what they leave open runs: the named tests, selected by name (:func:`selection`:
pytest node ids, or a googletest filter), through
:func:`harness.runner.run_cell` (the same environment keying, executor and recording as
``harness run``) in the bisection's job (trigger ``bisect``), with ``repeats - 1``
reruns of a failing test (:mod:`harness.rerun`), so a test is called failing only after
failing every attempt, and flaky when it both passed and failed at the commit.

A stored run pinned to a stack (``harness run --stack``) is reused only by a probe with
the same pins. A stack probe (:mod:`harness.bisect.stack_bisection`) is the same at one
commit with stack components pinned: it reuses only the stored runs whose fingerprint
``accept`` takes (the same version of every declared component), and its runs are
pinned. A probe pinning the image component runs (and reuses runs of) the cell of
that image variant.

Verdicts: a run that did not get to its tests (setup or build failed: status ``error``)
or that did not report one of the tests (it could not be collected) makes the commit
``skip``; a test that passed and failed makes it ``flaky``; a test failing every attempt
makes it ``bad``; every test passing makes it ``good``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness import failpoints
from harness.backends.target import BackendTarget
from harness.bisect.search import Verdict
from harness.config.suite import Suite
from harness.errors import ConfigError
from harness.executors.base import Executor, capabilities_of
from harness.matrix import Cell
from harness.runner import Display, RunOptions, RunStatus, RunSummary, run_cell
from harness.stack import pinned_cell, run_pins
from harness.store import Store

FAILING = frozenset({"failed", "error"})
OK = frozenset({"passed", "xfailed", "xpassed"})
_CLASS_RE = re.compile(r"^Test[A-Z0-9_]|^Test$")


def node_id(test_id: str) -> str:
    """The pytest node id of a JUnit test id (``tests.test_a.TestX::test_b`` →
    ``tests/test_a.py::TestX::test_b``): module parts become a path, parts named like
    pytest test classes (``Test…``) stay classes."""
    classname, sep, name = test_id.rpartition("::")
    if not sep or "/" in classname or classname.endswith(".py"):
        return test_id
    parts = classname.split(".")
    split = next((i for i, p in enumerate(parts) if i and _CLASS_RE.match(p)), len(parts))
    module = "/".join(parts[:split]) + ".py"
    return "::".join([module, *parts[split:], name])


#: result formats whose tests a probe selects by name, and how (``{args}`` of the run)
PYTEST_FORMATS = frozenset({"junit"})
GTEST_FORMATS = frozenset({"gtest-xml", "opencv-ts"})


def selection(suite: Suite, backend: str, tests: Sequence[str]) -> str:
    """The ``{args}`` that run only ``tests`` in the suite's test steps on ``backend``,
    shell-quoted (``{args}`` goes into the step's shell command as it is): pytest node ids
    for pytest's JUnit results, one ``--gtest_filter`` for googletest's (and OpenCV's).
    Other result formats are not selected by name: a :class:`ConfigError` asking for
    ``--test-args``."""
    recipe = suite.backends[backend]
    formats = {r.format for step in recipe.test for r in step.results}
    if formats and formats <= PYTEST_FORMATS:
        return " ".join(shlex.quote(node_id(t)) for t in tests)
    if formats and formats <= GTEST_FORMATS:
        return shlex.quote("--gtest_filter=" + ":".join(tests))
    raise ConfigError(
        f"the tests of {suite.name} on {backend} ({', '.join(sorted(formats))} results) "
        "are not selected by name",
        hint="give the probes' selection with --test-args (e.g. '-R NAME' for ctest)",
    )


def judge(outcomes: dict[str, list[str]], tests: Sequence[str]) -> tuple[Verdict, str]:
    """The verdict of one commit from each test's attempts, and why."""
    missing = [t for t in tests if not outcomes.get(t)]
    if missing:
        return Verdict.SKIP, f"not reported: {', '.join(missing)} (not collected?)"
    flaky = [t for t in tests if set(outcomes[t]) & FAILING and set(outcomes[t]) & OK]
    if flaky:
        return Verdict.FLAKY, f"passed and failed here: {', '.join(flaky)}"
    bad = [t for t in tests if set(outcomes[t]) <= FAILING]
    if bad:
        return Verdict.BAD, f"failing: {', '.join(bad)}"
    if all(set(outcomes[t]) <= OK for t in tests):
        return Verdict.GOOD, "passing"
    return Verdict.SKIP, "a test neither passed nor failed (skipped?)"


def attempts_state(attempts: Sequence[str]) -> str:
    """What a test's attempts at one commit (or stack) say: ``flaky`` (passed and
    failed), ``failing``, ``passing`` or ``unknown`` (none, or neither)."""
    seen = set(attempts)
    if seen & FAILING and seen & OK:
        return "flaky"
    if seen and seen <= FAILING:
        return "failing"
    if seen and seen <= OK:
        return "passing"
    return "unknown"


@dataclass(slots=True)
class EndCheck:
    """The tests at one end of a bisection: those in the state the end must show
    (``kept``), the flaky ones (test → attempts) and the others (test → their state)."""

    kept: list[str]
    flaky: dict[str, list[str]] = field(default_factory=dict)
    other: dict[str, str] = field(default_factory=dict)


def check_end(tests: Sequence[str], outcomes: dict[str, list[str]], want: str) -> EndCheck:
    """Sort ``tests`` by their attempts at an end where they must be ``want``
    (``failing`` at the bad end, ``passing`` at the good one)."""
    checked = EndCheck([])
    for test in tests:
        state = attempts_state(outcomes.get(test, []))
        if state == want:
            checked.kept.append(test)
        elif state == "flaky":
            checked.flaky[test] = outcomes[test]
        else:
            checked.other[test] = state
    return checked


@dataclass(slots=True)
class ProbeReport:
    sha: str
    verdict: Verdict
    reason: str
    #: test id → outcomes, first attempt first, reused runs' then new runs'
    outcomes: dict[str, list[str]] = field(default_factory=dict)
    reused_runs: list[int] = field(default_factory=list)
    new_runs: list[int] = field(default_factory=list)
    #: the stack components pinned (a stack probe), else ``None``
    pins: dict[str, str] | None = None

    @property
    def reused(self) -> bool:
        return not self.new_runs


@dataclass
class Prober:
    """Probes commits of one cell for ``tests`` (see the module docstring)."""

    cell: Cell
    suite: Suite
    tests: list[str]
    target: BackendTarget
    store: Store
    executor: Executor
    options: RunOptions
    job_id: str
    out_dir: Path
    display: Display
    repeats: int = 3
    #: ``--test-args`` for the probes' runs; default: the tests' pytest node ids
    test_args: str | None = None
    on_run: Callable[[str], None] = field(default=lambda _text: None)

    def cell_for(self, pins: Mapping[str, str] | None) -> Cell:
        """The cell a probe with ``pins`` runs: this one, or with the image component
        pinned, the cell of that image variant (only an executor running image cells
        can run it)."""
        if pins is None:
            return self.cell
        cell = pinned_cell(self.cell, self.suite, pins)
        if cell != self.cell and capabilities_of(self.executor).cells != "image":
            raise ConfigError(
                f"probing image variant {cell.variant} runs {cell.id} in that image; the "
                f"{self.executor.name} executor runs host cells only",
                hint="bisect with --executor docker",
            )
        return cell

    def stored(
        self,
        sha: str,
        accept: Callable[[Mapping[str, Any]], bool] | None = None,
        cell: Cell | None = None,
    ) -> tuple[dict[str, list[str]], list[int]]:
        """What the store's runs of ``cell`` (default: the prober's) at ``sha`` say of
        the tests, and those runs (only those whose fingerprint ``accept`` takes, when
        given)."""
        cell = cell or self.cell
        with self.store.reading(f"reading runs of {cell.id} at {sha[:12]}") as r:
            runs = r.bisections.runs_at(cell.id, sha, self.tests)
        accept = accept or self._same_pins
        runs = [run for run in runs if accept(run.fingerprint or {})]
        outcomes: dict[str, list[str]] = {}
        for run in runs:
            for test, attempts in run.outcomes.items():
                outcomes.setdefault(test, []).extend(attempts)
        return outcomes, [run.run_id for run in runs]

    def _same_pins(self, fingerprint: Mapping[str, Any]) -> bool:
        """A commit probe reuses only runs with the stack pins its own runs get (none,
        unless ``options.stack``): a run pinned to another stack says nothing of this one."""
        pinned = fingerprint.get("stack")
        return dict(pinned if isinstance(pinned, Mapping) else {}) == dict(self.options.stack)

    def probe(
        self,
        sha: str,
        *,
        pins: Mapping[str, str] | None = None,
        accept: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> ProbeReport:
        """Judge the tests at ``sha`` (with the stack ``pins``, reusing only the stored
        runs ``accept`` takes)."""
        cell = self.cell_for(pins)
        outcomes, reused = self.stored(sha, accept, cell)
        report = ProbeReport(sha, Verdict.SKIP, "", outcomes, reused)
        report.pins = dict(pins) if pins is not None else None
        if reused:
            verdict, reason = judge(outcomes, self.tests)
            settled = verdict in (Verdict.GOOD, Verdict.FLAKY) or (
                verdict is Verdict.BAD
                and all(
                    len(outcomes[t]) >= self.repeats
                    for t in self.tests
                    if set(outcomes[t]) <= FAILING
                )
            )
            if settled:
                report.verdict, report.reason = verdict, reason
                return report
        tried = sum(len(v) for v in outcomes.values()) // max(len(self.tests), 1)
        summary = self._run(sha, reruns=max(self.repeats - 1 - tried, 0), pins=pins, cell=cell)
        report.new_runs.append(summary.run_id)
        if self.options.cancel is not None:
            self.options.cancel.check()  # cancelled during the run: no verdict from it
        if summary.status not in {RunStatus.PASSED, RunStatus.FAILED}:
            report.verdict = Verdict.SKIP
            report.reason = f"run {summary.run_id} {summary.status.value}: {summary.reason or ''}"
            return report
        with self.store.reading(f"reading run {summary.run_id}") as r:
            fresh = {a.run_id: a for a in r.bisections.runs_at(cell.id, sha, self.tests)}
        attempts = fresh.get(summary.run_id)
        for test in self.tests:
            report.outcomes.setdefault(test, []).extend(
                attempts.outcomes.get(test, []) if attempts else []
            )
        report.verdict, report.reason = judge(report.outcomes, self.tests)
        return report

    def _run(
        self,
        sha: str,
        *,
        reruns: int,
        pins: Mapping[str, str] | None = None,
        cell: Cell | None = None,
    ) -> RunSummary:
        if self.options.cancel is not None:
            self.options.cancel.check()  # the service took the bisection back: stop here
        failpoints.hit("bisect.probing")
        args = self.test_args or selection(self.suite, self.cell.backend, self.tests)
        options = replace(self.options, ref=sha, sha=None, args=args, subset=None, reruns=reruns)
        if pins is not None:
            options = replace(options, stack=tuple(sorted(run_pins(self.suite, pins).items())))
        self.on_run(sha)
        return run_cell(
            cell or self.cell,
            self.suite,
            target=self.target,
            store=self.store,
            executor=self.executor,
            options=options,
            job_id=self.job_id,
            out_dir=self.out_dir,
            display=self.display,
        )
