"""The worker: dispatch deliveries, run queued cells, post reports, watch the ledger.

One loop, each turn in this order:

1. apply received webhook deliveries (:mod:`harness.service.dispatch`); while a cell
   runs (step 3) a thread goes on applying them, so a push supersedes a running cell at
   once even with one worker;
2. requeue items whose worker died (expired leases), report those out of attempts;
   stop what dead attempts left running on this machine (their step processes and
   containers, found by the run's mark: :mod:`harness.executors.leftovers`) and remove
   their work directories;
3. lease one queued item and run its cell, heartbeating from a thread; then, in one
   transaction, close the item (only while still holding the lease: a superseded or
   lost item is not reported), settle its ledger row and queue the head's reports;
4. post due outbox entries (:mod:`harness.service.sender`), before and after a run;
5. log reports that are overdue (once each).

Several workers (processes, machines) share one database; each item runs on one of
them at a time. ``harness worker`` runs this loop; ``harness serve --workers N`` starts N
of them beside the intake.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from harness import failpoints
from harness.attest.keys import runner_key
from harness.attest.sign import sign_run
from harness.backends.target import BackendDetector
from harness.codehost import Reporter
from harness.config.service import ServiceConfig
from harness.errors import HarnessError
from harness.executors.base import Executor, isolates_untrusted
from harness.matrix import HOST_VARIANT, Cell
from harness.reporting.console import ConsoleDisplay
from harness.runner import (
    Cancel,
    CellInterrupted,
    RunOptions,
    RunStatus,
    attempt_work_dir,
    run_cell,
)
from harness.service import baselines, culprits, ledger, notify, participation
from harness.service import queue as q
from harness.service.dispatch import Dispatcher, Plan
from harness.service.dispatch_actions import dispatch_entry
from harness.service.publish import Judged, VerdictCache, cell_decided, judged_transaction
from harness.service.sender import ReporterProvider, Sender, reporters_of
from harness.source.pairing import PullRequestBranch
from harness.store import Store, Transaction

log = logging.getLogger("harness.service.worker")
#: how often a worker looks for leftovers of dead runs when no lease expired
REAP_INTERVAL_S = 10.0
RUNNING = "running"


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    cache_dir: Path
    reports_dir: Path
    lease_s: float = 60.0
    poll_s: float = 1.0
    #: stop after this many cells (None: run until stopped)
    max_items: int | None = None
    #: stop when this process (the embedding ``harness serve``) is gone
    parent_pid: int | None = None


def _cell(cell_id: str) -> Cell:
    suite, backend, variant = cell_id.split("/")
    return Cell(suite, backend, variant)


def _pr_branch(label: str | None) -> PullRequestBranch | None:
    if not label or ":" not in label:
        return None
    owner, _, branch = label.partition(":")
    return PullRequestBranch(branch=branch, owner=owner or None)


class Worker:
    def __init__(
        self,
        store: Store,
        config: ServiceConfig,
        plan: Plan,
        executor: Executor | None,
        settings: WorkerSettings,
        client: ReporterProvider | None,
        name: str | None = None,
        reporters: Mapping[str, Reporter] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.plan = plan
        self.executor = executor
        self.settings = settings
        self.client = client
        self.name = name or q.worker_name()
        self.verdicts = VerdictCache(store, plan.suites_dir)
        self.dispatcher = Dispatcher(store, config, plan, self.verdicts)
        #: the code host's client (its reporter) and the other reporters configured
        delivering = [*(reporters_of(store, client) if client is not None else [])]
        delivering += [r for r in (reporters or {}).values() if r not in delivering]
        self.sender = (
            Sender(store, delivering, self.name, lease_s=max(10.0, 2 * settings.lease_s))
            if delivering
            else None
        )
        self.detector = BackendDetector()
        #: the SLOs, evaluated every ``participation.evaluate_every``
        self.watch = participation.Evaluator(store, config)
        #: the key this worker signs its runs' attestations with (none: not signed)
        self.signing_key = runner_key()
        self.ran = 0
        self._reaped_at = float("-inf")
        if not any(r.name == "github" for r in delivering):
            log.warning("no GitHub credentials: reports stay in the outbox until there are")

    # the loop -----------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        log.info(
            "worker %s: %s executor, lease %ss",
            self.name,
            self.plan.executor,
            self.settings.lease_s,
        )
        while not stop.is_set():
            parent = self.settings.parent_pid
            if parent is not None and os.getppid() != parent:
                log.warning(
                    "worker %s: the serving process %d is gone; stopping", self.name, parent
                )
                break
            busy = self.turn()
            if self.settings.max_items is not None and self.ran >= self.settings.max_items:
                break
            if not busy:
                stop.wait(self.settings.poll_s)

    def turn(self) -> bool:
        """One pass of the loop; whether there was anything to do."""
        busy = False
        while self.dispatcher.dispatch_next() is not None:
            busy = True
        requeued, failed = q.expire_leases(self.store)
        for item in requeued:
            log.warning(
                "item %d (%s at %s): %s", item.id, item.cell, item.head_sha[:12], item.detail
            )
        for item in failed:
            log.error("item %d (%s at %s): %s", item.id, item.cell, item.head_sha[:12], item.detail)
            self._close_failed(item)
        busy = busy or bool(requeued or failed)
        self._reap([*requeued, *failed])
        busy = self._send() or busy  # "pending" goes out before a long run
        claimed = q.claim(self.store, self.name, self.settings.lease_s)
        if claimed is not None:
            self.execute(claimed)
            busy = True
            self._send()
        elif self.executor is not None:  # nothing else to run: a scheduled bisection
            culprits.expire(self.store)
            if self.bisect():
                busy = True
                self._send()
        self.watch.maybe()
        for owed in ledger.flag_overdue(self.store):
            log.warning(
                "OVERDUE report: %s %s at %s (PR #%s), promised %s, deadline %s",
                owed.repository,
                owed.context,
                owed.head_sha[:12],
                owed.pr_number,
                owed.promised_at.isoformat(timespec="seconds"),
                owed.deadline_at.isoformat(timespec="seconds"),
            )
        return busy

    def _reap(self, expired: list[q.Item]) -> None:
        """Stop leftovers of runs that are over (module docstring, step 2); every
        worker does it, on every machine: the dead worker's steps ran where it ran."""
        if self.executor is None:
            return
        t = time.monotonic()
        if not expired and t - self._reaped_at < REAP_INTERVAL_S:
            return
        self._reaped_at = t

        try:
            reaped = self.executor.reap(self.store.key, self._running)
        except Exception:  # never let the janitor stop the worker
            log.exception("worker %s: could not look for leftovers of dead runs", self.name)
            return
        for run_id in reaped.runs:
            log.warning(
                "run %d is over but had %d process group(s) and %d container(s) still "
                "running on this machine (its worker died): stopped them",
                run_id,
                reaped.processes.get(run_id, 0),
                reaped.containers.get(run_id, 0),
            )
        for item in expired:
            self._remove_work_dirs(item)

    def _out_dir(self, item: q.Item) -> Path:
        """Where ``item``'s runs keep their logs and results (one per job)."""
        return (self.settings.reports_dir / (item.job_id or f"item-{item.id}")).resolve()

    def _running(self, run_id: int) -> bool:
        try:
            return self.store.get_run(run_id).status == RUNNING
        except HarnessError:
            return True  # not known here (yet): leave it alone

    def _remove_work_dirs(self, item: q.Item) -> None:
        """The work directories (source, companions) of ``item``'s dead attempts."""
        out_dir = self._out_dir(item)
        for run in self.store.job_runs(item.job_id, item.cell) if item.job_id else []:
            if run.status == RUNNING:
                continue
            work = attempt_work_dir(
                self.settings.cache_dir, out_dir, _cell(item.cell), self.store.key, run.id
            )
            for path in (work, work.with_name(f"{work.name}-repos")):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                    log.info("removed %s, left by run %d", path, run.id)

    def _send(self) -> bool:
        if self.sender is None:
            return False
        result = self.sender.send_due()
        return bool(result.sent or result.retried or result.dead)

    # one item -----------------------------------------------------------------------

    def execute(self, item: q.Item) -> None:
        if self.executor is None:  # github-actions: the runners run it
            self._dispatch(item)
            self.ran += 1
            return
        log.info(
            "item %d: running %s at %s (%s, attempt %d)",
            item.id,
            item.cell,
            item.head_sha[:12],
            item.ref,
            item.attempts,
        )
        failpoints.hit("worker.claimed")
        lost = threading.Event()
        done = threading.Event()
        cancel = Cancel()
        beat = threading.Thread(
            target=self._heartbeat, args=(item, lost, done, cancel), daemon=True
        )
        beat.start()
        # deliveries keep being applied while the cell runs (a push supersedes it now,
        # not after it ends), even when this is the only worker
        intake = threading.Thread(target=self._dispatch_while, args=(done,), daemon=True)
        intake.start()
        run_id: int | None = None
        state, detail = "done", None
        try:
            run_id, detail, superseded = self._run(item, cancel)
            if superseded:
                state = "superseded"
        except CellInterrupted:
            # not closed: the lease expires and another worker runs the cell again
            log.warning("item %d: interrupted; it is retried once its lease expires", item.id)
            raise
        except HarnessError as exc:
            state, detail = "failed", str(exc)
            log.error("item %d: %s", item.id, exc)
        except Exception as exc:  # a bug: this item fails, the worker goes on
            state, detail = "failed", f"internal error: {type(exc).__name__}: {exc}"
            log.exception("item %d: internal error", item.id)
        finally:
            done.set()
            beat.join()
            intake.join()
        self._close(item, state, run_id, detail)
        self.ran += 1

    def bisect(self) -> bool:
        """Run the next scheduled bisection the budgets allow (:mod:`.culprits`), under a
        lease renewed by heartbeats, and report its answer; whether there was one."""
        claimed = culprits.claim(self.store, self.config, self.name, self.settings.lease_s)
        if claimed is None or self.executor is None:
            return False
        bisection_id = claimed.record.id
        log.info(
            "bisection %d: %s between %s and %s",
            bisection_id,
            claimed.record.cell,
            claimed.record.good_sha[:12],
            claimed.record.bad_sha[:12],
        )
        done, cancel = threading.Event(), Cancel()
        beat = threading.Thread(
            target=self._bisection_heartbeat, args=(bisection_id, done, cancel), daemon=True
        )
        beat.start()
        intake = threading.Thread(target=self._dispatch_while, args=(done,), daemon=True)
        intake.start()
        answer = None
        try:
            with ConsoleDisplay(Console(stderr=True), live=False) as display:
                ctx = culprits.RunContext(
                    store=self.store,
                    suites=self.plan.suites,
                    suites_dir=self.plan.suites_dir,
                    executor=self.executor,
                    cache_dir=self.settings.cache_dir,
                    reports_dir=self.settings.reports_dir,
                    display=display,
                    owner=self.name,
                )
                answer = culprits.run(
                    ctx,
                    claimed,
                    cancel,
                    lambda text: log.info("bisection %d: %s", bisection_id, text),
                )
        except CellInterrupted:
            raise  # the lease expires and another worker takes it up
        except Exception as exc:  # recorded on the row; the worker goes on
            if not isinstance(exc, HarnessError):
                log.exception("bisection %d: internal error", bisection_id)
            culprits.failed(self.store, bisection_id, self.name, str(exc))
            log.error("bisection %d: %s", bisection_id, exc)
        finally:
            done.set()
            beat.join()
            intake.join()
        if answer is not None:
            log.info("bisection %d: %s", bisection_id, answer.reason)
            culprits.report(self.store, self.config, self.verdicts, answer)
        return True

    def _bisection_heartbeat(
        self, bisection_id: int, done: threading.Event, cancel: Cancel
    ) -> None:
        """Extend a bisection's lease; once lost, stop its probe (nothing is recorded by
        this worker any more: the row's new holder records it)."""
        interval = max(0.2, self.settings.lease_s / 3)
        while not done.wait(interval):
            try:
                if culprits.heartbeat(self.store, bisection_id, self.name, self.settings.lease_s):
                    continue
            except HarnessError as exc:
                log.error("bisection %d: heartbeat failed: %s", bisection_id, exc)
                continue
            if cancel.reason is None:
                log.warning("bisection %d: lease lost; stopping it", bisection_id)
                cancel.stop(f"bisection {bisection_id}: lease lost")
            self._stop_run(cancel)

    def _run(self, item: q.Item, cancel: Cancel) -> tuple[int, str | None, bool]:
        assert self.executor is not None  # execute() dispatches otherwise
        cell = _cell(item.cell)
        suite = self.plan.suites.get(cell.suite)
        if suite is None or cell.backend not in suite.backends:
            raise HarnessError(f"cell {item.cell} is not defined by the suites any more")
        if not item.trusted and not isolates_untrusted(self.executor):
            raise HarnessError(
                "an untrusted author's code runs only in containers (non-root, no network, "
                f"limits), never on this host ({self.executor.name} executor declares no "
                "isolation): start workers with --executor docker or another executor that "
                "declares isolation (`harness doctor` lists them)"
            )
        pr_branch = _pr_branch(self._head_label(item))
        options = RunOptions(
            ref=item.ref,
            cache_dir=self.settings.cache_dir,
            pr_branch=pr_branch,
            trusted=item.trusted,
            sha=item.head_sha,
            cancel=cancel,
            suites_dir=self.plan.suites_dir,
        )
        out_dir = self._out_dir(item)
        out_dir.mkdir(parents=True, exist_ok=True)
        with ConsoleDisplay(Console(stderr=True), live=False) as display:
            summary = run_cell(
                cell,
                suite,
                target=self.detector.target(cell.backend, None),
                store=self.store,
                executor=self.executor,
                options=options,
                job_id=item.job_id,
                out_dir=out_dir,
                display=display,
            )
        detail = None
        if summary.status not in {RunStatus.PASSED, RunStatus.FAILED}:
            detail = f"run {summary.run_id} {summary.status.value}: {summary.reason or ''}".rstrip(
                ": "
            )
        return summary.run_id, detail, summary.superseded

    def _head_label(self, item: q.Item) -> str | None:
        """``owner:branch`` of the item's pull request head, if it is a PR's."""
        if item.pr_number is None:
            return None
        with self.store.reading("reading a pull request") as r:
            pr = r.pulls.get(item.repository, item.pr_number)
        return pr.head_label if pr else None

    def _dispatch(self, item: q.Item) -> None:
        cell = _cell(item.cell)
        if not item.trusted and cell.variant == HOST_VARIANT:
            self._close(
                item,
                "failed",
                None,
                "an untrusted author's code runs only in containers: a host cell is not "
                "sent to the runners",
            )
            return
        entry = dispatch_entry(self.config, item, self._head_label(item))

        with self.store.transaction(f"dispatching item {item.id}") as tx:
            sent = tx.queue.mark_dispatched(item.id, self.name, f"sent to {entry.repository}")
            if sent:
                tx.outbox.put(entry.repository, "dispatch", entry.key, entry.payload)
        if sent:
            log.info(
                "item %d: %s sent to GitHub Actions (%s)", item.id, item.cell, entry.repository
            )
        else:
            log.warning("item %d: lease lost before dispatch", item.id)

    def _heartbeat(
        self, item: q.Item, lost: threading.Event, done: threading.Event, cancel: Cancel
    ) -> None:
        """Extend the lease while the cell runs; once it is lost (the item superseded or
        cancelled, or the lease taken over after this worker stalled) stop the run: it is
        recorded ``cancelled`` with why, and nothing is reported for it."""
        interval = max(0.2, self.settings.lease_s / 3)
        while not done.wait(interval):
            try:
                if q.heartbeat(self.store, item.id, self.name, self.settings.lease_s):
                    continue
            except HarnessError as exc:  # the database is away: the lease may expire
                log.error("item %d: heartbeat failed: %s", item.id, exc)
                continue
            if not lost.is_set():
                why = self._lost_reason(item)
                log.warning("item %d: %s; stopping its run, which is not reported", item.id, why)
                lost.set()
                cancel.stop(why)
            self._stop_run(cancel)

    def _dispatch_while(self, done: threading.Event) -> None:
        """Apply received deliveries until ``done`` (while a cell runs)."""
        while not done.wait(self.settings.poll_s):
            try:
                while not done.is_set() and self.dispatcher.dispatch_next() is not None:
                    pass
            except Exception:  # the next turn of the loop tries again
                log.exception("worker %s: dispatching while a cell runs failed", self.name)

    def _lost_reason(self, item: q.Item) -> str:
        now = q.get_item(self.store, item.id)
        if now is None:
            return "the queue item is gone"
        if now.state == "superseded":
            return f"superseded ({now.detail})" if now.detail else "superseded"
        if now.lease_owner and now.lease_owner != self.name:
            return f"lease taken over by {now.lease_owner}"
        return f"lease lost (item {now.state})"

    def _stop_run(self, cancel: Cancel) -> None:
        """Kill the step this worker's run is in (and leftovers of runs that are over)."""
        if self.executor is None or cancel.run_id is None:
            return
        mine = cancel.run_id
        try:
            self.executor.reap(
                self.store.key, lambda run_id: run_id != mine and self._running(run_id)
            )
        except Exception:
            log.exception("item: could not stop run %d", mine)

    def _close(self, item: q.Item, state: str, run_id: int | None, detail: str | None) -> None:
        """Close ``item`` and report it, in one unit of work: the item (only while this
        worker still holds its lease), its ledger row, the head's reports, the baselines
        its verdict misses. The verdicts are judged before it (read → judge → write)."""
        done = run_id if state == "done" else None
        attested = None
        if done is not None and self.signing_key is not None:
            attested = sign_run(self.store, done, self.signing_key, f"worker {self.name}")

        def _txn(tx: Transaction, judged: Judged) -> bool:
            if not tx.queue.finish(item.id, self.name, state=state, run_id=run_id, detail=detail):
                return False
            if attested is not None and done is not None:
                tx.attestations.add(done, attested)
            if state == "superseded":  # its commit is gone: nothing is owed, nothing posted
                tx.ledger.settle(item.repository, item.head_sha, item.cell, "superseded")
                if item.job_id is not None:
                    tx.queue.finish_job_if_done(item.job_id)
            else:
                self._settle(tx, judged, item, done)
            return True

        to_judge = baselines.runs_to_judge(self.store, item, done) if state != "superseded" else ()
        if not judged_transaction(
            self.store, self.verdicts, f"closing item {item.id}", _txn, to_judge
        ):
            log.warning(
                "item %d (%s): not reported: the lease was lost (superseded or taken over)",
                item.id,
                item.cell,
            )

    def _close_failed(self, item: q.Item) -> None:
        judged_transaction(
            self.store,
            self.verdicts,
            f"reporting failed item {item.id}",
            lambda tx, judged: self._settle(tx, judged, item),
            baselines.runs_to_judge(self.store, item, None),
        )

    def _settle(
        self, tx: Transaction, judged: Judged, item: q.Item, run_id: int | None = None
    ) -> None:
        """In the closing transaction: ledger, reports, the job's status; the baseline
        a PR's verdict is missing is queued, and a finished baseline has the reports of
        the pull requests waiting for it judged again (:mod:`harness.service.baselines`)."""
        cell_decided(tx, self.config, judged, item)
        if run_id is not None:
            notify.run_finished(tx, self.config, judged, item, run_id)
            culprits.schedule(
                tx, self.config, judged, item, run_id, self.plan.suites.get(_cell(item.cell).suite)
            )
        if run_id is not None and item.pr_number is not None:
            suite = self.plan.suites.get(_cell(item.cell).suite)
            branch = suite.upstream.default_branch if suite is not None else None
            baselines.request_missing(tx, self.config, branch, judged, item, run_id)
        elif run_id is not None and item.trigger in baselines.BASELINE_TRIGGERS:
            baselines.republish_waiting(tx, self.config, judged, item)
        if item.job_id is not None:
            tx.queue.finish_job_if_done(item.job_id)
