"""Result bundles: runs carried from one machine's database to another's.

A runner (a GitHub Actions job, another machine) runs cells into its own database and
writes a bundle with ``harness run --bundle DIR``; ``harness ingest DIR`` (or the
service's ``POST /api/results``) loads it into the main database. One directory per run:

``run.json``       format ``harness.bundle/1``: the run's record (cell, upstream, ref, SHA,
                   merge base, status and reason, times, counts), its environment
                   fingerprint, reruns, and where it came from (bundle id, GitHub run id,
                   the queue item it answers)
``results.jsonl.gz``  one JSON object per test case, streamed both ways

Ingesting is idempotent: a bundle already loaded (same bundle id, kept in
``runs.origin``) is skipped, so a retried upload or a re-run report job adds nothing.
"""

from __future__ import annotations

import gzip
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, select, update

from harness import __version__
from harness.errors import ConfigError
from harness.results.model import Outcome, TestResult
from harness.store import Store
from harness.store.models import Run

FORMAT = "harness.bundle/1"
runs_t = cast(Table, Run.__table__)
_RECORD_KEYS = (
    "cell", "suite", "backend", "variant", "upstream", "ref", "sha", "status", "reason",
    "executor", "duration_s", "base_sha", "is_default_branch",
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
    if env.get("HARNESS_QUEUE_ITEM", "").isdigit():
        out["queue_item"] = int(env["HARNESS_QUEUE_ITEM"])
    return out


def write_bundle(store: Store, run_ids: list[int], out: Path) -> list[Path]:
    """One directory per run under ``out``; their paths."""
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
        reruns = {t: [o.value for o in outs] for t, outs in store.rerun_outcomes(run_id).items()}
        doc = {
            "format": FORMAT,
            "bundle_id": bundle_id,
            "harness_version": __version__,
            "run": {k: getattr(run, k) for k in _RECORD_KEYS}
            | {
                "started_at": run.started_at.isoformat(),
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                "counts": run.counts,
            },
            "environment": store.get_environment(run.environment_id)
            if run.environment_id
            else None,
            "reruns": reruns,
            "results": count,
            "origin": origin,
        }
        (directory / "run.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        written.append(directory)
    return written


@dataclass(frozen=True, slots=True)
class Bundle:
    path: Path
    doc: dict[str, Any]

    @property
    def bundle_id(self) -> str:
        return str(self.doc["bundle_id"])

    @property
    def run(self) -> dict[str, Any]:
        return cast(dict[str, Any], self.doc["run"])

    @property
    def origin(self) -> dict[str, Any]:
        return cast(dict[str, Any], self.doc.get("origin") or {})

    def results(self) -> Iterator[TestResult]:
        with gzip.open(self.path / "results.jsonl.gz", "rt", encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                try:
                    test_id, outcome, duration, message = json.loads(line)
                    yield TestResult(str(test_id), Outcome(outcome), float(duration), message)
                except (ValueError, TypeError) as exc:
                    raise ConfigError(
                        f"{self.path}/results.jsonl.gz:{n}: bad result line: {exc}"
                    ) from None


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
    return found


def load_bundle(directory: Path) -> Bundle:
    path = directory / "run.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a result bundle ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise ConfigError(f"{path}: format is {found!r}, expected {FORMAT!r}")
    for key in ("bundle_id", "run"):
        if key not in doc:
            raise ConfigError(f"{path}: missing '{key}'")
    missing = [k for k in (*_RECORD_KEYS, "started_at", "counts") if k not in doc["run"]]
    if missing:
        raise ConfigError(f"{path}: run: missing {', '.join(missing)}")
    if not (directory / "results.jsonl.gz").is_file():
        raise ConfigError(f"{directory}: no results.jsonl.gz")
    return Bundle(directory, doc)


def existing_run(store: Store, bundle_id: str) -> int | None:
    q = select(runs_t.c.id).where(runs_t.c.origin == bundle_id)
    value = store._read("looking up a bundle", lambda conn: conn.execute(q).scalar())
    return int(value) if value is not None else None


def ingest_bundle(store: Store, bundle: Bundle, job_id: str | None = None) -> tuple[int, bool]:
    """Load ``bundle``; (run id, whether it was new)."""
    known = existing_run(store, bundle.bundle_id)
    if known is not None:
        return known, False
    r = bundle.run
    origin = bundle.origin
    executor = str(r["executor"])
    if origin.get("github_run_id"):
        executor = f"{executor}@actions:{origin['github_run_id']}"
    run_id = store.start_run(
        job_id=job_id,
        cell=r["cell"],
        suite=r["suite"],
        backend=r["backend"],
        variant=r["variant"],
        upstream=r["upstream"],
        ref=r["ref"],
        sha=r["sha"],
        executor=executor[:32],
        log_dir=None,
        out_dir=str(bundle.path),
    )
    store.add_results(run_id, bundle.results())
    if bundle.doc.get("environment"):
        store.set_environment(run_id, bundle.doc["environment"])
    reruns = bundle.doc.get("reruns") or {}
    if reruns:
        store.add_reruns(
            run_id,
            [
                (t, attempt, Outcome(o).value, 0.0, None)
                for t, outs in reruns.items()
                for attempt, o in enumerate(outs, 1)
            ],
        )
    store.finish_run(
        run_id,
        status=r["status"],
        reason=r["reason"],
        counts=r["counts"],
        duration_s=float(r["duration_s"] or 0.0),
    )
    if r.get("base_sha") is not None or r.get("is_default_branch") is not None:
        store.set_run_base(
            run_id, base_sha=r.get("base_sha"), is_default_branch=r.get("is_default_branch")
        )
    started = datetime.fromisoformat(r["started_at"])
    finished = datetime.fromisoformat(r["finished_at"]) if r.get("finished_at") else None
    stmt = (
        update(runs_t)
        .where(runs_t.c.id == run_id)
        .values(origin=bundle.bundle_id, started_at=started, finished_at=finished)
    )
    store._write("recording a bundle's origin", lambda conn: conn.execute(stmt))
    return run_id, True
