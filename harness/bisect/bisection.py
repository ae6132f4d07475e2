"""A whole bisection of one cell: the ends checked, the tests chosen, the search run over
the commits between, every probe stored (tables ``bisections``, ``bisection_probes``).

What is followed: the named tests, or by default those that fail in the store's run of
the bad commit and not in its run of the good one (a side without a run is run first,
with the suite's own selection). The ends are then probed like any commit: a test that
does not fail at the bad end (every attempt) or does not pass at the good end is not a
regression between them and is dropped; one that passed and failed at an end is flaky.
A test the store has already seen pass and fail at one commit (its flake history: a
regression flips across commits, a flaky test at one) gets twice the attempts per probe.
The search itself is :func:`harness.bisect.search.search`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from harness.bisect.answer import finished_result
from harness.bisect.commits import Commit, History
from harness.bisect.probe import Prober, ProbeReport, attempts_state, check_end
from harness.bisect.search import Outcome, Verdict, default_max_probes, search
from harness.errors import ConfigError
from harness.runner import RunStatus, run_cell

Say = Callable[[str], None]


@dataclass(slots=True)
class BisectionReport:
    bisection_id: int
    job_id: str
    cell: str
    repo: str
    tests: list[str]
    good: Commit
    bad: Commit
    candidates: int
    max_probes: int
    repeats: int
    outcome: str
    reason: str
    first_bad: Commit | None = None
    suspects: list[Commit] = field(default_factory=list)
    #: test id → {"sha": ..., "outcomes": [...]}
    flaky: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: (role, report) of every commit looked at, in order
    probes: list[tuple[str, ProbeReport]] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)

    @property
    def probe_count(self) -> int:
        return sum(1 for role, _ in self.probes if role == "probe")

    def runs(self) -> tuple[list[int], list[int]]:
        """(reused, new) run ids over every probe."""
        reused = sorted({r for _, p in self.probes for r in p.reused_runs})
        new = sorted({r for _, p in self.probes for r in p.new_runs})
        return reused, new

    def as_json(self) -> dict[str, Any]:
        reused, new = self.runs()
        return {
            "id": self.bisection_id,
            "job": self.job_id,
            "cell": self.cell,
            "tests": self.tests,
            "good": self.good.as_json(self.repo),
            "bad": self.bad.as_json(self.repo),
            "candidates": self.candidates,
            "max_probes": self.max_probes,
            "repeats": self.repeats,
            "outcome": self.outcome,
            "reason": self.reason,
            "first_bad": self.first_bad.as_json(self.repo) if self.first_bad else None,
            "suspects": [c.as_json(self.repo) for c in self.suspects],
            "flaky": self.flaky,
            "dropped": self.dropped,
            "probes": self.probe_count,
            "steps": [
                {
                    "role": role,
                    "sha": p.sha,
                    "verdict": p.verdict.value,
                    "reason": p.reason,
                    "outcomes": p.outcomes,
                    "reused_runs": p.reused_runs,
                    "new_runs": p.new_runs,
                }
                for role, p in self.probes
            ],
            "runs": {"reused": reused, "new": new},
        }


def _end_run(prober: Prober, sha: str) -> int:
    """The store's newest finished run of the cell at ``sha``, or a new one (the suite's
    own selection) in the bisection's job."""
    with prober.store.reading(f"looking for a run at {sha[:12]}") as r:
        found = r.bisections.latest_run_at(prober.cell.id, sha)
    if found is not None:
        return found
    options = replace(prober.options, ref=sha, sha=None, args=None, reruns=0)
    summary = run_cell(
        prober.cell,
        prober.suite,
        target=prober.target,
        store=prober.store,
        executor=prober.executor,
        options=options,
        job_id=prober.job_id,
        out_dir=prober.out_dir,
        display=prober.display,
    )
    if summary.status not in {RunStatus.PASSED, RunStatus.FAILED}:
        raise ConfigError(
            f"the run of {prober.cell.id} at {sha[:12]} ended {summary.status.value}: "
            f"{summary.reason or 'see its log'}",
            hint="a bisection needs the good and bad ends to run their tests",
        )
    return summary.run_id


def newly_failing(prober: Prober, good: str, bad: str) -> list[str]:
    """The tests failing in the run of ``bad`` and not in the run of ``good``."""
    good_run, bad_run = _end_run(prober, good), _end_run(prober, bad)
    with prober.store.reading("reading the failing tests of the ends") as r:
        return sorted(
            set(r.bisections.failing_tests(bad_run)) - set(r.bisections.failing_tests(good_run))
        )


def flaky_history(prober: Prober, tests: Sequence[str]) -> dict[str, str]:
    """Test id → a commit where the store has seen it both pass and fail on one stack
    and image variant (its flake evidence; a regression flips across commits, stacks or
    variants, never at one)."""
    out: dict[str, str] = {}
    with prober.store.reading("reading the tests' history") as r:
        for test in tests:
            by_commit = r.bisections.outcomes_by_commit(
                prober.suite.name, prober.cell.backend, test
            )
            flaked = [
                sha
                for (sha, _variant, _pins), seen in by_commit.items()
                if attempts_state(seen) == "flaky"
            ]
            if flaked:
                out[test] = flaked[0]
    return out


def run_bisection(
    prober: Prober,
    history: History,
    *,
    repo: str,
    good: str,
    bad: str,
    max_probes: int | None,
    say: Say,
    bisection_id: int | None = None,
    cap: int | None = None,
    lease_owner: str | None = None,
) -> BisectionReport:
    """Bisect ``prober``'s cell between the commits ``good`` and ``bad`` (SHAs); the
    prober's ``tests`` empty means the newly failing ones. ``bisection_id``: a scheduled
    bisection's row (queued by the service, leased by this worker) to fill, instead of a
    new one; the probes of an earlier attempt at it are forgotten (their runs are reused).
    ``cap``: the most probes the caller's budget allows (below the default); and
    ``lease_owner``: the worker holding the scheduled row (its answer is recorded only
    while it still does)."""
    candidates = history.candidates(good, bad)
    if not candidates:
        raise ConfigError(f"no commits between {good[:12]} and {bad[:12]}")
    if not prober.tests:
        prober.tests = newly_failing(prober, good, bad)
        if not prober.tests:
            raise ConfigError(
                f"no test fails at {bad[:12]} that passes at {good[:12]} in {prober.cell.id}",
                hint="name the tests to follow: harness bisect CELL TEST... --good --bad",
            )
        say(f"following the newly failing test(s): {', '.join(prober.tests)}")
    flipped = flaky_history(prober, prober.tests)
    if flipped:
        prober.repeats *= 2
        say(
            f"flaked before ({', '.join(f'{t} at {sha[:12]}' for t, sha in flipped.items())}): "
            f"{prober.repeats} attempts per probe"
        )
    budget = max_probes if max_probes is not None else default_max_probes(len(candidates))
    if cap is not None:
        budget = max(1, min(budget, cap))
    with prober.store.transaction("starting a bisection") as tx:
        if bisection_id is None:
            bisection_id = tx.bisections.create(
                job_id=prober.job_id,
                cell=prober.cell.id,
                suite=prober.suite.name,
                tests=prober.tests,
                good_sha=good,
                bad_sha=bad,
                candidates=len(candidates),
                max_probes=budget,
                repeats=prober.repeats,
                repository=repo,
            )
        else:
            tx.bisections.clear_probes(bisection_id)
            tx.bisections.begin(
                bisection_id,
                job_id=prober.job_id,
                tests=prober.tests,
                candidates=len(candidates),
                max_probes=budget,
                repeats=prober.repeats,
            )
    report = BisectionReport(
        bisection_id=bisection_id,
        job_id=prober.job_id,
        cell=prober.cell.id,
        repo=repo,
        tests=list(prober.tests),
        good=history.commit(good),
        bad=history.commit(bad),
        candidates=len(candidates),
        max_probes=budget,
        repeats=prober.repeats,
        outcome="",
        reason="",
    )
    try:
        _bisect(prober, history, report, candidates, good, bad, say)
    except BaseException as exc:
        with prober.store.transaction("recording a failed bisection") as tx:
            tx.bisections.finish(
                bisection_id, status="error", outcome=None, reason=str(exc), owner=lease_owner
            )
        raise
    with prober.store.transaction("finishing a bisection") as tx:
        tx.bisections.finish(
            bisection_id,
            status="done",
            outcome=report.outcome,
            reason=report.reason,
            first_bad=report.first_bad.sha if report.first_bad else None,
            suspects=[c.sha for c in report.suspects],
            flaky=report.flaky or None,
            owner=lease_owner,
            result=_display_result(history, report, flipped),
        )
    return report


def _display_result(
    history: History, report: BisectionReport, flipped: dict[str, str]
) -> dict[str, Any]:
    """What :mod:`harness.bisect.answer` shows of the bisection: subjects, authors and
    PRs of the commits it looked at (resolved now; probes keep only SHAs), the tests it
    followed, those dropped at the ends and those that had flaked before."""
    known = {c.sha: c for c in (report.good, report.bad, *report.suspects)}
    if report.first_bad is not None:
        known[report.first_bad.sha] = report.first_bad
    for _, probe in report.probes:
        if probe.sha not in known:
            known[probe.sha] = history.commit(probe.sha)
    return finished_result(
        known.values(),
        report.repo,
        followed=report.tests,
        dropped=report.dropped,
        flaked_before=flipped,
    )


def _record(prober: Prober, report: BisectionReport, role: str, probe: ProbeReport) -> None:
    report.probes.append((role, probe))
    with prober.store.transaction("recording a probe") as tx:
        tx.bisections.add_probe(
            report.bisection_id,
            sha=probe.sha,
            role=role,
            verdict=probe.verdict.value,
            run_ids=[*probe.reused_runs, *probe.new_runs],
            reused=probe.reused,
            outcomes=probe.outcomes,
            reason=probe.reason,
        )


def _check_ends(
    prober: Prober, report: BisectionReport, good: str, bad: str, say: Say
) -> list[str]:
    """Probe both ends; the tests that really went from passing to failing."""
    keep = list(prober.tests)
    for role, sha, want in (("bad", bad, "failing"), ("good", good, "passing")):
        prober.tests = keep
        probe = prober.probe(sha)
        _record(prober, report, role, probe)
        say(f"{role} end {sha[:12]}: {_describe(probe)}")
        checked = check_end(keep, probe.outcomes, want)
        for test, attempts in checked.flaky.items():
            report.flaky[test] = {"sha": sha, "outcomes": attempts}
        for test, state in checked.other.items():
            why = probe.reason if state == "unknown" else state
            report.dropped[test] = f"{why} at the {role} end {sha[:12]}"
        keep = checked.kept
        if not keep:
            break
    return keep


def _describe(probe: ProbeReport) -> str:
    runs = f"reused run(s) {', '.join(map(str, probe.reused_runs))}" if probe.reused_runs else ""
    if probe.new_runs:
        runs += ("; " if runs else "") + f"new run(s) {', '.join(map(str, probe.new_runs))}"
    return f"{probe.verdict.value} ({probe.reason}; {runs})"


def _bisect(
    prober: Prober,
    history: History,
    report: BisectionReport,
    candidates: list[str],
    good: str,
    bad: str,
    say: Say,
) -> None:
    prober.tests = _check_ends(prober, report, good, bad, say)
    report.tests = list(prober.tests)
    if not prober.tests:
        if report.flaky:
            report.outcome = Outcome.FLAKY.value
            report.reason = "flaky, not a regression: " + "; ".join(
                f"{t} passed and failed at {e['sha'][:12]} ({', '.join(e['outcomes'])})"
                for t, e in report.flaky.items()
            )
        else:
            report.outcome = "none"
            report.reason = "no test went from passing to failing: " + "; ".join(
                f"{t} {why}" for t, why in report.dropped.items()
            )
        return

    def probe(sha: str) -> Verdict:
        n = report.probe_count + 1
        say(f"probe {n}/{report.max_probes}: {history.commit(sha).subject!r} {sha[:12]} …")
        result = prober.probe(sha)
        _record(prober, report, "probe", result)
        say(f"  {_describe(result)}")
        if result.verdict is Verdict.FLAKY:
            for test in prober.tests:
                if attempts_state(result.outcomes.get(test, [])) == "flaky":
                    report.flaky[test] = {"sha": sha, "outcomes": result.outcomes[test]}
        return result.verdict

    found = search(candidates, probe, max_probes=report.max_probes)
    report.outcome = found.outcome.value
    report.suspects = [history.commit(s) for s in found.suspects]
    if found.outcome is Outcome.FOUND and found.first_bad is not None:
        report.first_bad = history.commit(found.first_bad)
        report.reason = (
            f"first bad commit {found.first_bad[:12]} in {found.probes} probe(s) "
            f"over {len(candidates)} candidate(s)"
        )
    elif found.outcome is Outcome.RANGE:
        report.reason = (
            "first bad is one of "
            + ", ".join(s[:12] for s in found.suspects)
            + (" (the others could not be tested)")
        )
    elif found.outcome is Outcome.FLAKY:
        report.reason = "flaky, not a regression: " + "; ".join(
            f"{t} passed and failed at {e['sha'][:12]} ({', '.join(e['outcomes'])})"
            for t, e in report.flaky.items()
        )
    else:
        report.reason = (
            f"probe budget ({report.max_probes}) spent; first bad is one of "
            + ", ".join(s[:12] for s in found.suspects)
        )
