"""A whole stack bisection of one cell, stored like a commit bisection (tables
``bisections`` with kind ``stack``, ``bisection_probes`` with each probe's pins).

From a good and a bad run of the cell at one upstream commit whose fingerprints differ in
declared stack components: the tests followed (named, or those failing in the bad run and
not in the good one), both ends probed with their stacks pinned (the runs themselves are
reused; a failing test is repeated up to ``repeats`` times, so a test that passes and fails
at an end is flaky, not a regression, and one that does not really flip is dropped; one
the store has seen pass and fail on one stack at one commit gets twice the attempts), then
:func:`harness.bisect.stack.search_stack`. Every probe goes through
:class:`harness.bisect.probe.Prober` at the commit with its pins: a stored run of the
cell at that commit with the same version of every declared component is reused instead
of run again.

Runs at different commits are refused when their stacks differ too (one thing at a time:
the commits with the stack pinned, or the stack at one commit); at one commit with no
declared component changed, the outcome is ``no-change`` and the fingerprint fields that
did differ (driver, SDK, image, packages) are named.

:func:`run_stack_bisection` fills an existing ``bisections`` row (created by the CLI, or
queued by the service: :func:`create_stack_bisection`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.bisect.bisection import flaky_history
from harness.bisect.probe import Prober, ProbeReport, attempts_state, check_end
from harness.bisect.search import Verdict, default_max_probes
from harness.bisect.stack import bad_stack, good_stack, search_stack
from harness.config.suite import Suite
from harness.errors import ConfigError
from harness.fingerprint import stack_summary
from harness.images.matrix import ImageMatrix
from harness.matrix import HOST_VARIANT, Cell
from harness.stack import (
    ComponentChange,
    available_versions,
    component_version,
    stack_diff,
    variant_line,
)
from harness.store import Store
from harness.store.bisections import BisectionRecord
from harness.store.models import RunRecord

Say = Callable[[str], None]


@dataclass(slots=True)
class StackStep:
    """One stack looked at: role (``good``/``bad`` end, or ``probe``), the component tried
    and its version (``None`` at an end), and what the probe saw."""

    role: str
    component: str | None
    version: str | None
    report: ProbeReport

    def as_json(self) -> dict[str, Any]:
        p = self.report
        return {
            "role": self.role,
            "component": self.component,
            "version": self.version,
            "pins": p.pins,
            "sha": p.sha,
            "verdict": p.verdict.value,
            "reason": p.reason,
            "outcomes": p.outcomes,
            "reused_runs": p.reused_runs,
            "new_runs": p.new_runs,
        }


@dataclass(slots=True)
class StackBisectionReport:
    bisection_id: int
    job_id: str | None
    cell: str
    repo: str
    sha: str
    good_run: int
    bad_run: int
    tests: list[str]
    repeats: int
    changes: list[ComponentChange]
    max_probes: int = 0
    outcome: str = ""
    reason: str = ""
    component: str | None = None
    version: str | None = None
    suspects: list[str] = field(default_factory=list)
    #: fingerprint field → [good, bad], for the fields that differ (the evidence when no
    #: declared component did)
    differences: dict[str, list[str | None]] = field(default_factory=dict)
    #: test id → {"pins": ..., "outcomes": [...]}: where it passed and failed
    flaky: dict[str, dict[str, Any]] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)
    steps: list[StackStep] = field(default_factory=list)

    @property
    def probe_count(self) -> int:
        return sum(1 for s in self.steps if s.role == "probe")

    @property
    def culprit(self) -> bool:
        """A component was named (with its version, or a range of them)."""
        return self.outcome in ("found", "component")

    def runs(self) -> tuple[list[int], list[int]]:
        """(reused, new) run ids over every step."""
        reused = sorted({r for s in self.steps for r in s.report.reused_runs})
        new = sorted({r for s in self.steps for r in s.report.new_runs})
        return reused, new

    def result_json(self) -> dict[str, Any]:
        """The answer as stored in the row's ``result``."""
        reused, new = self.runs()
        return {
            "sha": self.sha,
            "component": self.component,
            "version": self.version,
            "suspects": list(self.suspects),
            "changes": [c.as_json() for c in self.changes],
            "differences": self.differences,
            "dropped": self.dropped,
            "probes": self.probe_count,
            "runs": {"reused": reused, "new": new},
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.bisection_id,
            "kind": "stack",
            "job": self.job_id,
            "cell": self.cell,
            "repository": self.repo,
            "good_run": self.good_run,
            "bad_run": self.bad_run,
            "tests": self.tests,
            "repeats": self.repeats,
            "max_probes": self.max_probes,
            "outcome": self.outcome,
            "reason": self.reason,
            "flaky": self.flaky,
            **self.result_json(),
            "steps": [s.as_json() for s in self.steps],
        }


def fingerprint_differences(
    good: Mapping[str, Any], bad: Mapping[str, Any]
) -> dict[str, list[str | None]]:
    """The comparable fingerprint fields (driver, SDK, image, torch, python...) and the
    Python packages (``packages.NAME``) that differ between two fingerprints."""
    a, b = stack_summary(good), stack_summary(bad)
    out: dict[str, list[str | None]] = {k: [a[k], b[k]] for k in a if a[k] != b.get(k)}
    pa, pb = _packages(good), _packages(bad)
    for name in sorted(set(pa) | set(pb)):
        if pa.get(name) != pb.get(name):
            out[f"packages.{name}"] = [pa.get(name), pb.get(name)]
    return out


def _packages(fingerprint: Mapping[str, Any]) -> dict[str, str]:
    py = fingerprint.get("python")
    packages = py.get("packages") if isinstance(py, Mapping) else None
    return {str(k): str(v) for k, v in (packages or {}).items()}


def _fingerprint(store: Store, run: RunRecord) -> dict[str, Any]:
    return store.get_environment(run.environment_id) if run.environment_id else {}


def check_stack_runs(
    suite: Suite, cell: str, good: RunRecord, bad: RunRecord, store: Store
) -> tuple[list[ComponentChange], dict[str, Any], dict[str, Any]]:
    """The declared components that differ between the runs (and their fingerprints);
    a :class:`ConfigError` when the runs are not of ``cell`` or not at one commit. With an
    image component declared, the good run may be of another image variant of the cell's
    suite and backend (the image is then one of the changes)."""
    for run in (good, bad):
        if run.cell != cell and not _sibling(suite, run.cell, cell):
            raise ConfigError(
                f"run {run.id} is of cell {run.cell}, not {cell}",
                hint=(
                    f"runs on two image variants are compared when suite '{suite.name}' "
                    "declares its image component (`versions: {images: true}` under `stack:`)"
                    if run.cell.rsplit("/", 1)[0] == cell.rsplit("/", 1)[0]
                    else None
                ),
            )
        if run.sha is None:
            raise ConfigError(f"run {run.id} has no upstream commit recorded")
    good_fp, bad_fp = _fingerprint(store, good), _fingerprint(store, bad)
    changes = stack_diff(suite, good_fp, bad_fp)
    if good.sha != bad.sha:
        assert good.sha is not None
        assert bad.sha is not None
        commits = f"{good.sha[:12]} → {bad.sha[:12]}"
        if changes:
            stack = ", ".join(f"{c.name} {c.good} → {c.bad}" for c in changes)
            raise ConfigError(
                f"runs {good.id} and {bad.id} differ in both the upstream commit ({commits}) "
                f"and the stack ({stack}): one thing at a time",
                hint=f"bisect the commits with the stack pinned (runs at {good.sha[:12]} and "
                f"{bad.sha[:12]} with the same --stack pins, then `harness bisect {cell} "
                f"--good {good.sha[:12]} --bad {bad.sha[:12]}`), or the stack at one commit "
                f"(a run at {bad.sha[:12]} with the good stack, then `harness bisect {cell} "
                "--stack --good RUN --bad RUN`)",
            )
        raise ConfigError(
            f"runs {good.id} and {bad.id} are at different commits ({commits}) and no "
            "declared stack component differs: the commits changed, not the stack",
            hint=f"bisect the commits: harness bisect {cell} --good {good.sha[:12]} "
            f"--bad {bad.sha[:12]}",
        )
    return changes, good_fp, bad_fp


def _sibling(suite: Suite, one: str, other: str) -> bool:
    """Whether two cell ids are image variants of one suite and backend, and the suite
    declares the image component (so the variant is a stack dimension)."""
    a, b = Cell.parse(one), Cell.parse(other)
    return (
        suite.image_component is not None
        and (a.suite, a.backend) == (b.suite, b.backend)
        and HOST_VARIANT not in (a.variant, b.variant)
    )


def create_stack_bisection(
    store: Store,
    *,
    cell: str,
    suite: str,
    repository: str,
    good: RunRecord,
    bad: RunRecord,
    tests: Sequence[str] = (),
    repeats: int = 3,
    max_probes: int = 0,
    job_id: str | None = None,
    status: str = "running",
) -> int:
    """A ``bisections`` row of kind ``stack`` for the runs ``good`` and ``bad`` (status
    ``queued`` for one the service will run later); filled by :func:`run_stack_bisection`.
    (:func:`check_stack_runs` says first whether the runs can be bisected across the stack.)"""
    if good.sha is None:
        raise ConfigError(f"run {good.id} has no upstream commit recorded")
    with store.transaction("creating a stack bisection") as tx:
        return tx.bisections.create(
            job_id=job_id,
            cell=cell,
            suite=suite,
            tests=list(tests),
            good_sha=good.sha,
            bad_sha=bad.sha or good.sha,
            candidates=0,
            max_probes=max_probes,
            repeats=repeats,
            kind="stack",
            repository=repository,
            good_run_id=good.id,
            bad_run_id=bad.id,
            status=status,
        )


def _newly_failing(store: Store, good_run: int, bad_run: int) -> list[str]:
    with store.reading("reading the failing tests of the runs") as r:
        return sorted(
            set(r.bisections.failing_tests(bad_run)) - set(r.bisections.failing_tests(good_run))
        )


def _accepting(
    suite: Suite, base: Mapping[str, str | None], pins: Mapping[str, str]
) -> Callable[[Mapping[str, Any]], bool]:
    """Takes a stored run's fingerprint when every declared component there is at the
    version the probe wants (the good run's, or the pin)."""
    wanted = {**base, **pins}

    def accept(fingerprint: Mapping[str, Any]) -> bool:
        return all(
            component_version(name, comp, fingerprint) == wanted.get(name)
            for name, comp in suite.stack.items()
        )

    return accept


def run_stack_bisection(
    store: Store,
    bisection_id: int,
    make_prober: Callable[[BisectionRecord], Prober],
    *,
    matrix: ImageMatrix | None = None,
    max_probes: int | None = None,
    cap: int | None = None,
    lease_owner: str | None = None,
    say: Say = lambda _text: None,
) -> StackBisectionReport:
    """Run the stack bisection of the existing row ``bisection_id`` (kind ``stack``,
    created by the CLI or queued by the service: its cell, runs, tests and repeats) and
    store its probes and answer; ``make_prober`` gives the prober of the row's cell (its
    job, its executor); ``matrix``: the image matrix the image component's versions come
    from. As :func:`harness.bisect.bisection.run_bisection` for a
    scheduled row: the probes of an earlier attempt are forgotten (their runs are
    reused), ``cap`` bounds the version search below the default (the caller's budget),
    and with ``lease_owner`` the answer is recorded only while that worker holds the
    row. A failure marks the row ``error`` and is raised."""
    with store.reading(f"reading bisection {bisection_id}") as r:
        record = r.bisections.get(bisection_id)
    if record is None or record.kind != "stack":
        raise ConfigError(f"no stack bisection with id {bisection_id}")
    if record.good_run_id is None or record.bad_run_id is None:
        raise ConfigError(f"stack bisection {bisection_id} names no good and bad run")
    try:
        return _run(store, record, make_prober, matrix, max_probes, cap, lease_owner, say)
    except BaseException as exc:
        with store.transaction("recording a failed stack bisection") as tx:
            tx.bisections.finish(
                bisection_id, status="error", outcome=None, reason=str(exc), owner=lease_owner
            )
        raise


def _run(
    store: Store,
    record: BisectionRecord,
    make_prober: Callable[[BisectionRecord], Prober],
    matrix: ImageMatrix | None,
    max_probes: int | None,
    cap: int | None,
    lease_owner: str | None,
    say: Say,
) -> StackBisectionReport:
    assert record.good_run_id is not None
    assert record.bad_run_id is not None
    prober = make_prober(record)
    suite = prober.suite
    good, bad = store.get_run(record.good_run_id), store.get_run(record.bad_run_id)
    changes, good_fp, bad_fp = check_stack_runs(suite, record.cell, good, bad, store)
    assert good.sha is not None
    report = StackBisectionReport(
        bisection_id=record.id,
        job_id=prober.job_id,
        cell=record.cell,
        repo=record.repository or suite.upstream.repo,
        sha=good.sha,
        good_run=good.id,
        bad_run=bad.id,
        tests=list(record.tests),
        repeats=record.repeats,
        changes=changes,
    )
    if not changes:
        report.differences = fingerprint_differences(good_fp, bad_fp)
        report.outcome = "no-change"
        named = ", ".join(f"{k} {a} → {b}" for k, (a, b) in report.differences.items())
        report.reason = "no declared stack component differs between the runs" + (
            f"; the fingerprints differ in: {named} (declare the one that matters under "
            "`stack:` to bisect it)"
            if named
            else "; nor does any fingerprint field: not the stack"
        )
        with store.transaction("starting a stack bisection") as tx:
            tx.bisections.begin(
                record.id,
                job_id=prober.job_id,
                tests=report.tests,
                candidates=0,
                max_probes=0,
                repeats=record.repeats,
            )
        _finish(store, report, lease_owner)
        return report
    tests = list(record.tests) or _newly_failing(store, good.id, bad.id)
    if not tests:
        raise ConfigError(
            f"no test fails in run {bad.id} that passes in run {good.id}",
            hint="name the tests to follow with --test",
        )
    report.tests = tests
    prober.tests, prober.repeats = list(tests), record.repeats
    flipped = flaky_history(prober, tests)
    if flipped:
        prober.repeats = report.repeats = record.repeats * 2
        say(
            f"flaked before ({', '.join(f'{t} at {sha[:12]}' for t, sha in flipped.items())}): "
            f"{prober.repeats} attempts per probe"
        )
    versions = {
        c.name: available_versions(
            c.name,
            suite.stack[c.name],
            variant_line(matrix, c.good, c.bad) if suite.stack[c.name].is_image else (),
        )
        for c in changes
    }
    widest = max((len(v or ()) for v in versions.values()), default=1)
    version_budget = max_probes if max_probes is not None else default_max_probes(widest)
    if cap is not None:
        version_budget = max(1, min(version_budget, cap - len(changes)))
    report.max_probes = len(changes) + version_budget
    with store.transaction("starting a stack bisection") as tx:
        tx.bisections.clear_probes(record.id)
        tx.bisections.begin(
            record.id,
            job_id=prober.job_id,
            tests=tests,
            candidates=len(changes),
            max_probes=report.max_probes,
            repeats=report.repeats,
        )
    say(
        "stack changed: "
        + ", ".join(f"{c.name} {c.good} → {c.bad}" for c in changes)
        + f"; following {', '.join(tests)}"
    )
    base = {name: component_version(name, comp, good_fp) for name, comp in suite.stack.items()}

    def probe(
        role: str, component: str | None, version: str | None, pins: dict[str, str]
    ) -> ProbeReport:
        result = prober.probe(good.sha or "", pins=pins, accept=_accepting(suite, base, pins))
        step = StackStep(role, component, version, result)
        report.steps.append(step)
        with store.transaction("recording a stack probe") as tx:
            tx.bisections.add_probe(
                record.id,
                sha=result.sha,
                role=role,
                verdict=result.verdict.value,
                run_ids=[*result.reused_runs, *result.new_runs],
                reused=result.reused,
                outcomes=result.outcomes,
                reason=result.reason,
                pins=dict(pins),
            )
        pinned = ", ".join(f"{k}={v}" for k, v in sorted(pins.items()))
        say(f"{role} {pinned}: {_describe(result)}")
        return result

    # the ends: the tests must really go from passing (good stack) to failing (bad stack)
    keep = list(tests)
    for role, pins, want in (
        ("bad", bad_stack(changes), "failing"),
        ("good", good_stack(changes), "passing"),
    ):
        prober.tests = keep
        result = probe(role, None, None, pins)
        checked = check_end(keep, result.outcomes, want)
        for test, attempts in checked.flaky.items():
            report.flaky[test] = {"pins": pins, "outcomes": attempts}
        for test, state in checked.other.items():
            why = result.reason if state == "unknown" else state
            report.dropped[test] = f"{why} with the {role} stack"
        keep = checked.kept
        if not keep:
            break
    report.tests = prober.tests = keep
    if not keep:
        if report.flaky:
            report.outcome = "flaky"
            report.reason = "flaky, not a regression: " + _flaky_evidence(report)
        else:
            report.outcome = "none"
            report.reason = "no test went from passing to failing: " + "; ".join(
                f"{t} {why}" for t, why in report.dropped.items()
            )
        _finish(store, report, lease_owner)
        return report

    ends = bad_stack(changes)

    def stack_probe(component: str, version: str, pins: dict[str, str]) -> Verdict:
        if pins == ends:  # one component changed: alone, it is the bad end, already judged
            return Verdict.BAD
        result = probe("probe", component, version, pins)
        if result.verdict is Verdict.FLAKY:
            for test in keep:
                if attempts_state(result.outcomes.get(test, [])) == "flaky":
                    report.flaky[test] = {"pins": pins, "outcomes": result.outcomes[test]}
        return result.verdict

    answer = search_stack(changes, stack_probe, versions, max_probes=version_budget)
    report.outcome, report.reason = answer.outcome, answer.reason
    report.component, report.version = answer.component, answer.version
    report.suspects = list(answer.suspects)
    if answer.outcome == "flaky" and report.flaky:
        report.reason += " (" + _flaky_evidence(report) + ")"
    _finish(store, report, lease_owner)
    return report


def _flaky_evidence(report: StackBisectionReport) -> str:
    return "; ".join(
        f"{t} passed and failed with "
        f"{', '.join(f'{k}={v}' for k, v in sorted(e['pins'].items()))} "
        f"({', '.join(e['outcomes'])})"
        for t, e in report.flaky.items()
    )


def _describe(probe: ProbeReport) -> str:
    runs = f"reused run(s) {', '.join(map(str, probe.reused_runs))}" if probe.reused_runs else ""
    if probe.new_runs:
        runs += ("; " if runs else "") + f"new run(s) {', '.join(map(str, probe.new_runs))}"
    return f"{probe.verdict.value} ({probe.reason}; {runs})"


def _finish(store: Store, report: StackBisectionReport, owner: str | None) -> None:
    with store.transaction("finishing a stack bisection") as tx:
        tx.bisections.finish(
            report.bisection_id,
            owner=owner,
            status="done",
            outcome=report.outcome,
            reason=report.reason,
            suspects=report.suspects or None,
            flaky=report.flaky or None,
            result=report.result_json(),
        )
