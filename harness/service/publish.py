"""Turn where a pull-request head stands into outbox entries (inside the caller's
transaction): read the head's queue items, the verdicts of its finished runs, and queue
the statuses or check runs and the comment that :mod:`harness.service.report` plans.

Runs inside the transaction that changed the head's state, so what is posted always
matches a committed state; on PostgreSQL a transaction-scoped advisory lock per head
keeps two workers finishing cells of one head at once from posting stale snapshots.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from pathlib import Path

from harness.config.service import ServiceConfig
from harness.errors import HarnessError
from harness.reporting.pr_comment import CellState
from harness.service import outbox
from harness.service import queue as q
from harness.service.report import plan_reports
from harness.store import Store, Transaction
from harness.verdict.gather import VerdictOptions, gather_verdict
from harness.verdict.report import Verdict

log = logging.getLogger("harness.service.publish")


class VerdictCache:
    """Verdicts of finished runs, computed once per run (bounded). A verdict that is
    missing its baseline is not kept: it changes once the baseline has run."""

    def __init__(self, store: Store, suites_dir: Path | None, size: int = 256) -> None:
        self.store = store
        self.options = VerdictOptions(suites_dir=suites_dir)
        self.size = size
        self._cache: OrderedDict[int, Verdict | None] = OrderedDict()

    def get(self, run_id: int) -> Verdict | None:
        if run_id in self._cache:
            self._cache.move_to_end(run_id)
            return self._cache[run_id]
        try:
            verdict: Verdict | None = gather_verdict(self.store, run_id, self.options)
        except HarnessError as exc:
            log.error("cannot compute the verdict of run %d: %s", run_id, exc)
            verdict = None
        if verdict is not None and verdict.baseline.missing is not None:
            return verdict
        self._cache[run_id] = verdict
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return verdict


def _head_lock_key(repository: str, head_sha: str) -> int:
    digest = hashlib.sha256(f"{repository}@{head_sha}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def cell_states(
    tx: Transaction, config: ServiceConfig, verdicts: VerdictCache, repository: str, head_sha: str
) -> list[CellState]:
    states = []
    for item in tx.queue.items_for_head(repository, head_sha):
        verdict = verdicts.get(item.run_id) if item.state == "done" and item.run_id else None
        detail = item.detail
        if item.state == "done" and verdict is None:
            detail = detail or f"run {item.run_id} has no verdict"
        states.append(
            CellState(
                cell=item.cell,
                state=item.state,
                verdict=verdict,
                detail=detail,
                details_url=config.details(item.run_id, item.cell, head_sha),
            )
        )
    return states


def publish_head(
    tx: Transaction,
    config: ServiceConfig,
    verdicts: VerdictCache,
    repository: str,
    pr_number: int,
    head_sha: str,
) -> int:
    """Queue this head's reports; how many entries were queued."""
    up = config.upstream(repository)
    if up is None or not up.level.posts:
        return 0
    tx.lock(_head_lock_key(repository, head_sha))
    pr = tx.pulls.get(repository, pr_number)
    if pr is not None and pr.head_sha != head_sha:
        return 0  # an older head: its reports no longer matter
    cells = cell_states(tx, config, verdicts, repository, head_sha)
    reports = plan_reports(
        config,
        up,
        pr_number=pr_number,
        head_sha=head_sha,
        installation=pr.installation_id if pr else None,
        cells=cells,
    )
    queued = 0
    for r in reports:
        if tx.outbox.already_sent(repository, r.key, r.payload):
            # unchanged since GitHub accepted it (a verdict judged again, a duplicate
            # event): nothing to post, and a final report owed again is settled
            if (final := outbox.final_report(r.kind, r.payload)) is not None:
                tx.ledger.accepted(repository, *final)
            continue
        tx.outbox.put(repository, r.kind, r.key, r.payload)
        queued += 1
    return queued


def cell_decided(
    tx: Transaction,
    config: ServiceConfig | None,
    verdicts: VerdictCache | None,
    item: q.Item,
) -> None:
    """In the transaction that closes ``item``: its ledger row is ``queued`` (its report
    goes out through the outbox and is settled when GitHub accepts it) or, where nothing
    is posted, ``reported``; then the head's reports are queued."""
    if item.pr_number is None:
        return
    up = config.upstream(item.repository) if config is not None else None
    posts = up is not None and up.level.posts
    tx.ledger.settle(item.repository, item.head_sha, item.cell, "queued" if posts else "reported")
    if config is not None and verdicts is not None:
        publish_head(tx, config, verdicts, item.repository, item.pr_number, item.head_sha)
