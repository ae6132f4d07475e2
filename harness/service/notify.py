"""Chat notifications: which finished runs the vendor team hears about (inside the
transaction that closes the run's item).

For an upstream with ``chat:`` in the service configuration, a run whose verdict blames
tests (new failures, new tests failing) queues one ``chat`` outbox entry
(:mod:`harness.codehost.chat` renders and posts it):

* ``new_failures``: a pull request's run, judged against its exact baseline. A verdict
  still waiting for the baseline at its merge base is not notified (it may blame the
  pull request for what the default branch broke): the run is notified when that
  baseline comes in and the verdict is judged again (:func:`head_judged_again`, from
  :func:`harness.service.baselines.republish_waiting`), if it still blames tests;
* ``broken_trunk``: a default-branch run, judged against the previous default-branch run.

Nothing is queued when nothing new fails. The key is the run's and a notification the
webhook already took is not queued again, so each run notifies at most once however
often it is judged.
"""

from __future__ import annotations

import logging

from harness.config.service import ChatOn, ServiceConfig
from harness.service import queue as q
from harness.service.publish import Judged
from harness.store import Transaction
from harness.verdict.baseline import is_default_branch_run
from harness.verdict.categories import BLAMED

log = logging.getLogger("harness.service.notify")
KIND = "chat"


def run_finished(
    tx: Transaction,
    config: ServiceConfig | None,
    judged: Judged | None,
    item: q.Item,
    run_id: int,
) -> int | None:
    """Queue the chat notification ``run_id`` calls for; the entry's id, or ``None``.
    ``run_id``'s verdict was judged before the unit of work (``judged``)."""
    up = config.upstream(item.repository) if config is not None else None
    if config is None or judged is None or up is None or not up.chat.enabled:
        return None
    verdict = judged.get(run_id)
    if verdict is None or verdict.baseline.run is None:
        return None
    if is_default_branch_run(verdict.run):
        event = ChatOn.BROKEN_TRUNK
    elif item.pr_number is not None and verdict.baseline.missing is None:
        event = ChatOn.NEW_FAILURES
    else:
        return None
    if event not in up.chat.notify:
        return None
    blamed = sorted({t for c in BLAMED for t in verdict.classification.ids.get(c, ())})
    if not blamed:
        return None
    key = f"chat:{event.value}:{run_id}"
    payload = {
        "event": event.value,
        "sha": item.head_sha,
        "pr": item.pr_number,
        "branch": item.ref if event is ChatOn.BROKEN_TRUNK else None,
        "cell": item.cell,
        "run_id": run_id,
        "tests": blamed[:50],
        "count": len(blamed),
        "details_url": config.details(run_id, item.cell, item.head_sha),
        "mention": up.chat.mention,
    }
    if tx.outbox.already_sent(item.repository, key, payload):
        return None
    entry = tx.outbox.put(item.repository, KIND, key, payload)
    log.info("run %d: %d new failure(s): chat notification queued (%s)", run_id, len(blamed), key)
    return int(entry)


def head_judged_again(
    tx: Transaction,
    config: ServiceConfig,
    judged: Judged,
    repository: str,
    head_sha: str,
    cell: str,
) -> list[int]:
    """A baseline for ``cell`` came in: notify the head's finished run of that cell if
    its verdict, now exact, blames tests; the entries' ids."""
    queued = []
    for item in tx.queue.items_for_head(repository, head_sha):
        if item.cell == cell and item.state == "done" and item.run_id is not None:
            entry = run_finished(tx, config, judged, item, item.run_id)
            if entry is not None:
                queued.append(entry)
    return queued
