"""Culprit finding in the service: a broken default branch is bisected by itself.

1. **Scheduled** (:func:`schedule`, in the unit of work that closes a default-branch
   run): when the run's verdict has new failures against the previous default-branch
   run, a bisection is queued for the tests that newly fail (``bisections`` row, origin
   ``auto``): of the commits between the two runs or, when both are at one commit (the
   stack moved: a new torch, CANN, image), across the stack components the suite
   declares (kind ``stack``); once per cell, range and tests (a key the store keeps
   unique), if the upstream's ``bisect:`` allows it.
2. **Claimed within the budget** (:func:`claim`): a worker with nothing else to run
   leases the oldest queued bisection whose upstream has fewer than ``max_concurrent``
   running and probes left in its rolling 24 hours (``max_probes_per_day``, counting the
   probes running bisections may still make); one that must wait says why. A bisection
   whose worker died is queued again when its lease expires (:func:`expire`).
3. **Run** (:func:`run`): :func:`harness.bisect.bisection.run_bisection` through the
   worker's executor, its probes capped by the budget left, runs recorded in a job with
   trigger ``bisect``.
4. **Reported** (:func:`report`, one unit of work): the open pull requests with runs of
   the cell have their reports planned again (their PR comment then says "broken since
   X" next to the pre-existing failure; unchanged reports are not posted again) and,
   when the upstream opted in (``comment_culprit``) at a level that comments, one
   comment on the pull request that brought the first bad commit, never repeated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from harness.backends.target import BackendDetector
from harness.bisect.bisection import BisectionReport, run_bisection
from harness.bisect.commits import History
from harness.bisect.probe import Prober
from harness.bisect.stack_bisection import StackBisectionReport, run_stack_bisection
from harness.config.service import ServiceConfig
from harness.config.suite import Suite
from harness.errors import HarnessError
from harness.executors.base import Executor
from harness.matrix import Cell
from harness.planner import image_matrix
from harness.runner import Cancel, Display, RunOptions
from harness.service import queue as q
from harness.service.participation import level_of
from harness.service.publish import Judged, VerdictCache, judged_transaction, publish_head
from harness.source.checkout import update_mirror
from harness.store import Store, Transaction
from harness.store.bisections import BisectionRecord
from harness.store.rows import now
from harness.verdict.baseline import is_default_branch_run
from harness.verdict.categories import Category

log = logging.getLogger("harness.service.culprits")
#: a scheduled bisection whose worker died this often is given up
MAX_ATTEMPTS = 2
#: the rolling window of ``max_probes_per_day``
DAY = timedelta(hours=24)
CULPRIT_KIND = "comment"


def schedule(
    tx: Transaction,
    config: ServiceConfig | None,
    judged: Judged | None,
    item: q.Item,
    run_id: int,
    suite: Suite | None = None,
) -> int | None:
    """Queue the bisection ``run_id`` calls for (module docstring, step 1); its id, or
    ``None`` (nothing newly fails, not a default-branch run, off, or scheduled before).
    At the previous run's own commit, for a ``suite`` that declares stack components,
    it is a stack bisection between the two runs."""
    up = config.upstream(item.repository) if config is not None else None
    if up is None or not up.bisect.enabled or judged is None:
        return None
    verdict = judged.get(run_id)
    if verdict is None or not is_default_branch_run(verdict.run):
        return None
    base = verdict.baseline.run
    if base is None or not verdict.baseline.exact or not base.sha or not verdict.run.sha:
        return None
    kind = "commits"
    if base.sha == verdict.run.sha:
        # the same commit: what changed is the environment (the stack bisection names
        # the declared component, or says no-change with the fields that differ)
        if suite is None or not suite.stack:
            return None
        kind = "stack"
    tests = sorted(verdict.classification.ids.get(Category.NEW_FAILURE, ()))
    if not tests:
        return None  # only new tests fail: nothing passed before to bisect from
    found = tx.bisections.schedule(
        kind=kind,
        repository=item.repository,
        cell=item.cell,
        suite=verdict.run.suite,
        tests=tests,
        good_sha=base.sha,
        bad_sha=verdict.run.sha,
        good_run_id=base.id,
        bad_run_id=run_id,
        repeats=up.bisect.repeats,
    )
    if found is not None:
        log.info(
            "run %d: the default branch broke %d test(s) of %s between %s and %s: "
            "%s bisection %d scheduled",
            run_id,
            len(tests),
            item.cell,
            base.sha[:12],
            verdict.run.sha[:12],
            kind,
            found,
        )
    return found


@dataclass(frozen=True, slots=True)
class Claimed:
    record: BisectionRecord
    #: the most probes it may make (what the upstream's daily budget has left)
    probes_left: int


def claim(store: Store, config: ServiceConfig, owner: str, lease_s: float) -> Claimed | None:
    """Lease the next queued bisection the budgets allow (module docstring, step 2)."""
    with store.transaction("claiming a bisection") as tx:
        for record in tx.bisections.queued():
            up = config.upstream(record.repository or "")
            if up is None or not up.bisect.enabled:
                tx.bisections.wait_reason(
                    record.id, "its upstream no longer bisects (service configuration)"
                )
                continue
            budget = up.bisect
            repo = record.repository or ""
            if tx.bisections.running_count(repo) >= budget.max_concurrent:
                tx.bisections.wait_reason(
                    record.id, f"waiting: {budget.max_concurrent} bisection(s) of {repo} running"
                )
                continue
            used = tx.bisections.probes_since(repo, now() - DAY)
            left = budget.max_probes_per_day - used - tx.bisections.reserved_probes(repo)
            if left < 1:
                tx.bisections.wait_reason(
                    record.id,
                    f"waiting: the daily probe budget of {repo} is spent "
                    f"({used} of {budget.max_probes_per_day} in 24 h, the rest reserved)",
                )
                continue
            if tx.bisections.claim(record.id, owner, lease_s):
                leased = tx.bisections.get(record.id)
                assert leased is not None  # just updated in this unit of work
                return Claimed(leased, left)
    return None


def expire(store: Store) -> tuple[list[int], list[int]]:
    """Queue again the bisections whose worker died; (requeued, given up) ids."""
    with store.transaction("expiring bisection leases") as tx:
        requeued, failed = tx.bisections.expire_leases(MAX_ATTEMPTS)
    for bisection_id in requeued:
        log.warning("bisection %d: its worker stopped; queued again", bisection_id)
    for bisection_id in failed:
        log.error("bisection %d: its worker stopped %d times; given up", bisection_id, MAX_ATTEMPTS)
    return requeued, failed


def heartbeat(store: Store, bisection_id: int, owner: str, lease_s: float) -> bool:
    """Extend ``owner``'s lease of a running bisection; ``False`` once it is lost."""
    with store.transaction(f"extending the lease of bisection {bisection_id}") as tx:
        return tx.bisections.heartbeat(bisection_id, owner, lease_s)


def failed(store: Store, bisection_id: int, owner: str, why: str) -> None:
    """A leased bisection could not run (its suite is gone, the mirror failed, ...):
    ``error`` with why, while ``owner`` still holds it."""
    with store.transaction(f"recording a failed bisection {bisection_id}") as tx:
        tx.bisections.finish(bisection_id, status="error", outcome=None, reason=why, owner=owner)


@dataclass(frozen=True, slots=True)
class RunContext:
    """What a worker lends a bisection: where and how its probes run."""

    store: Store
    suites: dict[str, Suite]
    suites_dir: Path | None
    executor: Executor
    cache_dir: Path
    reports_dir: Path
    display: Display
    owner: str


def _prober(ctx: RunContext, record: BisectionRecord, cancel: Cancel, pattern: str) -> Prober:
    """The prober of a leased row's cell, in a new job (trigger ``bisect``) whose runs
    are the bisection's probes; the default branch's commits are trusted code, as for
    its push runs."""
    suite_name, backend, variant = record.cell.split("/")
    suite = ctx.suites.get(suite_name)
    if suite is None or backend not in suite.backends:
        raise HarnessError(f"cell {record.cell} is not defined by the suites any more")
    cell = Cell(suite_name, backend, variant)
    job_id = ctx.store.create_job("bisect", record.cell, pattern)
    out_dir = (ctx.reports_dir / job_id).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    return Prober(
        cell=cell,
        suite=suite,
        tests=list(record.tests),
        target=BackendDetector().target(cell.backend, None),
        store=ctx.store,
        executor=ctx.executor,
        options=RunOptions(
            cache_dir=ctx.cache_dir, suites_dir=ctx.suites_dir, trusted=True, cancel=cancel
        ),
        job_id=job_id,
        out_dir=out_dir,
        display=ctx.display,
        repeats=record.repeats,
    )


def run(
    ctx: RunContext, claimed: Claimed, cancel: Cancel, say: Callable[[str], None]
) -> BisectionReport | StackBisectionReport:
    """Run a leased bisection (module docstring, step 3): the commits between its two
    runs, or (kind ``stack``) the stack components that changed between them at one
    commit (:mod:`harness.bisect.stack`)."""
    record = claimed.record
    if record.kind == "stack":
        prober = _prober(ctx, record, cancel, f"stack {record.good_sha[:12]}")
    else:
        prober = _prober(ctx, record, cancel, f"{record.good_sha[:12]}..{record.bad_sha[:12]}")
    try:
        if record.kind == "stack":
            return run_stack_bisection(
                ctx.store,
                record.id,
                lambda _row: prober,
                matrix=image_matrix(),
                cap=claimed.probes_left,
                lease_owner=ctx.owner,
                say=say,
            )
        history = History(update_mirror(prober.suite.upstream.clone_url, ctx.cache_dir))
        return run_bisection(
            prober,
            history,
            repo=prober.suite.upstream.repo,
            good=record.good_sha,
            bad=record.bad_sha,
            max_probes=None,
            cap=claimed.probes_left,
            say=say,
            bisection_id=record.id,
            lease_owner=ctx.owner,
        )
    finally:
        ctx.store.finish_job(prober.job_id, "done")


def report(
    store: Store,
    config: ServiceConfig,
    verdicts: VerdictCache,
    answer: BisectionReport | StackBisectionReport,
) -> int:
    """Report a finished bisection (module docstring, step 4); entries queued."""
    repository = answer.repo
    with store.reading("finding the pull requests a bisection concerns") as r:
        heads = r.pulls.open_with_runs_of(repository, answer.cell)
        runs = {
            i.run_id
            for _, head in heads
            for i in r.queue.items_for_head(repository, head)
            if i.state == "done" and i.run_id
        }

    def _txn(tx: Transaction, judged: Judged) -> int:
        queued = sum(
            publish_head(tx, config, judged, repository, number, head) for number, head in heads
        )
        if isinstance(answer, BisectionReport) and _culprit_comment(tx, config, answer):
            queued += 1
        return queued

    return judged_transaction(
        store, verdicts, f"reporting bisection {answer.bisection_id}", _txn, runs
    )


def culprit_marker(vendor: str) -> str:
    return f"<!-- harness-culprit: {vendor} -->"


def _culprit_comment(tx: Transaction, config: ServiceConfig, answer: BisectionReport) -> bool:
    """Queue the one comment on the culprit's pull request, if wanted and never before."""
    up = config.upstream(answer.repo)
    culprit = answer.first_bad
    level = level_of(tx, config, answer.repo)
    if up is None or level is None or not up.bisect.comment_culprit or not level.comments:
        return False
    if answer.outcome != "found" or culprit is None or culprit.pr is None:
        return False
    key = f"culprit:{culprit.pr}"
    if tx.outbox.exists(answer.repo, key):
        return False  # one comment per pull request, ever
    known = tx.pulls.get(answer.repo, culprit.pr)
    payload = {
        "installation": known.installation_id if known is not None else None,
        "pr": culprit.pr,
        "marker": culprit_marker(config.vendor),
        "slot": key,
        "body": culprit_body(config, answer),
    }
    tx.outbox.put(answer.repo, CULPRIT_KIND, key, payload)
    log.info("bisection %d: culprit comment queued for PR #%d", answer.bisection_id, culprit.pr)
    return True


def culprit_body(config: ServiceConfig, answer: BisectionReport) -> str:
    """The culprit comment: what broke, where it was seen, how it was decided."""
    culprit = answer.first_bad
    assert culprit is not None
    tests = "\n".join(f"- `{t}`" for t in answer.tests[:20])
    more = f"\n- … and {len(answer.tests) - 20} more" if len(answer.tests) > 20 else ""
    bad_run = next((p.new_runs or p.reused_runs for r, p in answer.probes if r == "bad"), [])
    link = config.details(bad_run[0] if bad_run else None, answer.cell, answer.bad.sha)
    evidence = f" ([evidence]({link}))" if link else ""
    contact = f"\n\nQuestions: {config.contact}" if config.contact else ""
    return (
        f"{culprit_marker(config.vendor)}\n"
        f"**{config.vendor} CI**: on the `{answer.cell.split('/')[1]}` backend, "
        f"{len(answer.tests)} test(s) of `{answer.cell}` pass at {answer.good.sha[:12]} and fail "
        f"from {culprit.sha[:12]} (“{culprit.subject}”) on:\n\n{tests}{more}\n\n"
        f"Found by an automatic bisection of the default branch: {answer.probe_count} "
        f"probe(s) over {answer.candidates} commit(s), each failing test failing all "
        f"{answer.repeats} attempts{evidence}. This is the only comment the bisection "
        f"posts here.{contact}\n"
    )
