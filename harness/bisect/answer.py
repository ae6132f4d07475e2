"""A stored bisection as people read it (``harness bisect show``, the dashboard, the PR
comment): one headline, a confidence with its reason, the culprit with its PR link and
the evidence (every probe: commit or pins, verdict, outcomes per attempt, runs).

Commit subjects and authors: probes know only SHAs, so a commit bisection keeps what it
resolved from git when it finished (:func:`finished_result`: ``result["commits"]``, SHA →
subject, author, PR number and link) beside the tests it followed and those that had
flaked before. A row without them (an older one) is shown by SHA.

Confidence (of a finished bisection):

- **high**: found, every probe decided (no commit skipped), each followed test failed
  every one of its attempts wherever it was called failing, no test had flaked before,
  and the good end was not an old run; a flaky verdict (a test seen passing and failing
  at one commit) is high too: that is its proof;
- **medium**: found, but commits were skipped, or a test had flaked before (so the
  attempts were doubled), or a test was called failing on fewer attempts than asked,
  or the good end reused a run older than :data:`OLD_RUN` (the stack may have moved);
  a stack answer naming the component but not its version;
- **low**: a range (skipped commits hide which is first), the probe budget spent, or
  no answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from harness.bisect.commits import Commit
from harness.store.bisections import BisectionRecord, Bisections, ProbeRecord

#: a good end reused from a run older than this (before the bisection) lowers confidence
OLD_RUN = timedelta(days=7)
FAILING = frozenset({"failed", "error"})
_PR_SUFFIX = re.compile(r"\s*\(#\d+\)\s*$")


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """What is shown of one commit (subject, author and PR when they were stored)."""

    sha: str
    subject: str | None = None
    author: str | None = None
    pr: int | None = None
    pr_url: str | None = None

    @property
    def short(self) -> str:
        return self.sha[:12]

    @property
    def author_name(self) -> str | None:
        """``Name <mail>`` → ``Name``."""
        return self.author.split(" <", 1)[0] if self.author else None

    def label(self) -> str:
        """``1a2b3c4d5e6f “subject” (#123) by Author`` with what is known."""
        out = self.short
        if self.subject:
            subject = _PR_SUFFIX.sub("", self.subject) if self.pr is not None else self.subject
            out += f" “{subject}”"
        if self.pr is not None:
            out += f" (#{self.pr})"
        if self.author_name:
            out += f" by {self.author_name}"
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "sha": self.sha,
            "subject": self.subject,
            "author": self.author,
            "pr": self.pr,
            "pr_url": self.pr_url,
        }


@dataclass(frozen=True, slots=True)
class Step:
    """One probe as evidence."""

    role: str
    sha: str
    commit: CommitInfo | None
    verdict: str
    reason: str | None
    runs: list[int]
    reused: bool
    outcomes: dict[str, list[str]]
    pins: dict[str, str] | None

    def as_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "sha": self.sha,
            "commit": self.commit.as_json() if self.commit else None,
            "verdict": self.verdict,
            "reason": self.reason,
            "runs": self.runs,
            "reused": self.reused,
            "outcomes": self.outcomes,
            "pins": self.pins,
        }


@dataclass(frozen=True, slots=True)
class Answer:
    """A stored bisection summarized for display."""

    id: int
    cell: str
    kind: str
    origin: str
    status: str
    outcome: str | None
    headline: str
    #: high, medium or low; ``None`` while queued or running, or when it failed
    confidence: str | None
    confidence_reason: str
    reason: str | None
    repository: str | None
    good: CommitInfo
    bad: CommitInfo
    #: the first bad commit (a commit bisection that found one)
    culprit: CommitInfo | None
    suspects: list[CommitInfo]
    #: a stack bisection's component and version
    component: str | None
    version: str | None
    tests: list[str]
    flaky: dict[str, Any]
    probes: int
    max_probes: int
    repeats: int
    steps: list[Step] = field(default_factory=list)
    good_run_id: int | None = None
    bad_run_id: int | None = None

    @property
    def decided(self) -> bool:
        return self.confidence is not None

    def short(self) -> str:
        """One line: the headline and its confidence."""
        if self.confidence is None:
            return self.headline
        return f"{self.headline}, confidence {self.confidence}"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "cell": self.cell,
            "kind": self.kind,
            "status": self.status,
            "outcome": self.outcome,
            "headline": self.headline,
            "confidence": self.confidence,
            "confidence_reason": self.confidence_reason,
            "culprit": self.culprit.as_json() if self.culprit else None,
            "component": self.component,
            "version": self.version,
        }


def commit_metadata(commits: Iterable[Commit], repo: str) -> dict[str, dict[str, Any]]:
    """SHA → what is shown of each commit (kept in a finished bisection's result)."""
    return {c.sha: c.as_json(repo) for c in commits}


def finished_result(
    commits: Iterable[Commit],
    repo: str,
    *,
    followed: Sequence[str],
    dropped: Mapping[str, str],
    flaked_before: Mapping[str, str],
) -> dict[str, Any]:
    """What a finished commit bisection keeps for display in its ``result``."""
    return {
        "commits": commit_metadata(commits, repo),
        "followed": list(followed),
        "dropped": dict(dropped),
        "flaked_before": dict(flaked_before),
    }


def _info(record: BisectionRecord, sha: str) -> CommitInfo:
    known = ((record.result or {}).get("commits") or {}).get(sha)
    if not isinstance(known, dict):
        return CommitInfo(sha)
    pr = known.get("pr")
    url = known.get("pr_url")
    if url is None and pr is not None and record.repository:
        url = f"https://github.com/{record.repository}/pull/{pr}"
    return CommitInfo(
        sha,
        subject=known.get("subject"),
        author=known.get("author"),
        pr=int(pr) if pr is not None else None,
        pr_url=url,
    )


def _steps(record: BisectionRecord, probes: Sequence[ProbeRecord]) -> list[Step]:
    return [
        Step(
            role=p.role,
            sha=p.sha,
            commit=_info(record, p.sha) if record.kind == "commits" else None,
            verdict=p.verdict,
            reason=p.reason,
            runs=list(p.run_ids),
            reused=p.reused,
            outcomes=dict(p.outcomes),
            pins=dict(p.pins) if p.pins else None,
        )
        for p in probes
    ]


def commit_confidence(
    record: BisectionRecord,
    probes: Sequence[ProbeRecord],
    run_started: Mapping[int, datetime] | None = None,
) -> tuple[str | None, str]:
    """(high | medium | low | None, why) of a commit bisection (see the module docstring)."""
    if record.status != "done":
        return None, {"queued": "not started", "running": "still probing"}.get(
            record.status, f"it ended {record.status}: {record.reason or 'no answer'}"
        )
    outcome = record.outcome
    searched = [p for p in probes if p.role == "probe"]
    if outcome == "flaky":
        evidence = "; ".join(
            f"{t} passed and failed at {str(e.get('sha', ''))[:12]}"
            for t, e in (record.flaky or {}).items()
        )
        return "high", f"seen passing and failing at one commit: {evidence}"
    if outcome == "range":
        skipped = sum(p.verdict == "skip" for p in searched)
        return "low", (
            f"{skipped} commit(s) could not be tested: the first bad is one of "
            f"{len(record.suspects or [])}"
        )
    if outcome == "exhausted":
        return "low", (
            f"the probe budget ({record.max_probes}) ran out with "
            f"{len(record.suspects or [])} candidate(s) left"
        )
    if outcome != "found":
        return "low", f"no answer: {record.reason or outcome or 'none'}"
    followed = record.followed
    doubts: list[str] = []
    untested = [p.sha[:12] for p in searched if p.verdict == "skip"]
    if untested:
        doubts.append(f"{len(untested)} commit(s) skipped ({', '.join(untested)})")
    flaked = (record.result or {}).get("flaked_before") or {}
    if flaked:
        doubts.append(
            "flaked before ("
            + ", ".join(f"{t} at {str(sha)[:12]}" for t, sha in flaked.items())
            + f"): attempts doubled to {record.repeats}"
        )
    for p in probes:
        if p.verdict != "bad":
            continue
        for test in followed:
            seen = p.outcomes.get(test, [])
            if seen and set(seen) <= FAILING and len(seen) < record.repeats:
                doubts.append(
                    f"{test} failed {len(seen)} of {record.repeats} attempt(s) at {p.sha[:12]}"
                )
    started = run_started or {}
    for p in probes:
        if p.role != "good" or not p.reused:
            continue
        times = [started[r] for r in p.run_ids if r in started]
        if times and record.created_at - min(times) > OLD_RUN:
            days = (record.created_at - min(times)).days
            doubts.append(f"the good end reuses a run from {days} day(s) before")
    if doubts:
        return "medium", "found, but " + "; ".join(doubts)
    return "high", (
        f"found in {len(searched)} probe(s), every probe decided, each failing test failed "
        f"all {record.repeats} attempts, no commit skipped"
    )


def _stack_confidence(
    record: BisectionRecord, answer: Mapping[str, Any], probes: Sequence[ProbeRecord]
) -> tuple[str, str]:
    """(high | medium | low, why) of a stack bisection: its probes are the stacks tried."""
    outcome = record.outcome
    verdicts = [p.verdict for p in probes if p.role == "probe"]
    if outcome == "flaky":
        return "high", record.reason or "seen passing and failing with one stack"
    if outcome == "found":
        undecided = [v for v in verdicts if v not in ("good", "bad")]
        if undecided:
            return "medium", f"found, but {len(undecided)} probe(s) could not be decided"
        return "high", f"found in {len(verdicts)} probe(s), every probe decided"
    if outcome == "component":
        return "medium", "the component is named; its first bad version is one of " + (
            ", ".join(map(str, answer.get("suspects") or [])) or "several"
        )
    return "low", f"no answer: {record.reason or outcome}"


def summarize(
    record: BisectionRecord,
    probes: Sequence[ProbeRecord],
    *,
    run_started: Mapping[int, datetime] | None = None,
) -> Answer:
    """The display summary of a stored bisection; ``run_started`` (run id → start) lets
    the confidence see an old good end."""
    steps = _steps(record, probes)
    probe_count = sum(1 for p in probes if p.role == "probe")
    culprit: CommitInfo | None = None
    component = version = None
    suspects: list[CommitInfo] = []
    stack: Mapping[str, Any] = {}
    if record.kind == "stack":
        stack = record.result or {}
        component, version = stack.get("component"), stack.get("version")
    else:
        suspects = [_info(record, s) for s in record.suspects or []]
        if record.first_bad:
            culprit = _info(record, record.first_bad)
    if record.status == "queued":
        headline, confidence, why = "queued", None, "not started"
    elif record.status == "running":
        headline = f"running: {probe_count}/{record.max_probes} probes"
        confidence, why = None, "still probing"
    elif record.status != "done":
        headline = f"failed: {record.reason or record.status}"
        confidence, why = None, f"it ended {record.status}"
    elif record.kind == "stack":
        outcome = record.outcome
        if outcome == "found":
            headline = f"stack: {component} {version} flips the tests"
        elif outcome == "component":
            headline = (
                f"stack: {component} flips the tests (version one of "
                + (", ".join(map(str, stack.get("suspects") or [])) or "?")
                + ")"
            )
        elif outcome == "flaky":
            headline = "flaky, not a regression"
        else:
            headline = "no stack component alone flips the tests"
        confidence, why = _stack_confidence(record, stack, probes)
    else:
        if record.outcome == "found" and culprit is not None:
            headline = f"first bad commit {culprit.label()}"
        elif record.outcome == "flaky":
            headline = "flaky, not a regression"
        elif record.outcome in ("range", "exhausted"):
            headline = "first bad is one of " + ", ".join(s.short for s in suspects)
            if record.outcome == "exhausted":
                headline += " (probe budget spent)"
        else:
            headline = "no regression between the ends"
        confidence, why = commit_confidence(record, probes, run_started)
    return Answer(
        id=record.id,
        cell=record.cell,
        kind=record.kind,
        origin=record.origin,
        status=record.status,
        outcome=record.outcome,
        headline=headline,
        confidence=confidence,
        confidence_reason=why,
        reason=record.reason,
        repository=record.repository,
        good=_info(record, record.good_sha),
        bad=_info(record, record.bad_sha),
        culprit=culprit,
        suspects=suspects,
        component=component,
        version=version,
        tests=record.followed,
        flaky=dict(record.flaky or {}),
        probes=probe_count,
        max_probes=record.max_probes,
        repeats=record.repeats,
        steps=steps,
        good_run_id=record.good_run_id,
        bad_run_id=record.bad_run_id,
    )


class _Reads(Protocol):
    @property
    def bisections(self) -> Bisections: ...


def read_answer(reader: _Reads, record: BisectionRecord) -> Answer:
    """:func:`summarize` with the probes and run start times read through ``reader``
    (a unit of work of the store)."""
    return read_answers(reader, [record])[0]


def read_answers(reader: _Reads, records: Sequence[BisectionRecord]) -> list[Answer]:
    """:func:`read_answer` of each record, in order, with two queries for them all."""
    probes = reader.bisections.probes_of({r.id for r in records})
    good_runs = {run for ps in probes.values() for p in ps if p.role == "good" for run in p.run_ids}
    started = reader.bisections.run_started(good_runs)
    return [summarize(r, probes[r.id], run_started=started) for r in records]


@dataclass(frozen=True, slots=True)
class BrokenSince:
    """What a PR comment says next to a pre-existing failure that a finished bisection
    of its cell found: the first bad commit (a commit bisection) or the stack component
    and version that flipped it (a stack bisection: ``commit`` is ``None``), and the
    confidence."""

    bisection_id: int
    commit: CommitInfo | None
    confidence: str | None
    component: str | None = None
    #: the component's first bad version (``None``: not pinned down to one)
    version: str | None = None

    @classmethod
    def of(cls, answer: Answer) -> BrokenSince | None:
        if answer.culprit is not None:
            return cls(answer.id, answer.culprit, answer.confidence)
        if answer.kind == "stack" and answer.component is not None:
            return cls(
                answer.id,
                None,
                answer.confidence,
                component=answer.component,
                version=answer.version,
            )
        return None


def broken_since(reader: _Reads, cell: str, test_ids: Iterable[str]) -> dict[str, BrokenSince]:
    """Test id → since when it is broken, for those of ``test_ids`` a finished bisection
    of ``cell`` answered for (the newest such bisection): a commit bisection's first bad
    commit, or a stack bisection's component."""
    found = reader.bisections.broken_since(cell, list(test_ids))
    records = list({r.id: r for r in found.values()}.values())
    answers = {a.id: a for a in read_answers(reader, records)}
    out: dict[str, BrokenSince] = {}
    for test, record in found.items():
        since = BrokenSince.of(answers[record.id])
        if since is not None:
            out[test] = since
    return out


def listed_bisections(reader: _Reads, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` bisections as listed (``GET /api/bisections``, ``harness
    bisect list --json``): each row with its headline and confidence."""
    out = []
    records = reader.bisections.recent(limit=limit)
    for record, answer in zip(records, read_answers(reader, records), strict=True):
        out.append(
            {
                **record.as_json(),
                "headline": answer.headline,
                "confidence": answer.confidence,
                "confidence_reason": answer.confidence_reason,
            }
        )
    return out
