"""Result bundles: runs carried from one machine's database to another's.

A runner (a GitHub Actions job, another machine) runs cells into its own database and
writes a bundle with ``harness run --bundle DIR``; ``harness ingest DIR`` (or the
service's ``POST /api/results``) loads it into the main database. One directory per run:

``run.json``       format ``harness.bundle/1``: the run's record (cell, upstream, ref, SHA,
                   merge base, status and reason, times, counts), its environment
                   fingerprint, the selection it made (subset, args) and the
                   pytest-randomly seed per test step, reruns (with the test order
                   each ran in: ``rerun_orderings``), and where it came from (bundle
                   id, GitHub run id, the queue item it answers)
``results.jsonl.gz``  one JSON object per test case, streamed both ways
``attestation.json``  (when the runner has a signing key) a DSSE envelope of the run's
                   in-toto Statement: its commit, image, environment and tests, signed
                   (:mod:`harness.attest`)

Ingesting is idempotent: a bundle already loaded (same bundle id, kept in
``runs.origin``) is skipped, so a retried upload or a re-run report job adds nothing.

A bundle is input from another machine, so it is validated whole before anything is
stored (:class:`BundleDoc`: cell ids in the matrix grammar, commit ids as hex, statuses
and outcomes from their lists, finite non-negative numbers, real timestamps; test ids
capped and escaped like parsed ones), and it is stored in one transaction with its
idempotency key (:meth:`Store.import_run`): whole or not at all, and once.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import Table

from harness import __version__, settings
from harness.attest.sign import sign_run
from harness.errors import ConfigError
from harness.matrix import CELL_PART
from harness.results.model import Outcome, TestResult, clean_test_id, truncate_message
from harness.store import Store
from harness.store.attestations import Attested
from harness.store.models import COUNT_COLUMNS, Run
from harness.test_order import valid_ordering

FORMAT = "harness.bundle/1"
#: a run.json bigger than this is not one (environments are a few KB)
MAX_DOC_BYTES = 16 << 20
#: one line of results.jsonl.gz (a test id and a message, both capped when written)
MAX_LINE_CHARS = 64 << 10
NAME = CELL_PART
COMMIT = r"[0-9a-f]{7,64}"
#: what a count or a number of results may be (a run of a billion tests is not one)
MAX_COUNT = 10**9
#: what a bundle's results may unpack to when no tighter budget is given
MAX_RESULTS_BYTES = 2 << 30
#: an attestation bigger than this is not one (test lists past a limit become digests)
MAX_ATTESTATION_BYTES = 32 << 20
ATTESTATION = "attestation.json"


class BundleTooLarge(ConfigError):
    """A bundle's results unpack to more than their budget (a gzip bomb?)."""


class BundleConflict(ConfigError):
    """A bundle id already stored, with other content."""


def _ordering(value: str) -> str:
    if not valid_ordering(value):
        raise ValueError(f"{value[:40]!r} is not a test order (seed=N or fixed)")
    return value


Ordering = Annotated[str, Field(max_length=32), AfterValidator(_ordering)]


class ByteBudget:
    """Bytes a caller lets bundles unpack to, shared by every bundle of an archive."""

    def __init__(self, limit: int) -> None:
        self.limit, self.left = limit, limit

    def take(self, n: int, where: Path) -> None:
        self.left -= n
        if self.left < 0:
            raise BundleTooLarge(f"{where}: unpacks to more than {self.limit} bytes (a bomb?)")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=True)


class BundleRun(_Model):
    cell: str = Field(pattern=rf"^{NAME}/{NAME}/{NAME}$", max_length=300)
    suite: str = Field(pattern=rf"^{NAME}$", max_length=100)
    backend: str = Field(pattern=rf"^{NAME}$", max_length=100)
    variant: str = Field(pattern=rf"^{NAME}$", max_length=100)
    upstream: str = Field(pattern=r"^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$", max_length=200)
    ref: str | None = Field(default=None, max_length=250)
    sha: str | None = Field(default=None, pattern=rf"^{COMMIT}$")
    status: Literal["passed", "failed", "crashed", "error", "timeout", "cancelled"]
    reason: str | None = Field(default=None, max_length=4000)
    executor: str = Field(max_length=64)
    duration_s: float | None = Field(default=None, ge=0, le=MAX_COUNT)
    base_sha: str | None = Field(default=None, pattern=rf"^{COMMIT}$")
    is_default_branch: bool | None = None
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    counts: dict[Outcome, NonNegativeInt]
    #: failures a known failure or quarantine entry explained where it ran
    explained: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    subset: str | None = Field(default=None, pattern=r"^[^\x00-\x1f\x7f]+$", max_length=100)
    args: str | None = Field(default=None, max_length=20000)
    seeds: (
        dict[Annotated[str, Field(max_length=200)], Annotated[int, Field(ge=0, lt=2**63)]] | None
    ) = Field(default=None, max_length=100)

    @field_validator("started_at", "finished_at")
    @classmethod
    def _plausible(cls, value: datetime | None) -> datetime | None:
        """A time the store can keep: with its zone, in UTC between 1970 and 9999."""
        if value is None:
            return None
        try:
            utc = value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValueError("not a time between 1970 and 9999 UTC") from None
        if not 1970 <= utc.year <= 9998:
            raise ValueError("not a time between 1970 and 9999 UTC")
        return value

    @field_validator("counts")
    @classmethod
    def _bounded(cls, counts: dict[Outcome, int]) -> dict[Outcome, int]:
        if any(n > MAX_COUNT for n in counts.values()):
            raise ValueError(f"a count above {MAX_COUNT}")
        return counts

    @model_validator(mode="after")
    def _cell_parts(self) -> BundleRun:
        if self.cell != f"{self.suite}/{self.backend}/{self.variant}":
            raise ValueError(f"cell {self.cell!r} is not suite/backend/variant of this run")
        failing = self.counts.get(Outcome.FAILED, 0) + self.counts.get(Outcome.ERROR, 0)
        if self.explained is not None and self.explained > failing:
            raise ValueError(f"explained {self.explained} of {failing} failures")
        return self


class BundleOrigin(_Model):
    github_repository: str | None = Field(default=None, max_length=200)
    github_run_id: str | None = Field(default=None, pattern=r"^\d{1,20}$")
    github_run_attempt: str | None = Field(default=None, pattern=r"^\d{1,6}$")
    github_job: str | None = Field(default=None, max_length=200)
    runner_name: str | None = Field(default=None, max_length=200)
    queue_item: int | None = Field(default=None, ge=1, le=2**62)


class BundleDoc(_Model):
    format: Literal["harness.bundle/1"]
    bundle_id: str = Field(pattern=r"^[0-9a-f]{8,64}$")
    harness_version: str | None = Field(default=None, max_length=64)
    run: BundleRun
    environment: dict[str, Any] | None = None
    reruns: dict[str, list[Outcome]] = Field(default_factory=dict)
    #: per test, the test order of each rerun in ``reruns`` (``seed=N``, ``fixed``, null)
    rerun_orderings: dict[str, list[Ordering | None]] = Field(default_factory=dict)
    results: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    origin: BundleOrigin = Field(default_factory=BundleOrigin)


runs_t = cast(Table, Run.__table__)
_RECORD_KEYS = (
    "cell", "suite", "backend", "variant", "upstream", "ref", "sha", "status", "reason",
    "executor", "duration_s", "base_sha", "is_default_branch", "explained", "subset",
    "args", "seeds",
)  # fmt: skip


def _ci_origin() -> dict[str, Any]:
    """Where this run happened, from GitHub Actions' environment (if there)."""
    env = os.environ
    out: dict[str, Any] = {}
    for key, name in (
        ("github_repository", "GITHUB_REPOSITORY"),
        ("github_run_id", "GITHUB_RUN_ID"),
        ("github_run_attempt", "GITHUB_RUN_ATTEMPT"),
        ("github_job", "GITHUB_JOB"),
        ("runner_name", "RUNNER_NAME"),
    ):
        if env.get(name):
            out[key] = env[name]
    if (item := settings.QUEUE_ITEM.get(env)) is not None:
        out["queue_item"] = item
    return out


def write_bundle(
    store: Store, run_ids: list[int], out: Path, key: Ed25519PrivateKey | None = None
) -> list[Path]:
    """One directory per run under ``out``; their paths. With ``key``, each run's
    attestation is signed with it (``attestation.json``)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    origin = _ci_origin()
    for run_id in run_ids:
        run = store.get_run(run_id)
        bundle_id = uuid.uuid4().hex
        directory = out / f"{run.cell.replace('/', '__')}-{run.id}"
        directory.mkdir(parents=True, exist_ok=True)
        count = 0
        with gzip.open(directory / "results.jsonl.gz", "wt", encoding="utf-8") as fh:
            for r in store.iter_results(run_id):
                fh.write(json.dumps([r.test_id, r.outcome.value, r.duration_s, r.message]))
                fh.write("\n")
                count += 1
        done = store.rerun_orderings(run_id)
        reruns = {t: [o.value for o, _ in outs] for t, outs in done.items()}
        orderings = {t: [order for _, order in outs] for t, outs in done.items()}
        record = {k: getattr(run, k) for k in _RECORD_KEYS} | {
            "started_at": run.started_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "counts": run.counts,
        }
        environment = store.get_environment(run.environment_id) if run.environment_id else None
        doc = {
            "format": FORMAT,
            "bundle_id": bundle_id,
            "harness_version": __version__,
            "run": record,
            "environment": environment,
            "reruns": reruns,
            "rerun_orderings": {t: o for t, o in orderings.items() if any(o)},
            "results": count,
            "origin": origin,
        }
        (directory / "run.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        if key is not None:
            envelope = sign_run(store, run_id, key, "runner", origin).envelope
            (directory / ATTESTATION).write_text(json.dumps(envelope, indent=2) + "\n")
        written.append(directory)
    return written


@dataclass(frozen=True, slots=True)
class Bundle:
    path: Path
    doc: dict[str, Any]
    model: BundleDoc

    @property
    def bundle_id(self) -> str:
        return self.model.bundle_id

    @property
    def run(self) -> dict[str, Any]:
        return cast(dict[str, Any], self.doc["run"])

    @property
    def origin(self) -> dict[str, Any]:
        return self.model.origin.model_dump(exclude_none=True)

    def attestation(self) -> dict[str, Any] | None:
        """The bundle's signed attestation (a DSSE envelope, not yet verified), if any."""
        path = self.path / ATTESTATION
        if not path.is_file():
            return None
        try:
            if path.stat().st_size > MAX_ATTESTATION_BYTES:
                raise ConfigError(f"{path}: larger than {MAX_ATTESTATION_BYTES >> 20} MB")
            envelope = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            raise ConfigError(f"{path}: not an attestation ({exc})") from None
        if not isinstance(envelope, dict):
            raise ConfigError(f"{path}: not a DSSE envelope")
        return envelope

    def results(self, budget: ByteBudget | None = None) -> Iterator[TestResult]:
        """The results, checked line by line: a bad line stops the import (one
        transaction: nothing of the bundle is stored); what they unpack to is taken from
        ``budget`` (default: :data:`MAX_RESULTS_BYTES` for this bundle alone)."""
        where = self.path / "results.jsonl.gz"
        budget = budget or ByteBudget(MAX_RESULTS_BYTES)
        try:
            with gzip.open(where, "rt", encoding="utf-8") as fh:
                n = 0
                while line := fh.readline(MAX_LINE_CHARS + 1):
                    n += 1
                    budget.take(len(line), where)
                    if len(line) > MAX_LINE_CHARS:
                        raise ConfigError(f"{where}:{n}: a line longer than {MAX_LINE_CHARS}")
                    yield _result_line(line, where, n)
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: unreadable: {exc}") from None

    def check(self, budget: ByteBudget | None = None) -> None:
        """Read every result before anything is stored: each line valid, the whole within
        ``budget``, and as many results of each outcome as the run's counts say (and
        ``results`` when given). :class:`ConfigError` naming the file otherwise."""
        counts: Counter[Outcome] = Counter(r.outcome for r in self.results(budget))
        where = self.path / "run.json"
        total = sum(counts.values())
        if self.model.results is not None and self.model.results != total:
            raise ConfigError(f"{where}: says {self.model.results} results, the file has {total}")
        said = {o: n for o, n in self.model.run.counts.items() if n}
        if said != {o: n for o, n in counts.items() if n}:
            found = ", ".join(f"{o.value} {n}" for o, n in sorted(counts.items())) or "none"
            raise ConfigError(f"{where}: run.counts do not match the results ({found})")


def _result_line(line: str, where: Path, n: int) -> TestResult:
    try:
        test_id, outcome, duration, message = json.loads(line)
        if not isinstance(test_id, str) or not (message is None or isinstance(message, str)):
            raise TypeError("test id and message must be strings")
        if type(duration) not in (int, float):
            raise TypeError(f"duration {str(duration)[:40]!r} is not a number")
        seconds = float(duration)
        if not math.isfinite(seconds) or not 0 <= seconds <= MAX_COUNT:
            raise ValueError(f"duration {duration!r}")
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise ConfigError(f"{where}:{n}: bad result line: {exc}") from None
    try:
        value = Outcome(outcome)
    except ValueError:
        raise ConfigError(f"{where}:{n}: unknown outcome {outcome!r}") from None
    return TestResult(clean_test_id(test_id), value, seconds, truncate_message(message))


def find_bundles(paths: list[Path]) -> list[Bundle]:
    """Every bundle under ``paths`` (a bundle directory, or folders holding some)."""
    found = []
    for root in paths:
        candidates = (
            [root]
            if (root / "run.json").is_file()
            else sorted(p.parent for p in root.rglob("run.json"))
        )
        for directory in candidates:
            found.append(load_bundle(directory))
    seen: dict[str, Path] = {}
    for bundle in found:
        if (first := seen.setdefault(bundle.bundle_id, bundle.path)) != bundle.path:
            raise ConfigError(f"{first} and {bundle.path}: two bundles with id {bundle.bundle_id}")
    return found


def load_bundle(directory: Path) -> Bundle:
    """The bundle in ``directory``, validated (:class:`BundleDoc`); :class:`ConfigError`
    naming the file and the field otherwise."""
    path = directory / "run.json"
    try:
        if path.stat().st_size > MAX_DOC_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_DOC_BYTES >> 20} MB: not a bundle")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ConfigError(f"{path}: not a result bundle ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise ConfigError(f"{path}: format is {found!r}, expected {FORMAT!r}")
    try:
        model = BundleDoc.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise ConfigError(f"{path}: {problems}") from None
    if not (directory / "results.jsonl.gz").is_file():
        raise ConfigError(f"{directory}: no results.jsonl.gz")
    return Bundle(directory, doc, model)


def ingest_bundle(
    store: Store, bundle: Bundle, job_id: str | None = None, attested: Attested | None = None
) -> tuple[int, bool]:
    """Load ``bundle`` in one transaction (see the module docstring); (run id, whether it
    was new). A bad result line stops it with :class:`ConfigError` and nothing stored.
    ``attested``: its attestation, verified, stored with the run."""
    r = bundle.model.run
    executor = r.executor
    if bundle.model.origin.github_run_id:
        executor = f"{executor}@actions:{bundle.model.origin.github_run_id}"
    row: dict[str, Any] = {
        "job_id": job_id,
        "cell": r.cell,
        "suite": r.suite,
        "backend": r.backend,
        "variant": r.variant,
        "upstream": r.upstream,
        "ref": r.ref,
        "sha": r.sha,
        "status": r.status,
        "reason": r.reason,
        "executor": executor[:32],
        "duration_s": r.duration_s or 0.0,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "base_sha": r.base_sha,
        "is_default_branch": r.is_default_branch,
        "explained": r.explained,
        "subset": r.subset,
        "args": r.args,
        "seeds": r.seeds,
        "log_dir": None,
        "out_dir": str(bundle.path),
        **{col: int(r.counts.get(Outcome(key), 0)) for key, col in COUNT_COLUMNS.items()},
    }
    orderings = bundle.model.rerun_orderings
    reruns = [
        (clean_test_id(t), attempt, o.value, 0.0, None, _nth(orderings.get(t), attempt - 1))
        for t, outs in bundle.model.reruns.items()
        for attempt, o in enumerate(outs, 1)
    ]
    run_id, new = store.import_run(
        origin=bundle.bundle_id,
        row=row,
        results=bundle.results(),
        environment=bundle.model.environment,
        reruns=reruns,
        attestation=attested,
    )
    if not new:
        _same_as_stored(store, bundle, run_id)
    return run_id, new


def _nth(items: list[str | None] | None, i: int) -> str | None:
    return items[i] if items is not None and i < len(items) else None


def check_conflict(store: Store, bundle: Bundle) -> None:
    """:class:`BundleConflict` if the bundle's id is stored already with other content
    (read before anything of an archive is stored; :func:`ingest_bundle` checks again)."""
    known = store.run_of_origin(bundle.bundle_id)
    if known is not None:
        _same_as_stored(store, bundle, known)


def _same_as_stored(store: Store, bundle: Bundle, run_id: int) -> None:
    r = bundle.model.run
    stored = store.get_run(run_id)
    theirs = (stored.cell, stored.sha, stored.status, {k: v for k, v in stored.counts.items() if v})
    ours = (r.cell, r.sha, r.status, {o.value: n for o, n in r.counts.items() if n})
    if theirs != ours:
        raise BundleConflict(
            f"{bundle.path}: bundle {bundle.bundle_id} is stored already as run {run_id} "
            f"({stored.cell} {stored.status}), with other content than this one"
        )
