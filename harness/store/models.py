"""The database schema (SQLAlchemy 2 typed declarative models).

Runs are the unit of history: one cell executed at one upstream SHA. Results are stored
one row per test case with the test id as text, indexed for "this cell over time"
(runs by cell and start time) and "this test across runs" (results by test id and run).
Fingerprints are deduplicated by the digest of their canonical JSON.

The migrations in ``migrations/versions`` must match these models; a test compares them
with Alembic's autogenerate on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Row,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from harness.results.model import OUTCOMES

#: BIGINT on PostgreSQL, INTEGER on SQLite (so it is the rowid and autoincrements).
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
#: JSONB on PostgreSQL (compact, queryable), JSON (text) on SQLite.
JSONDoc = JSON().with_variant(JSONB(), "postgresql")

#: Outcome value → its count column on ``runs``, in OUTCOMES order.
COUNT_COLUMNS: dict[str, str] = {o.value: f"n_{o.value}" for o in OUTCOMES}

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always an aware UTC datetime in Python.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the UTC wall time is
    stored as text and the zone is put back on read. Naive datetimes are refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Job(Base):
    """One invocation of the harness (CLI, CI event): a set of runs."""

    __tablename__ = "jobs"

    #: ``YYYYMMDDTHHMMSS-xxxxxx`` (UTC): sorts by creation time.
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(32))
    pattern: Mapped[str] = mapped_column(Text)
    ref: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))


class Environment(Base):
    """A fingerprint of the machine and software a run used, shared by identical runs."""

    __tablename__ = "environments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: sha256 of the canonical JSON (sorted keys, no spaces) of ``data``.
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Run(Base):
    """One cell executed once: status, counts per outcome, where its logs are."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_cell_started_at", "cell", "started_at"),
        Index("ix_runs_suite_backend_started_at", "suite", "backend", "started_at"),
        Index("ix_runs_sha", "sha"),
        Index("ix_runs_job_id", "job_id"),
        Index("uq_runs_origin", "origin", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"))
    cell: Mapped[str] = mapped_column(String(255))
    suite: Mapped[str] = mapped_column(String(100))
    backend: Mapped[str] = mapped_column(String(50))
    variant: Mapped[str] = mapped_column(String(100))
    upstream: Mapped[str] = mapped_column(String(255))
    #: The ref as asked (branch, tag, PR ref); ``None`` is the default branch.
    ref: Mapped[str | None] = mapped_column(Text)
    #: The commit that ran, once known.
    sha: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    #: One line: why the run has this status (crash reason, timeout, error).
    reason: Mapped[str | None] = mapped_column(Text)
    executor: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_s: Mapped[float | None] = mapped_column(Float)
    n_passed: Mapped[int] = mapped_column(Integer, default=0)
    n_failed: Mapped[int] = mapped_column(Integer, default=0)
    n_error: Mapped[int] = mapped_column(Integer, default=0)
    n_skipped: Mapped[int] = mapped_column(Integer, default=0)
    n_xfailed: Mapped[int] = mapped_column(Integer, default=0)
    n_xpassed: Mapped[int] = mapped_column(Integer, default=0)
    environment_id: Mapped[int | None] = mapped_column(ForeignKey("environments.id"))
    log_dir: Mapped[str | None] = mapped_column(Text)
    out_dir: Mapped[str | None] = mapped_column(Text)
    #: For a pull-request run: the merge base of its head with the upstream's default
    #: branch, where the verdict looks for a baseline. ``None``: not known.
    base_sha: Mapped[str | None] = mapped_column(String(64))
    #: Whether the run tested the upstream's default branch (a push, a schedule).
    #: ``None``: not recorded; the verdict then takes a run without a ``ref`` as one.
    is_default_branch: Mapped[bool | None] = mapped_column(Boolean)
    #: for a run loaded from a result bundle: the bundle's id (ingesting is idempotent)
    origin: Mapped[str | None] = mapped_column(String(64))
    #: of its failed and errored tests, how many a known failure or quarantine entry
    #: explains (:mod:`harness.verdict.explained`); ``None``: not judged
    explained: Mapped[int | None] = mapped_column(Integer)
    #: the subset the run selected (``None``: none, or ``--test-args`` replaced it)
    subset: Mapped[str | None] = mapped_column(String(100))
    #: the selection arguments the test steps ran with (``{args}``: a subset's args,
    #: ``--test-args`` or the suite's default); ``None``: not recorded (older runs)
    args: Mapped[str | None] = mapped_column(Text)
    #: test step name → the pytest-randomly seed it ran its tests in the order of
    #: (:mod:`harness.test_order`); ``None``: no step randomized
    seeds: Mapped[dict[str, int] | None] = mapped_column(JSONDoc)


class Result(Base):
    """One test case of one run."""

    __tablename__ = "results"
    __table_args__ = (
        # (run_id, id): a run's results in insertion order without a sort.
        Index("ix_results_run_id_id", "run_id", "id"),
        Index("ix_results_test_id_run_id", "test_id", "run_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    test_id: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text)


class Rerun(Base):
    """One re-execution of a test of a run, after its first attempt (stored in
    ``results``): a failed test that passes on a rerun is flaky."""

    __tablename__ = "reruns"
    __table_args__ = (Index("ix_reruns_run_id_test_id", "run_id", "test_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    test_id: Mapped[str] = mapped_column(Text)
    #: 1 for the first rerun, 2 for the second, …
    attempt: Mapped[int] = mapped_column(Integer)
    #: the test order it ran in (:mod:`harness.test_order`): ``seed=N`` (pytest-randomly
    #: with seed N and the first attempt's earlier tests), ``fixed`` (randomization off);
    #: ``None``: the step did not randomize
    ordering: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text)


class WebhookDelivery(Base):
    """One GitHub webhook delivery as received (signature verified), kept whole so that
    nothing is lost: the worker acts on it later. ``delivery_id`` (X-GitHub-Delivery) is
    unique, so a redelivery is recognised and not acted on twice."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(64), unique=True)
    event: Mapped[str] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(64))
    repository: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: ``received``, then ``handled``, ``ignored`` or ``error`` once the worker acted
    status: Mapped[str] = mapped_column(String(16), default="received")
    payload: Mapped[str] = mapped_column(Text)
    #: one line: what the worker did with it, or why not
    detail: Mapped[str | None] = mapped_column(Text)


class PullRequest(Base):
    """The service's view of one pull request: its newest head, author and approval."""

    __tablename__ = "pull_requests"
    __table_args__ = (UniqueConstraint("repository", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repository: Mapped[str] = mapped_column(String(200))
    number: Mapped[int] = mapped_column(Integer)
    head_sha: Mapped[str] = mapped_column(String(64))
    #: ``owner:branch`` of the head (for pairing companion repositories)
    head_label: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(100))
    #: GitHub's author association (OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR, NONE, …)
    association: Mapped[str] = mapped_column(String(32))
    #: ``open`` or ``closed``
    state: Mapped[str] = mapped_column(String(16))
    #: the head a trusted user approved (ok-to-test), and who
    approved_sha: Mapped[str | None] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(100))
    installation_id: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: GitHub's ``pull_request.updated_at`` of the delivery that set this state: a
    #: delivery older than it (GitHub does not deliver in order) changes nothing
    github_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class QueueItem(Base):
    """One cell to run at one commit: the durable job queue. Workers lease items; a lease
    is extended by heartbeats, and an expired lease makes the item claimable again."""

    __tablename__ = "queue"
    __table_args__ = (
        Index("ix_queue_state_priority_id", "state", "priority", "id"),
        Index("ix_queue_repository_pr_number_state", "repository", "pr_number", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"))
    repository: Mapped[str] = mapped_column(String(200))
    pr_number: Mapped[int | None] = mapped_column(Integer)
    head_sha: Mapped[str] = mapped_column(String(64))
    #: what the worker checks out: ``refs/pull/N/head`` or a branch
    ref: Mapped[str] = mapped_column(Text)
    cell: Mapped[str] = mapped_column(String(255))
    trigger: Mapped[str] = mapped_column(String(32))
    #: held (waiting for approval), queued, leased, done, failed, superseded
    state: Mapped[str] = mapped_column(String(16))
    #: lower runs first (pull requests before baselines)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    #: one line: why it is held, superseded or failed
    detail: Mapped[str | None] = mapped_column(Text)
    delivery_id: Mapped[str | None] = mapped_column(String(64))
    #: whether the code comes from a trusted author (not merely approved): untrusted code
    #: runs only in containers
    trusted: Mapped[bool] = mapped_column(Boolean, default=True)


class OwedReport(Base):
    """The missing-result ledger: a report promised for one cell at one pull-request head,
    with a deadline. ``owed`` past its deadline is overdue (shown by the API, logged)."""

    __tablename__ = "owed_reports"
    __table_args__ = (
        UniqueConstraint("repository", "head_sha", "cell"),
        Index("ix_owed_reports_state_deadline_at", "state", "deadline_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repository: Mapped[str] = mapped_column(String(200))
    pr_number: Mapped[int | None] = mapped_column(Integer)
    head_sha: Mapped[str] = mapped_column(String(64))
    cell: Mapped[str] = mapped_column(String(255))
    context: Mapped[str] = mapped_column(String(255))
    #: owed, queued, reported, superseded, cancelled, dropped (its level stopped posting)
    state: Mapped[str] = mapped_column(String(16))
    promised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: when the overdue report was first logged
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OutboxEntry(Base):
    """One report to post to GitHub (status, check run, PR comment). Posting is retried
    with backoff until it succeeds; a newer entry with the same key replaces a pending
    one, so a burst of updates posts the last state once."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_outbox_repository_key", "repository", "key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repository: Mapped[str] = mapped_column(String(200))
    #: status, check_run, comment
    kind: Mapped[str] = mapped_column(String(16))
    #: what a newer entry replaces: ``status:<sha>:<context>``, ``comment:<pr>``
    key: Mapped[str] = mapped_column(String(400))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    #: pending, sending, sent, dead
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class GithubObject(Base):
    """What the reporter created on GitHub and edits later: the PR comment, check runs."""

    __tablename__ = "github_objects"
    __table_args__ = (UniqueConstraint("repository", "kind", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repository: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(400))
    object_id: Mapped[int] = mapped_column(BigInteger)


class RateLimit(Base):
    """A GitHub rate limit one worker met, for every worker: the token or installation
    (``who``) waits until ``until``; ``hits`` limits in a row double the wait."""

    __tablename__ = "rate_limits"

    who: Mapped[str] = mapped_column(String(64), primary_key=True)
    until: Mapped[datetime] = mapped_column(UTCDateTime())
    hits: Mapped[int] = mapped_column(Integer)


class ResultsUpload(Base):
    """An archive ``POST /api/results`` stored, by the SHA-256 of its body and who sent it:
    the same archive again is answered from here, not unpacked and validated again."""

    __tablename__ = "results_uploads"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    caller: Mapped[str] = mapped_column(String(64), primary_key=True)
    answer: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RunAttestation(Base):
    """The signed attestation (a DSSE envelope) a run's bundle carried, verified against
    the runner's registered key when it was received (:mod:`harness.attest`)."""

    __tablename__ = "run_attestations"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    #: the SHA-256 of the raw public key that signed it, and that key's runner
    key_id: Mapped[str] = mapped_column(String(64))
    runner: Mapped[str] = mapped_column(String(200))
    envelope: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OpResult(Base):
    """One operator with one parameter set on one device, in one mode, of one run: the op
    coverage matrix (llama.cpp test-backend-ops ``test`` and ``support`` modes)."""

    __tablename__ = "op_results"
    __table_args__ = (Index("ix_op_results_run_id_op", "run_id", "op"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    device: Mapped[str] = mapped_column(String(64))
    op: Mapped[str] = mapped_column(String(128))
    params: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(16))
    supported: Mapped[bool] = mapped_column(Boolean)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    message: Mapped[str | None] = mapped_column(Text)


class OpFallback(Base):
    """An operator a torch device plugin ran on the CPU during a run, from its logs."""

    __tablename__ = "op_fallbacks"
    __table_args__ = (Index("ix_op_fallbacks_run_id", "run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    backend: Mapped[str] = mapped_column(String(50))
    op: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer)


def status_label(status: str, failing: int, explained: int | None) -> str:
    """A run's status as every report says it: ``known failures (N)`` when each failure
    is explained (:mod:`harness.verdict.explained`), ``failed (N known)`` when some are,
    else the status."""
    if status == "failed" and explained:
        if explained == failing:
            return f"known failures ({explained})"
        return f"failed ({explained} known)"
    return status


class Bisection(Base):
    """One search for the first bad commit of a cell between a good and a bad one
    (``harness bisect``): what it looked for, how it ended and why."""

    __tablename__ = "bisections"
    __table_args__ = (
        Index("ix_bisections_cell_created_at", "cell", "created_at"),
        Index("ix_bisections_repository_status", "repository", "status"),
        UniqueConstraint("dedup_key", name="uq_bisections_dedup_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: the job its probes ran in (trigger ``bisect``)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"))
    #: ``commits`` (upstream commits) or ``stack`` (stack components at one commit)
    kind: Mapped[str] = mapped_column(String(8), server_default="commits")
    #: ``manual`` (``harness bisect``) or ``auto`` (the service, on a broken trunk)
    origin: Mapped[str] = mapped_column(String(8), server_default="manual")
    #: the upstream repository (owner/name) whose commits are bisected
    repository: Mapped[str | None] = mapped_column(String(255))
    #: the runs it starts from, where known (the service's: the last good and the new bad)
    good_run_id: Mapped[int | None] = mapped_column(Integer)
    bad_run_id: Mapped[int | None] = mapped_column(Integer)
    #: a scheduled bisection's identity (one per cell, range and tests): exactly once
    dedup_key: Mapped[str | None] = mapped_column(String(400))
    #: a scheduled one is leased by a worker like a queue item
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    #: the stack answer (component, version, changes), for kind ``stack``
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    cell: Mapped[str] = mapped_column(String(255))
    suite: Mapped[str] = mapped_column(String(100))
    #: the test ids it followed
    tests: Mapped[list[str]] = mapped_column(JSONDoc)
    good_sha: Mapped[str] = mapped_column(String(64))
    bad_sha: Mapped[str] = mapped_column(String(64))
    #: how many candidates lay between good (excluded) and bad (included)
    candidates: Mapped[int] = mapped_column(Integer)
    max_probes: Mapped[int] = mapped_column(Integer)
    #: attempts of a failing test per probe
    repeats: Mapped[int] = mapped_column(Integer)
    #: ``queued`` (scheduled, waiting for a worker and the budget), ``running``,
    #: ``done`` or ``error``
    status: Mapped[str] = mapped_column(String(16))
    #: found, range, flaky, exhausted (``None`` while running or after an error)
    outcome: Mapped[str | None] = mapped_column(String(16))
    #: one line: the answer or why there is none
    reason: Mapped[str | None] = mapped_column(Text)
    first_bad: Mapped[str | None] = mapped_column(String(64))
    #: the commits the first bad one is among (one when found)
    suspects: Mapped[list[str] | None] = mapped_column(JSONDoc)
    #: test id → {"sha", "outcomes"} for a test seen passing and failing at one commit
    flaky: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class BisectionProbe(Base):
    """One commit tested by a bisection (or an end checked): its verdict and evidence."""

    __tablename__ = "bisection_probes"
    __table_args__ = (Index("ix_bisection_probes_bisection_id_id", "bisection_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bisection_id: Mapped[int] = mapped_column(ForeignKey("bisections.id", ondelete="CASCADE"))
    sha: Mapped[str] = mapped_column(String(64))
    #: ``probe`` (counted against the budget), ``good`` or ``bad`` (an end checked)
    role: Mapped[str] = mapped_column(String(8))
    #: good, bad, skip or flaky
    verdict: Mapped[str] = mapped_column(String(8))
    #: the runs it used
    run_ids: Mapped[list[int]] = mapped_column(JSONDoc)
    #: whether those runs were in the DB already (nothing ran for this probe)
    reused: Mapped[bool] = mapped_column(Boolean)
    #: test id → its outcomes at this commit, first attempt first
    outcomes: Mapped[dict[str, list[str]]] = mapped_column(JSONDoc)
    reason: Mapped[str | None] = mapped_column(Text)
    #: a stack probe's pins (component → version); ``None`` for a commit probe
    pins: Mapped[dict[str, str] | None] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Participation(Base):
    """An upstream's participation level as the service runs it now (it moves with the
    SLOs between dashboard and the configured level, or is pinned), with the last SLO
    evaluation that decided it."""

    __tablename__ = "participation"

    repository: Mapped[str] = mapped_column(String(255), primary_key=True)
    level: Mapped[str] = mapped_column(String(16))
    #: a maintainer's pin: the level does not move by itself
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    #: why it is at this level (one line)
    reason: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: the last evaluation: each SLO's value, target and state
    slo: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ParticipationChange(Base):
    """One change of an upstream's level: from, to, why, by whom (``auto`` or a login)."""

    __tablename__ = "participation_changes"
    __table_args__ = (Index("ix_participation_changes_repository_id", "repository", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repository: Mapped[str] = mapped_column(String(255))
    from_level: Mapped[str | None] = mapped_column(String(16))
    to_level: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One row of ``runs``, detached from the database. Datetimes are aware UTC."""

    id: int
    job_id: str | None
    cell: str
    suite: str
    backend: str
    variant: str
    upstream: str
    ref: str | None
    sha: str | None
    status: str
    reason: str | None
    executor: str
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    #: Six keys in OUTCOMES order.
    counts: dict[str, int]
    environment_id: int | None
    log_dir: str | None
    out_dir: str | None
    base_sha: str | None = None
    is_default_branch: bool | None = None
    #: failures a known failure or quarantine entry explains (``None``: not judged)
    explained: int | None = None
    subset: str | None = None
    #: the selection arguments it ran with (``None``: not recorded)
    args: str | None = None
    #: test step → pytest-randomly seed (``None``: no step randomized)
    seeds: dict[str, int] | None = None

    @property
    def all_explained(self) -> bool:
        """Failed, and every failure a known failure or quarantined."""
        failing = self.counts.get("failed", 0) + self.counts.get("error", 0)
        return self.status == "failed" and failing > 0 and self.explained == failing

    @property
    def label(self) -> str:
        """The status as every report says it (:func:`status_label`)."""
        failing = self.counts.get("failed", 0) + self.counts.get("error", 0)
        return status_label(self.status, failing, self.explained)

    @classmethod
    def from_row(cls, row: Row[Any]) -> RunRecord:
        """From a row holding (at least) every column of ``runs``."""
        m = row._mapping
        return cls(
            **{k: m[k] for k in _RECORD_COLUMNS},
            counts={key: int(m[col] or 0) for key, col in COUNT_COLUMNS.items()},
        )


_RECORD_COLUMNS = [c for c in RunRecord.__dataclass_fields__ if c != "counts"]
