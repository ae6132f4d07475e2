"""Act on stored webhook deliveries: pull requests and comments become queue items,
held or queued by the trust gate; a newer head supersedes the old one's work.

The intake only stores deliveries; a worker takes the oldest ``received`` one and, in one
transaction, applies it and marks it ``handled``, ``ignored`` (with why) or ``error``.
A crash in between rolls everything back, and the delivery is taken again.

Events:

* ``pull_request`` opened / reopened / synchronize: run the upstream's cells at the new
  head (held when the author is not trusted and the PR is not approved); synchronize
  supersedes what was queued for the old head. ``labeled`` with the trust label
  approves; ``closed`` cancels.
* ``issue_comment`` created on a pull request: ``recheck``, ``/harness retest PATTERN``,
  ``/harness ok-to-test`` (from a trusted user).
* ``check_run`` rerequested: re-run that context's cells at that head.
* ``push`` to the default branch: baseline runs (no report).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.codehost import Trigger
from harness.codehost.events import (
    CheckRunEvent,
    CommentEvent,
    PayloadError,
    PullRequestEvent,
    PushEvent,
)
from harness.codehost.reporters import default_trigger
from harness.config.loader import load_suites
from harness.config.service import ServiceConfig, UpstreamService, suites_for
from harness.config.suite import Suite
from harness.errors import ConfigError
from harness.matrix import Cell, matches, matches_any
from harness.planner import all_cells, for_executor, image_matrix
from harness.service import queue as q
from harness.service.commands import BadCommand, OkToTest, Recheck, Retest, parse_commands
from harness.service.publish import Judged, VerdictCache, judged_transaction, publish_head
from harness.service.pulls import PrRow, approve
from harness.service.report import context_of
from harness.service.trust import may_rerun, may_run, trusted_person, trusted_pull_request
from harness.store import Store, Transaction

log = logging.getLogger("harness.service.dispatch")


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    detail: str
    #: heads whose reports must be refreshed: (repository, pr number, head sha)
    heads: tuple[tuple[str, int, str], ...] = ()


@dataclass
class Plan:
    """Which cells the service runs per repository, for one executor."""

    suites: dict[str, Suite]
    executor: str
    suites_dir: Path
    _cells: list[Cell] = field(default_factory=list)

    @classmethod
    def load(cls, suites_dir: Path, executor: str) -> Plan:
        suites = load_suites(suites_dir)
        return cls(suites, executor, suites_dir, all_cells(suites, image_matrix()))

    def problems(self, config: ServiceConfig) -> list[str]:
        """Configured upstreams this plan would run nothing for, and why."""
        out = []
        for repository, up in config.upstreams.items():
            names = suites_for(self.suites, repository)
            if not names:
                out.append(f"{repository}: no suite has this upstream")
                continue
            cells = [c for c in self._cells if c.suite in names]
            for pattern in up.cells:
                if not any(matches(c.id, pattern) for c in cells):
                    out.append(f"{repository}: cell pattern {pattern!r} matches no cell")
            if not self.cells_for(repository, up):
                out.append(f"{repository}: no cell runs with the {self.executor} executor")
        return out

    def cells_for(self, repository: str, up: UpstreamService) -> list[str]:
        names = suites_for(self.suites, repository)
        cells = [c for c in self._cells if c.suite in names]
        if up.cells:
            cells = [c for c in cells if matches_any(c.id, up.cells)]
        if self.executor == "github-actions":  # runners run host and image cells
            return [c.id for c in cells]
        try:
            cells = for_executor(cells, self.executor)
        except ConfigError:
            return []
        return [c.id for c in cells]


class Dispatcher:
    def __init__(
        self,
        store: Store,
        config: ServiceConfig,
        plan: Plan,
        verdicts: VerdictCache,
        trigger: Trigger | None = None,
    ) -> None:
        self.store = store
        #: turns stored payloads into events (the code host's driver; default GitHub)
        self.trigger = trigger or default_trigger()
        self.config = config
        self.plan = plan
        self.verdicts = verdicts

    # deliveries ---------------------------------------------------------------------

    def dispatch_next(self) -> Outcome | None:
        """Apply the oldest received delivery; ``None`` when there is none. One unit of
        work (the verdicts its reports show are judged before it:
        :func:`~harness.service.publish.judged_transaction`)."""

        def _apply(tx: Transaction, judged: Judged) -> tuple[str, Outcome] | None:
            row = tx.deliveries.next_received()
            if row is None:
                return None
            try:
                outcome = self.apply(tx, row.event, json.loads(row.payload), row.delivery_id)
            except PayloadError as exc:
                outcome = Outcome("error", f"malformed {row.event} payload: {exc}")
            for repository, number, head in outcome.heads:
                publish_head(tx, self.config, judged, repository, number, head)
            tx.deliveries.mark(row.id, outcome.status, outcome.detail)
            return f"{row.delivery_id} ({row.event}.{row.action})", outcome

        done = judged_transaction(self.store, self.verdicts, "dispatching a delivery", _apply)
        if done is None:
            return None
        what, outcome = done
        log.info("delivery %s: %s: %s", what, outcome.status, outcome.detail)
        return outcome

    def apply(self, tx: Transaction, name: str, payload: Any, delivery: str | None) -> Outcome:
        if name == "ping":
            return Outcome("handled", "pong")
        event = self.trigger.parse(name, payload)
        if event is None:
            return Outcome("ignored", f"the service does not act on {name} events")
        up = self.config.upstream(event.repository)
        if up is None:
            return Outcome("ignored", f"{event.repository} is not in the service configuration")
        if isinstance(event, PullRequestEvent):
            return self._pull_request(tx, event, up, delivery)
        if isinstance(event, CommentEvent):
            return self._comment(tx, event, up, delivery)
        if isinstance(event, CheckRunEvent):
            return self._check_run(tx, event, up, delivery)
        return self._push(tx, event, up, delivery)

    # events -------------------------------------------------------------------------

    def _pull_request(
        self, tx: Transaction, e: PullRequestEvent, up: UpstreamService, delivery: str | None
    ) -> Outcome:
        old = tx.pulls.get(e.repository, e.number)
        pr = PrRow(
            repository=e.repository,
            number=e.number,
            head_sha=e.head_sha,
            head_label=e.head_label,
            author=e.author,
            association=e.association,
            state=e.state,
            approved_sha=old.approved_sha if old else None,
            approved_by=old.approved_by if old else None,
            installation_id=e.installation_id,
            github_updated_at=e.updated_at,
        )
        changes = e.action in {"opened", "reopened", "synchronize", "closed", "labeled"}
        if changes and not tx.pulls.upsert(pr):
            current = tx.pulls.get(e.repository, e.number)
            newer = current.head_sha[:12] if current else "?"
            return Outcome(
                "ignored",
                f"an older delivery ({e.action} of {e.head_sha[:12]}, updated "
                f"{e.updated_at.isoformat() if e.updated_at else '?'}) than the state "
                f"recorded (head {newer}): it changes nothing",
            )
        if e.action in {"opened", "reopened", "synchronize"}:
            notes = []
            gone = tx.queue.supersede(
                e.repository, e.number, e.head_sha, f"superseded by {e.head_sha[:12]}"
            )
            tx.ledger.release(e.repository, e.number, e.head_sha, "superseded")
            if gone:
                notes.append(f"superseded {len(gone)} item(s) of older heads")
            cells = self.plan.cells_for(e.repository, up)
            notes.insert(0, self._schedule(tx, pr, up, cells, "pull_request", delivery))
            return Outcome("handled", "; ".join(notes), ((e.repository, e.number, e.head_sha),))
        if e.action == "labeled":
            if not up.trust.label or e.label != up.trust.label:
                return Outcome("ignored", f"label {e.label!r} is not the trust label")
            released = approve(tx, pr, e.sender or "(label)")
            return Outcome(
                "handled",
                f"approved by label {e.label!r} from {e.sender}; {released} item(s) released",
                ((e.repository, e.number, e.head_sha),),
            )
        if e.action == "closed":
            gone = tx.queue.supersede(e.repository, e.number, None, "pull request closed")
            tx.ledger.release(e.repository, e.number, None, "cancelled")
            return Outcome("handled", f"closed: cancelled {len(gone)} item(s)")
        return Outcome("ignored", f"pull_request action {e.action!r} needs nothing")

    def _comment(
        self, tx: Transaction, e: CommentEvent, up: UpstreamService, delivery: str | None
    ) -> Outcome:
        if e.action != "created" or not e.is_pull_request:
            return Outcome("ignored", "not a new comment on a pull request")
        commands = parse_commands(e.body, self.config.commands)
        if not commands:
            return Outcome("ignored", "no command in the comment")
        pr = tx.pulls.get(e.repository, e.number)
        if pr is None:
            return Outcome(
                "ignored",
                f"pull request #{e.number} unknown here (no pull_request delivery seen); "
                "push to it or reopen it",
            )
        if pr.state != "open":
            return Outcome("ignored", f"pull request #{e.number} is {pr.state}")
        notes: list[str] = []
        cells = self.plan.cells_for(e.repository, up)
        for cmd in commands:
            if isinstance(cmd, OkToTest):
                if not trusted_person(e.commenter, e.association, up.trust):
                    notes.append(f"{e.commenter} ({e.association}) may not approve")
                    continue
                released = approve(tx, pr, e.commenter)
                pr = tx.pulls.get(e.repository, e.number) or pr
                notes.append(f"approved by {e.commenter}; {released} item(s) released")
            elif isinstance(cmd, Recheck | Retest) and not may_rerun(
                e.commenter, e.association, pr.author, up.trust
            ):
                who = ", ".join(up.trust.rerun)
                notes.append(
                    f"{e.commenter} ({e.association}) may not re-run cells (allowed: {who})"
                )
            elif isinstance(cmd, Recheck):
                notes.append(self._schedule(tx, pr, up, cells, "comment", delivery, rerun=True))
            elif isinstance(cmd, Retest):
                chosen = [c for c in cells if matches(c, cmd.pattern)]
                if not chosen:
                    notes.append(f"retest {cmd.pattern!r} matches none of {', '.join(cells)}")
                    continue
                notes.append(self._schedule(tx, pr, up, chosen, "comment", delivery, rerun=True))
            elif isinstance(cmd, BadCommand):
                notes.append(f"{cmd.line!r}: {cmd.why}")
        return Outcome("handled", "; ".join(notes), ((pr.repository, pr.number, pr.head_sha),))

    def _check_run(
        self, tx: Transaction, e: CheckRunEvent, up: UpstreamService, delivery: str | None
    ) -> Outcome:
        if e.action != "rerequested":
            return Outcome("ignored", f"check_run action {e.action!r} needs nothing")
        cells = [
            c for c in self.plan.cells_for(e.repository, up) if context_of(self.config, c) == e.name
        ]
        if not cells:
            return Outcome("ignored", f"check run {e.name!r} is not one of ours")
        for number in e.pr_numbers:
            pr = tx.pulls.get(e.repository, number)
            if pr is None or pr.head_sha != e.head_sha:
                continue
            note = self._schedule(tx, pr, up, cells, "check_run", delivery, rerun=True)
            return Outcome("handled", note, ((pr.repository, pr.number, pr.head_sha),))
        return Outcome("ignored", f"{e.head_sha[:12]} is not the head of an open pull request here")

    def _push(
        self, tx: Transaction, e: PushEvent, up: UpstreamService, delivery: str | None
    ) -> Outcome:
        if not e.to_default_branch:
            return Outcome("ignored", f"push to {e.ref}, not to {e.default_branch}")
        if not up.baseline_on_push:
            return Outcome("ignored", "baseline_on_push is off")
        cells = self.plan.cells_for(e.repository, up)
        if not cells:
            return Outcome("ignored", "no cells for this repository")
        job = tx.queue.create_job("push", cells, e.default_branch)
        items = [
            q.NewItem(
                repository=e.repository,
                head_sha=e.after,
                ref=e.default_branch,
                cell=cell,
                trigger="push",
                priority=q.PRIORITY_BASELINE,
                job_id=job,
                delivery_id=delivery,
            )
            for cell in cells
        ]
        tx.queue.enqueue(items)
        return Outcome("handled", f"baseline: {len(items)} cell(s) at {e.after[:12]} (job {job})")

    # scheduling ---------------------------------------------------------------------

    def _schedule(
        self,
        tx: Transaction,
        pr: PrRow,
        up: UpstreamService,
        cells: list[str],
        trigger: str,
        delivery: str | None,
        *,
        rerun: bool = False,
    ) -> str:
        if not cells:
            return "no cells for this repository"
        busy = tx.queue.active_cells(pr.repository, pr.head_sha) if rerun else set()
        fresh = [c for c in cells if c not in busy]
        if not fresh:
            return "those cells are already queued or running"
        trusted = trusted_pull_request(pr.author, pr.association, pr.head_label, up.trust)
        held = not may_run(
            author=pr.author,
            association=pr.association,
            head_label=pr.head_label,
            approved_sha=pr.approved_sha,
            head_sha=pr.head_sha,
            trust=up.trust,
        )
        if rerun and held:
            # an untrusted PR's held items stay held; a recheck does not add more
            waiting = {
                i.cell
                for i in tx.queue.items_for_head(pr.repository, pr.head_sha)
                if i.state == "held"
            }
            fresh = [c for c in fresh if c not in waiting]
            if not fresh:
                return "waiting for approval (/harness ok-to-test)"
        job = tx.queue.create_job(
            "comment" if trigger == "check_run" else trigger,
            fresh,
            f"refs/pull/{pr.number}/head",
        )
        why = (
            f"waiting for approval: {pr.author} ({pr.association}) is not trusted" if held else None
        )
        tx.queue.enqueue(
            [
                q.NewItem(
                    repository=pr.repository,
                    head_sha=pr.head_sha,
                    ref=f"refs/pull/{pr.number}/head",
                    cell=cell,
                    trigger=trigger,
                    pr_number=pr.number,
                    held=held,
                    job_id=job,
                    delivery_id=delivery,
                    detail=why,
                    trusted=trusted,
                )
                for cell in fresh
            ],
        )
        if up.level.posts:
            tx.ledger.promise(
                repository=pr.repository,
                pr_number=pr.number,
                head_sha=pr.head_sha,
                cells=[(c, context_of(self.config, c)) for c in fresh],
                deadline_s=up.deadline,
            )
        state = "held for approval" if held else "queued"
        return f"{len(fresh)} cell(s) {state} at {pr.head_sha[:12]} (job {job})"
