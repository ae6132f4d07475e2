"""Typed model of the service's configuration (``suites/service/config.yaml``): who we
are on GitHub, the command words, and per upstream repository which cells a pull request
runs, whom the harness trusts to run them and how loudly it reports (participation level).

Levels, loudest last (PyTorch's CRCR L1-L4 with a blocking step):

``dashboard``  results on the dashboard only; nothing is posted to GitHub
``status``     a commit status per suite x backend (``<vendor>/<suite>/<backend>``)
``comment``    statuses and one pull-request comment, edited in place
``check``      check runs instead of statuses (advisory: a regression is ``neutral``)
               and the comment; check runs need GitHub App authentication
``blocking``   like ``check``, but a regression concludes ``failure`` (make the check
               required in the upstream's branch protection to block merges)

The file is validated like suite files: unknown keys fail with "did you mean", errors
name the file, the line and the key path.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from harness.config.loader import load_document
from harness.config.suite import Duration, Suite, _Strict, parse_duration

CONFIG_RELATIVE = Path("service") / "config.yaml"
ASSOCIATIONS = frozenset(
    {
        "OWNER",
        "MEMBER",
        "COLLABORATOR",
        "CONTRIBUTOR",
        "FIRST_TIME_CONTRIBUTOR",
        "FIRST_TIMER",
        "MANNEQUIN",
        "NONE",
    }
)


class Level(StrEnum):
    DASHBOARD = "dashboard"
    STATUS = "status"
    COMMENT = "comment"
    CHECK = "check"
    BLOCKING = "blocking"

    @property
    def posts(self) -> bool:
        return self is not Level.DASHBOARD

    @property
    def comments(self) -> bool:
        return self in {Level.COMMENT, Level.CHECK, Level.BLOCKING}

    @property
    def uses_checks(self) -> bool:
        return self in {Level.CHECK, Level.BLOCKING}

    @property
    def rank(self) -> int:
        """Its place on the ladder dashboard → status → comment → check → blocking."""
        return list(Level).index(self)

    def step(self, by: int, ceiling: Level) -> Level:
        """``by`` steps up (or down), between dashboard and ``ceiling``."""
        ladder = list(Level)
        return ladder[max(0, min(self.rank + by, ceiling.rank))]


class Approval(StrEnum):
    #: one approval covers later pushes to the pull request (Prow's ok-to-test label)
    PULL_REQUEST = "pull_request"
    #: every new head of an untrusted pull request needs a new approval
    COMMIT = "commit"


class RerunBy(StrEnum):
    TRUSTED = "trusted"
    AUTHOR = "author"
    ANYONE = "anyone"


class Trust(_Strict):
    associations: list[str] = Field(
        default_factory=lambda: ["OWNER", "MEMBER", "COLLABORATOR"],
        description="GitHub author associations whose pull requests run without approval, "
        "and who may approve others' (/harness ok-to-test).",
    )
    users: list[str] = Field(default_factory=list, description="Trusted logins.")
    orgs: list[str] = Field(
        default_factory=list,
        description="Logins (organisations) whose forks are trusted: a pull request from "
        "ORG:branch runs without approval.",
    )
    label: str | None = Field(
        default="ok-to-test",
        description="Applying this label approves the pull request (only people with "
        "triage rights can label). null: no label approves.",
    )
    approval: Approval = Field(
        default=Approval.PULL_REQUEST,
        description="pull_request: an approval covers later pushes; commit: each new head "
        "needs a new approval.",
    )
    rerun: list[RerunBy] = Field(
        default_factory=lambda: [RerunBy.TRUSTED, RerunBy.AUTHOR],
        description="Who may re-run cells (recheck, /harness retest): trusted (the "
        "associations and users above), author (the pull request's author), anyone.",
    )

    @field_validator("associations")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if a not in ASSOCIATIONS]
        if bad:
            raise ValueError(f"unknown association(s) {bad}: one of {sorted(ASSOCIATIONS)}")
        return value


class ChatOn(StrEnum):
    """What a chat notification is sent for."""

    #: a pull request's run with new failures (regressions against its baseline)
    NEW_FAILURES = "new_failures"
    #: a default-branch run with new failures (against the previous default-branch run)
    BROKEN_TRUNK = "broken_trunk"


class Chat(_Strict):
    """Chat notifications through a Slack-compatible incoming webhook; off until a webhook
    is named. Its URL is a secret: read from an environment variable or a file named
    here, never written to the configuration, the database or logs."""

    webhook_url_env: str = Field(
        default="",
        pattern=r"^([A-Za-z_][A-Za-z0-9_]*)?$",
        description="Environment variable holding the incoming-webhook URL (chat is off "
        "while neither this nor webhook_url_file is set).",
    )
    webhook_url_file: str = Field(
        default="", description="File holding the incoming-webhook URL (instead of _env)."
    )
    notify: list[ChatOn] = Field(
        default_factory=lambda: [ChatOn.NEW_FAILURES, ChatOn.BROKEN_TRUNK],
        description="new_failures (pull requests' runs), broken_trunk (default-branch runs).",
    )
    mention: str = Field(
        default="",
        description="Put before each message, e.g. <!subteam^ID> to notify a team.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Chat:
        if self.webhook_url_env and self.webhook_url_file:
            raise ValueError("set one of webhook_url_env and webhook_url_file, not both")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.webhook_url_env or self.webhook_url_file)


class AutoBisect(_Strict):
    """Culprit finding on a broken trunk: when a default-branch run has new failures
    against the previous default-branch run, the service bisects the commits between
    them (:mod:`harness.service.culprits`), within this budget."""

    enabled: bool = Field(
        default=True, description="Schedule a bisection when the default branch breaks."
    )
    max_concurrent: int = Field(
        default=1, ge=1, description="Bisections of this upstream running at once."
    )
    max_probes_per_day: int = Field(
        default=30,
        ge=1,
        description="Commits probed per rolling 24 hours over this upstream's scheduled "
        "bisections; one that would exceed it waits (shown as queued, with why).",
    )
    repeats: int = Field(
        default=3, ge=1, le=10, description="Attempts of a failing test per probed commit."
    )
    comment_culprit: bool = Field(
        default=False,
        description="Post one comment on the pull request that brought the first bad "
        "commit (opt-in; only at a level that comments; never repeated).",
    )


class Slo(_Strict):
    """Service-level objectives of the vendor CI for one upstream, over a rolling window
    (:mod:`harness.service.slo`); with ``participation.auto`` they move the level."""

    window: Duration = Field(default=7 * 86400.0, description="The rolling window.")
    report_latency_p95: Duration = Field(
        default=6 * 3600.0,
        description="95th percentile of webhook-to-final-report time, at most.",
    )
    missing_report_rate: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Share of owed reports not accepted by their deadline, at most.",
    )
    infra_error_rate: float = Field(
        default=0.10,
        ge=0,
        le=1,
        description="Share of runs ending error, crashed or timeout, at most.",
    )
    false_red_rate: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Share of failed pull-request runs that a later run of the same "
        "cell and commit passed (flaky or infrastructure reds), at most.",
    )
    coverage: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Lowest share of what the reference backend passes that this "
        "upstream's cells pass too (their latest default-branch runs); empty: shown, "
        "not a target.",
    )
    min_samples: int = Field(
        default=20,
        ge=1,
        description="Fewer samples in the window than this: the objective has no data "
        "(neither breaks nor holds).",
    )

    @field_validator("window", "report_latency_p95", mode="before")
    @classmethod
    def _durations(cls, v: Any) -> float:
        return parse_duration(v)


class Participation(_Strict):
    """How the level moves: demoted when an SLO breaks (to dashboard when reports go
    missing, else one step), promoted one step after the SLOs hold for a whole window,
    never above ``level``; a maintainer's pin (``harness participation pin``) holds it."""

    auto: bool = Field(default=True, description="Move the level by the SLOs.")
    evaluate_every: Duration = Field(
        default=300.0, description="How often a worker evaluates the SLOs."
    )

    @field_validator("evaluate_every", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        return parse_duration(v)


class UpstreamService(_Strict):
    level: Level = Field(
        default=Level.COMMENT,
        description="Participation level: the highest, when it moves by the SLOs.",
    )
    cells: list[str] = Field(
        default_factory=list,
        description="Cell patterns a pull request runs; empty: every cell of the suites "
        "whose upstream is this repository.",
    )
    baseline_on_push: bool = Field(
        default=True, description="Run the cells on pushes to the default branch (baselines)."
    )
    baseline_at_merge_base: bool = Field(
        default=True,
        description="Run a cell at a pull request's merge base when its verdict finds no "
        "baseline there (then judge the pull request again).",
    )
    trust: Trust = Field(default_factory=Trust)
    deadline: Duration = Field(
        default=6 * 3600.0,
        description="A report owed for a head is overdue this long after it was promised.",
    )
    chat: Chat = Field(default_factory=Chat, description="Chat notifications for the vendor team.")
    bisect: AutoBisect = Field(
        default_factory=AutoBisect,
        description="Automatic bisection of a broken default branch, and its budget.",
    )
    slo: Slo = Field(default_factory=Slo, description="Service-level objectives.")
    participation: Participation = Field(
        default_factory=Participation,
        description="The level moving by the SLOs (``level`` is the highest it reaches).",
    )

    @field_validator("deadline", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        return parse_duration(v)


class Commands(_Strict):
    recheck: str = Field(default="recheck", description="Re-runs every cell (a line alone).")
    retest: str = Field(default="/harness retest", description="Followed by a cell pattern.")
    ok_to_test: str = Field(default="/harness ok-to-test", description="Approves the PR.")


class Actions(_Strict):
    """Fan-out on GitHub Actions self-hosted runners (``harness workflows render``)."""

    repository: str = Field(
        default="",
        description="owner/name of the CI repository that holds workflows/ and its runners; "
        "the service sends repository_dispatch there and accepts results from its workflow.",
    )
    workflow: str = Field(default="harness.yml", description="The workflow file's name.")
    ref: str = Field(default="refs/heads/main", description="The CI repository's branch.")
    event_type: str = Field(default="harness-run", description="repository_dispatch type.")
    runners: dict[str, list[str]] = Field(
        default_factory=lambda: {"cpu": ["ubuntu-latest"]},
        description="Backend → runs-on labels, e.g. npu: [self-hosted, linux, arm64, npu].",
    )
    schedule: str = Field(default="17 2 * * *", description="Cron of the nightly baselines.")
    python: str = Field(default="3.11", description="Python the runner jobs use.")
    harness_repository: str = Field(
        default="accel-harness/accel-harness",
        description="owner/name of the harness (suites, images, package) the jobs check out.",
    )
    harness_ref: str = Field(default="main", description="Its branch, tag or SHA.")
    service_url: str = Field(
        default="",
        description="Where cell jobs send their results (POST /api/results, OIDC); empty: "
        "they are only uploaded as artifacts for the report job.",
    )
    timeout_minutes: int = Field(
        default=360, ge=1, le=4320, description="How long one cell job may run (minutes)."
    )
    oidc_audience: str = Field(
        default="accel-harness", description="Audience of the OIDC tokens runners send."
    )
    oidc_issuer: str = Field(
        default="https://token.actions.githubusercontent.com",
        description="Issuer the OIDC tokens must name.",
    )
    jwks_url: str = Field(
        default="https://token.actions.githubusercontent.com/.well-known/jwks",
        description="Where the OIDC signing keys are published.",
    )


class ServiceConfig(_Strict):
    vendor: str = Field(
        default="harness",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="First part of the status context <vendor>/<suite>/<backend>.",
    )
    contact: str = Field(
        default="", description="Where upstream developers reach the CI's owners (a URL)."
    )
    details_url: str = Field(
        default="",
        description="Details link of statuses and check runs; {run_id}, {cell} and {sha} "
        "are replaced. Empty: none. The served dashboard's shape: "
        "https://HOST/runs/{run_id}.html.",
    )
    pending_url: str = Field(
        default="",
        description="Link for a cell that has no run yet (queued, waiting for approval); "
        "{cell} and {sha} are replaced. Default: the dashboard's commit page next to "
        "details_url (…/prs/{sha}.html) when details_url has the served shape, else none.",
    )
    attestation_url: str = Field(
        default="",
        description="Link to a run's signed attestation in the PR comment and check run; "
        "{run_id} is replaced. Default: the service's /api/runs/{run_id}/attestation "
        "next to details_url when it has the served shape, else none.",
    )
    commands: Commands = Field(default_factory=Commands)
    upstreams: dict[str, UpstreamService] = Field(
        default_factory=dict, description="owner/name → what the service does for it."
    )
    actions: Actions = Field(default_factory=Actions)

    @field_validator("upstreams")
    @classmethod
    def _repo_names(cls, value: dict[str, UpstreamService]) -> dict[str, UpstreamService]:
        for name in value:
            owner, sep, repo = name.partition("/")
            if not sep or not owner or not repo or "/" in repo:
                raise ValueError(f"'{name}' is not owner/name")
        return value

    def upstream(self, repository: str) -> UpstreamService | None:
        """The configuration for ``repository`` (GitHub names are case-insensitive)."""
        wanted = repository.lower()
        for name, up in self.upstreams.items():
            if name.lower() == wanted:
                return up
        return None

    def context(self, suite: str, backend: str) -> str:
        return f"{self.vendor}/{suite}/{backend}"

    def details(self, run_id: int | None, cell: str, sha: str) -> str | None:
        """The link for ``cell`` at ``sha``: its run's page, or (no run yet) the commit's
        page; never a link with a hole in it (``/runs/.html``)."""
        if run_id is not None:
            template = self.details_url
        else:
            template = self.pending_url or _commit_page_of(self.details_url)
        if not template:
            return None
        return (
            template.replace("{run_id}", "" if run_id is None else str(run_id))
            .replace("{cell}", cell)
            .replace("{sha}", sha)
        )

    def attestation(self, run_id: int) -> str | None:
        """The link to run ``run_id``'s signed attestation, if there is a template."""
        template = self.attestation_url or _attestation_of(self.details_url)
        return template.replace("{run_id}", str(run_id)) if template else None


def _attestation_of(details_url: str) -> str:
    """``https://h/runs/{run_id}.html`` → ``https://h/api/runs/{run_id}/attestation``."""
    head, sep, _ = details_url.partition("/runs/{run_id}")
    return f"{head}/api/runs/{{run_id}}/attestation" if sep else ""


def _commit_page_of(details_url: str) -> str:
    """``https://h/runs/{run_id}.html`` → ``https://h/prs/{sha}.html``; "" otherwise."""
    head, sep, _ = details_url.partition("/runs/{run_id}")
    return f"{head}/prs/{{sha}}.html" if sep else ""


def suites_for(suites: Mapping[str, Suite], repository: str) -> set[str]:
    """Names of the suites whose upstream is ``repository`` (case-insensitive)."""
    wanted = repository.lower()
    return {name for name, s in suites.items() if s.upstream.repo.lower() == wanted}


def default_config_path(suites_dir: Path) -> Path:
    return suites_dir / CONFIG_RELATIVE


def load_service_config(path: Path, text: str | None = None) -> ServiceConfig:
    """Load and validate the service configuration (:class:`ConfigError` names file, line
    and key)."""
    _doc, config = load_document(
        path, text, ServiceConfig, "a service configuration must be a mapping of keys"
    )
    return config
