"""Post outbox entries to GitHub: commit statuses, check runs, the one PR comment.

A rate limit holds back every entry of the same token or installation (not only the one
that met it), in every worker (:mod:`harness.service.rate_limits`), until the time
GitHub named; limits in a row double the wait (up to an hour); a success resets it.

A sender can die between GitHub accepting a post and the outbox marking it sent; the
next sender takes the entry again (``resumed``) and looks before it posts, so nothing is
posted twice:

* a status: GitHub lists a commit's statuses newest first; when the newest one of the
  context already says what the entry says, it is marked sent without a post (GitHub
  keeps every status posted, so a second identical one would show twice);
* a check run is created once per head and context, then edited (its id is kept in
  ``github_objects``); a resumed entry whose id is unknown finds the run by its
  ``external_id`` among the head's check runs of that name;
* the PR comment is found by its id, or by its hidden marker when the id is unknown (a
  new database, a sender killed before it kept the id), and edited in place. Only when
  neither finds it is a comment created.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from github import GithubException
from github.CommitStatus import CommitStatus
from github.PaginatedList import PaginatedList
from github.Repository import Repository

from harness import failpoints
from harness.reporting.github import GitHubClient, classify_failure
from harness.service import outbox, rate_limits
from harness.store import Store, Transaction

log = logging.getLogger("harness.service.sender")

#: GitHub's limits: status descriptions, check-run summaries, comment bodies
MAX_DESCRIPTION, MAX_SUMMARY, MAX_COMMENT = 140, 65535, 65536
#: stop looking for the marker after this many comments
MAX_COMMENTS_SCANNED = 1000


def clip(text: str, limit: int, tail: str = "…") -> str:
    return text if len(text) <= limit else text[: limit - len(tail)] + tail


@dataclass(frozen=True, slots=True)
class SendResult:
    sent: int = 0
    retried: int = 0
    dead: int = 0


class Sender:
    def __init__(self, store: Store, client: GitHubClient, owner: str, lease_s: float = 120):
        self.store = store
        self.client = client
        self.owner = owner
        self.lease_s = lease_s

    def send_due(self, limit: int = 20) -> SendResult:
        """Post what is due; never raises for GitHub's failures (they are rescheduled)."""
        sent = retried = dead = 0
        entries = outbox.claim_due(self.store, self.owner, self.lease_s, limit)
        limited = rate_limits.known(self.store) if entries else {}
        for entry in entries:
            who = rate_limits.who(entry.payload.get("installation"))
            until = limited.get(who)
            if until is not None and until > datetime.now(UTC):
                # its token is rate limited (met here or by another worker): do not
                # make it worse
                wait = (until - datetime.now(UTC)).total_seconds()
                outbox.mark_retry(
                    self.store, entry, f"held back: rate limited until {until:%H:%M:%S}", wait
                )
                retried += 1
                continue
            failpoints.hit("sender.posting", f"sender.posting.{entry.kind}")
            try:
                self._post(entry)
            except Exception as exc:  # every failure is classified, none escapes
                failure = classify_failure(exc)
                what = f"{entry.kind} {entry.key} for {entry.repository}"
                if failure.retry:
                    delay = failure.delay_s
                    if failure.rate_limited:
                        delay = rate_limits.record(self.store, who, failure.delay_s)
                        limited[who] = datetime.now(UTC) + timedelta(seconds=delay)
                    when = outbox.mark_retry(self.store, entry, failure.message, delay)
                    log.warning(
                        "posting %s failed (attempt %d): %s; retrying at %s",
                        what,
                        entry.attempts,
                        failure.message,
                        when.isoformat(timespec="seconds"),
                    )
                    retried += 1
                else:
                    outbox.mark_dead(self.store, entry.id, failure.message, self._ledger(entry))
                    log.error(
                        "posting %s rejected, not retried: %s (re-send with `harness outbox "
                        "retry %d` once fixed)",
                        what,
                        failure.message,
                        entry.id,
                    )
                    dead += 1
                continue
            is_final = outbox.final_report(entry.kind, entry.payload) is not None
            final = ("sender.posted.final",) if is_final else ()
            failpoints.hit(*final, f"sender.posted.{entry.kind}", "sender.posted")
            outbox.mark_sent(self.store, entry.id, self._ledger(entry, accepted=True))
            if limited.pop(who, None) is not None:  # over: the next one starts afresh
                rate_limits.clear(self.store, who)
            log.info("posted %s %s to %s", entry.kind, entry.key, entry.repository)
            sent += 1
        return SendResult(sent, retried, dead)

    @staticmethod
    def _ledger(
        entry: outbox.Entry, accepted: bool = False
    ) -> Callable[[Transaction], object] | None:
        """What the ledger learns from ``entry``'s fate, in the same transaction."""
        final = outbox.final_report(entry.kind, entry.payload)
        if final is None:
            return None
        sha, context = final
        if accepted:
            return lambda tx: tx.ledger.accepted(entry.repository, sha, context)
        return lambda tx: tx.ledger.refused(entry.repository, sha, context)

    def _post(self, entry: outbox.Entry) -> None:
        p = entry.payload
        repo = self.client.repo(entry.repository, p.get("installation"))
        if entry.kind == "status":
            self._status(repo, p, entry.resumed)
        elif entry.kind == "check_run":
            self._check_run(repo, entry.repository, p, entry.resumed)
        elif entry.kind == "comment":
            self._comment(repo, entry.repository, p)
        elif entry.kind == "dispatch":
            repo.create_repository_dispatch(p["event_type"], p["client_payload"])
        else:
            raise ValueError(f"unknown outbox entry kind {entry.kind!r}")

    @staticmethod
    def _status(repo: Repository, p: dict[str, Any], resumed: bool = False) -> None:
        kwargs: dict[str, Any] = {
            "state": p["state"],
            "context": p["context"],
            "description": clip(p.get("description") or "", MAX_DESCRIPTION),
        }
        if p.get("target_url"):
            kwargs["target_url"] = p["target_url"]
        if resumed and _status_is_there(_statuses(repo, p["sha"]), kwargs):
            return
        repo.get_commit(p["sha"]).create_status(**kwargs)

    def _check_run(
        self, repo: Repository, repository: str, p: dict[str, Any], resumed: bool = False
    ) -> None:
        fields: dict[str, Any] = {
            "status": p["status"],
            "output": {
                "title": clip(p.get("title") or p["name"], 255),
                "summary": clip(p.get("summary") or "", MAX_SUMMARY),
            },
        }
        if p.get("conclusion"):
            fields["conclusion"] = p["conclusion"]
        if p.get("details_url"):
            fields["details_url"] = p["details_url"]
        key = f"{p['sha']}:{p['name']}"
        known = outbox.get_object(self.store, repository, "check_run", key)
        if known is None and resumed:  # created by a sender that died before keeping its id
            known = _find_check_run(repo, p["sha"], p["name"], p.get("external_id") or key)
            if known is not None:
                outbox.set_object(self.store, repository, "check_run", key, known)
        if known is not None:
            try:
                repo.get_check_run(known).edit(**fields)
                return
            except GithubException as exc:
                if exc.status != 404:
                    raise
        run = repo.create_check_run(
            name=p["name"], head_sha=p["sha"], external_id=p.get("external_id") or key, **fields
        )
        failpoints.hit("sender.created.check_run")
        outbox.set_object(self.store, repository, "check_run", key, run.id)

    def _comment(self, repo: Repository, repository: str, p: dict[str, Any]) -> None:
        body = clip(p["body"], MAX_COMMENT)
        number, marker = int(p["pr"]), p["marker"]
        key = str(number)
        known = outbox.get_object(self.store, repository, "comment", key)
        issue = repo.get_issue(number)
        if known is not None:
            try:
                issue.get_comment(known).edit(body)
                return
            except GithubException as exc:
                if exc.status != 404:  # deleted by someone: post it again
                    raise
        for i, comment in enumerate(issue.get_comments()):
            if i >= MAX_COMMENTS_SCANNED:
                break
            if marker in (comment.body or ""):
                found = comment.id
                try:
                    comment.edit(body)
                except GithubException as exc:
                    if exc.status not in {403, 404}:
                        raise
                    continue  # someone else's comment quoting our marker: not ours
                outbox.set_object(self.store, repository, "comment", key, found)
                return
        created = issue.create_comment(body)
        failpoints.hit("sender.created.comment")
        outbox.set_object(self.store, repository, "comment", key, created.id)


#: how many of a commit's newest statuses a resumed status looks through
STATUSES_SCANNED = 100


def _statuses(repo: Repository, sha: str) -> PaginatedList[CommitStatus]:
    """The commit's statuses, newest first (``GET …/commits/{ref}/statuses``, the
    documented call; PyGithub's ``Commit.get_statuses`` uses an undocumented one)."""
    return PaginatedList(CommitStatus, repo.requester, f"{repo.url}/commits/{sha}/statuses", None)


def _status_is_there(statuses: Iterable[Any], wanted: dict[str, Any]) -> bool:
    """Whether the newest status of ``wanted``'s context already says what it says."""
    for i, status in enumerate(statuses):
        if i >= STATUSES_SCANNED:
            return False
        if status.context != wanted["context"]:
            continue
        return bool(
            status.state == wanted["state"]
            and (status.description or "") == wanted["description"]
            and (status.target_url or None) == wanted.get("target_url")
        )
    return False


def _find_check_run(repo: Repository, sha: str, name: str, external_id: str) -> int | None:
    """The id of the head's check run called ``name`` with ``external_id``, if any."""
    for run in repo.get_commit(sha).get_check_runs(check_name=name):
        if run.external_id == external_id:
            return int(run.id)
    return None
