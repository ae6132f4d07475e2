"""Baselines at the merge bases verdicts ask for.

A pull request's run is judged against the default branch's run of the same cell at the
PR's merge base (:mod:`harness.verdict.baseline`). Pushes give baselines at the commits
pushed, but a merge base often has none: several commits were pushed at once, the
service started after them, or ``baseline_on_push`` is off. The verdict then compares
with the nearest earlier run, says so, and names the run it is missing.

Here the service acts on that, in the transaction that closes the PR's item:

1. :func:`request_missing` queues the missing baseline (trigger ``merge-base``, at the
   exact merge-base commit, on the default branch, as trusted code) unless one is
   already queued, running or done for that cell and commit, or the upstream's
   ``baseline_at_merge_base`` is off;
   Workers do it for the cells they run, ``POST /api/results`` for the cells GitHub
   Actions ran;
2. when any baseline item finishes (``push`` or ``merge-base``), :func:`republish_waiting`
   queues the reports again for the open pull requests whose runs have that merge base:
   their verdicts are computed anew against the exact baseline, and a status whose
   verdict changed is posted again (the same context, so it replaces the stand-in's).
"""

from __future__ import annotations

import logging

from harness.config.service import ServiceConfig
from harness.service import notify
from harness.service import queue as q
from harness.service.publish import Judged, head_runs, publish_head
from harness.store import Store, Transaction

log = logging.getLogger("harness.service.baselines")

#: the triggers of items that run the default branch (their runs are baselines)
BASELINE_TRIGGERS = ("push", "merge-base")
MERGE_BASE = "merge-base"


def request_missing(
    tx: Transaction,
    config: ServiceConfig,
    default_branch: str | None,
    judged: Judged,
    item: q.Item,
    run_id: int,
) -> int | None:
    """Queue the baseline run ``run_id``'s verdict is missing (on ``default_branch``, the
    upstream's); the new item's id, or None when nothing is missing, it is already asked
    for, the branch is not known, or the upstream's ``baseline_at_merge_base`` is off."""
    up = config.upstream(item.repository)
    if up is None or not up.baseline_at_merge_base or default_branch is None:
        return None
    verdict = judged.get(run_id)
    if verdict is None or verdict.baseline.missing is None:
        return None
    sha = verdict.baseline.missing.sha
    if tx.queue.baseline_asked(item.repository, item.cell, sha, BASELINE_TRIGGERS):
        return None
    branch = default_branch
    job = tx.queue.create_job(MERGE_BASE, [item.cell], branch)
    (new_id,) = tx.queue.enqueue(
        [
            q.NewItem(
                repository=item.repository,
                head_sha=sha,
                ref=branch,
                cell=item.cell,
                trigger=MERGE_BASE,
                priority=q.PRIORITY_BASELINE,
                job_id=job,
                detail=f"baseline for pull request #{item.pr_number} at {item.head_sha[:12]}",
            )
        ],
    )
    log.info(
        "item %d: no baseline of %s at merge base %s; queued one (item %d)",
        item.id,
        item.cell,
        sha[:12],
        new_id,
    )
    return new_id


def republish_waiting(tx: Transaction, config: ServiceConfig, judged: Judged, item: q.Item) -> int:
    """Queue the reports of the open pull requests whose runs of ``item``'s cell have
    ``item``'s commit as merge base (``item`` is a baseline that just finished); how
    many heads were republished."""
    heads = tx.pulls.open_heads_based_on(item.repository, item.cell, item.head_sha)
    for number, head_sha in heads:
        publish_head(tx, config, judged, item.repository, number, head_sha)
        notify.head_judged_again(tx, config, judged, item.repository, head_sha, item.cell)
        log.info(
            "baseline %s at %s is in: reports of PR #%d (%s) judged again",
            item.cell,
            item.head_sha[:12],
            number,
            head_sha[:12],
        )
    return len(heads)


def runs_to_judge(store: Store, item: q.Item, run_id: int | None) -> set[int]:
    """The runs whose verdicts closing ``item`` (as ``run_id``) reports: its own, those
    of its head, and, for a baseline, those of the pull requests waiting for it (read
    before the unit of work that closes it, to judge them first)."""
    runs = {run_id} if run_id is not None else set()
    with store.reading(f"reading what closing item {item.id} reports") as r:
        if item.pr_number is not None:
            runs |= head_runs(r, item.repository, item.head_sha)
        elif run_id is not None and item.trigger in BASELINE_TRIGGERS:
            for _number, head in r.pulls.open_heads_based_on(
                item.repository, item.cell, item.head_sha
            ):
                runs |= head_runs(r, item.repository, head)
    return runs
