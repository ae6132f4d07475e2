"""Turn where a pull-request head stands into outbox entries (inside the caller's
unit of work): read the head's queue items, the verdicts of its finished runs, and queue
the statuses or check runs and the comment that :mod:`harness.service.report` plans.

Runs inside the unit of work that changed the head's state, so what is posted always
matches a committed state; on PostgreSQL a transaction-scoped advisory lock per head
keeps two workers finishing cells of one head at once from posting stale snapshots.

Verdicts are computed *before* that unit of work (read → judge → write): a verdict reads
the history (baselines, flake scores), which must not happen under the write lock. The
unit of work gets the verdicts as :class:`Judged`, which only looks them up; when it
meets a run that was not judged (a cell finished meanwhile), it raises
:class:`Unjudged`, everything it did is rolled back, the run is judged, and it runs
again (:func:`judged_transaction`). What it writes is guarded by compare-and-set (an
item closed only while still leased or dispatched), so a change in between is seen
and nothing is recorded twice.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from harness.bisect.answer import broken_since
from harness.config.service import ServiceConfig
from harness.errors import HarnessError
from harness.reporting.pr_comment import CellState
from harness.service import outbox
from harness.service import queue as q
from harness.service.participation import level_of
from harness.service.report import plan_reports
from harness.store import Store, Transaction
from harness.verdict.categories import Category
from harness.verdict.gather import VerdictOptions, gather_verdict
from harness.verdict.report import Verdict

log = logging.getLogger("harness.service.publish")
T = TypeVar("T")
#: read → judge → write rounds before a unit of work gives up (each round judges the
#: runs the one before met unjudged)
ROUNDS = 5


class Unjudged(Exception):
    """A unit of work met runs that were not judged before it began."""

    def __init__(self, run_ids: set[int]) -> None:
        super().__init__(f"runs {sorted(run_ids)} were not judged before the unit of work")
        self.run_ids = run_ids


class Judged:
    """Verdicts computed before a unit of work began, for it to look up (it never
    computes one)."""

    def __init__(self, verdicts: dict[int, Verdict | None]) -> None:
        self.verdicts = verdicts

    def require(self, run_ids: Iterable[int]) -> None:
        """Raise :class:`Unjudged` naming those of ``run_ids`` that were not judged."""
        missing = set(run_ids) - self.verdicts.keys()
        if missing:
            raise Unjudged(missing)

    def get(self, run_id: int) -> Verdict | None:
        self.require([run_id])
        return self.verdicts[run_id]


class VerdictCache:
    """Verdicts of finished runs, computed once per run (bounded). A verdict that is
    missing its baseline is not kept: it changes once the baseline has run."""

    def __init__(self, store: Store, suites_dir: Path | None, size: int = 256) -> None:
        self.store = store
        self.options = VerdictOptions(suites_dir=suites_dir)
        self.size = size
        self._cache: OrderedDict[int, Verdict | None] = OrderedDict()

    def get(self, run_id: int) -> Verdict | None:
        """The verdict of ``run_id``, computed here unless cached; never inside a write
        unit of work of the store (:class:`Judged` serves those)."""
        if self.store.in_transaction:
            raise RuntimeError(
                f"the verdict of run {run_id} is being computed inside a write transaction: "
                "judge it before the unit of work (publish.judged_transaction)"
            )
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

    def judge(self, run_ids: Iterable[int]) -> Judged:
        """The verdicts of ``run_ids``, computed now (outside any unit of work)."""
        return Judged({run_id: self.get(run_id) for run_id in set(run_ids)})


def judged_transaction(
    store: Store,
    verdicts: VerdictCache,
    doing: str,
    body: Callable[[Transaction, Judged], T],
    runs: Iterable[int] = (),
) -> T:
    """Judge ``runs``, then run ``body`` in one write unit of work with those verdicts;
    when it meets a run not judged, roll it back, judge that run too, and run it again
    (at most :data:`ROUNDS` times)."""
    needed = set(runs)
    for _ in range(ROUNDS):
        judged = verdicts.judge(needed)
        try:
            with store.transaction(doing) as tx:
                return body(tx, judged)
        except Unjudged as exc:
            needed |= exc.run_ids
    raise HarnessError(f"{doing}: the runs to judge kept changing ({ROUNDS} tries)")


def head_runs(tx: Transaction, repository: str, head_sha: str) -> set[int]:
    """The finished runs whose verdicts the reports of this head show."""
    return {
        item.run_id
        for item in tx.queue.items_for_head(repository, head_sha)
        if item.state == "done" and item.run_id
    }


def cell_states(
    tx: Transaction, config: ServiceConfig, judged: Judged, repository: str, head_sha: str
) -> list[CellState]:
    items = tx.queue.items_for_head(repository, head_sha)
    judged.require(i.run_id for i in items if i.state == "done" and i.run_id)
    signed = tx.attestations.signed(i.run_id for i in items if i.state == "done" and i.run_id)
    states = []
    for item in items:
        verdict = judged.get(item.run_id) if item.state == "done" and item.run_id else None
        detail = item.detail
        if item.state == "done" and verdict is None:
            detail = detail or f"run {item.run_id} has no verdict"
        since = {}
        if verdict is not None:
            pre_existing = verdict.classification.tests(Category.PRE_EXISTING)
            # a finished bisection of the cell that found where these broke
            since = broken_since(tx, item.cell, (t.test_id for t in pre_existing))
        states.append(
            CellState(
                cell=item.cell,
                state=item.state,
                verdict=verdict,
                detail=detail,
                details_url=config.details(item.run_id, item.cell, head_sha),
                attestation_url=config.attestation(item.run_id) if item.run_id in signed else None,
                broken_since=since,
            )
        )
    return states


def publish_head(
    tx: Transaction,
    config: ServiceConfig,
    judged: Judged,
    repository: str,
    pr_number: int,
    head_sha: str,
) -> int:
    """Queue this head's reports; how many entries were queued."""
    up = config.upstream(repository)
    level = level_of(tx, config, repository)
    if up is None or level is None or not level.posts:
        return 0
    tx.lock_name(f"{repository}@{head_sha}")
    pr = tx.pulls.get(repository, pr_number)
    if pr is not None and pr.head_sha != head_sha:
        return 0  # an older head: its reports no longer matter
    cells = cell_states(tx, config, judged, repository, head_sha)
    reports = plan_reports(
        config,
        up,
        pr_number=pr_number,
        head_sha=head_sha,
        installation=pr.installation_id if pr else None,
        cells=cells,
        level=level,
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
    judged: Judged | None,
    item: q.Item,
) -> None:
    """In the transaction that closes ``item``: its ledger row is ``queued`` (its report
    goes out through the outbox and is settled when GitHub accepts it) or, where nothing
    is posted, ``reported``; then the head's reports are queued."""
    if item.pr_number is None:
        return
    level = level_of(tx, config, item.repository) if config is not None else None
    posts = level is not None and level.posts
    tx.ledger.settle(item.repository, item.head_sha, item.cell, "queued" if posts else "reported")
    if config is not None and judged is not None:
        publish_head(tx, config, judged, item.repository, item.pr_number, item.head_sha)
