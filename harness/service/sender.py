"""Post outbox entries to GitHub: commit statuses, check runs, the one PR comment.

Every post is idempotent, so an entry sent twice (a sender killed between posting and
marking it sent) changes nothing visible: a status with the same context replaces the
previous one; a check run is created once per head and context, then edited (its id is
kept in ``github_objects``); the PR comment is found by its id, or by its hidden marker
when the id is unknown (a new database, a comment posted by an older process), and
edited in place. Only when neither finds it is a comment created.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from github import GithubException
from github.Repository import Repository

from harness.reporting.github import GitHubClient, classify_failure
from harness.service import outbox
from harness.store import Store

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
        for entry in outbox.claim_due(self.store, self.owner, self.lease_s, limit):
            try:
                self._post(entry)
            except Exception as exc:  # every failure is classified, none escapes
                failure = classify_failure(exc)
                what = f"{entry.kind} {entry.key} for {entry.repository}"
                if failure.retry:
                    when = outbox.mark_retry(self.store, entry, failure.message, failure.delay_s)
                    log.warning(
                        "posting %s failed (attempt %d): %s; retrying at %s",
                        what,
                        entry.attempts,
                        failure.message,
                        when.isoformat(timespec="seconds"),
                    )
                    retried += 1
                else:
                    outbox.mark_dead(self.store, entry.id, failure.message)
                    log.error("posting %s rejected, not retried: %s", what, failure.message)
                    dead += 1
                continue
            outbox.mark_sent(self.store, entry.id)
            log.info("posted %s %s to %s", entry.kind, entry.key, entry.repository)
            sent += 1
        return SendResult(sent, retried, dead)

    def _post(self, entry: outbox.Entry) -> None:
        p = entry.payload
        repo = self.client.repo(entry.repository, p.get("installation"))
        if entry.kind == "status":
            self._status(repo, p)
        elif entry.kind == "check_run":
            self._check_run(repo, entry.repository, p)
        elif entry.kind == "comment":
            self._comment(repo, entry.repository, p)
        elif entry.kind == "dispatch":
            repo.create_repository_dispatch(p["event_type"], p["client_payload"])
        else:
            raise ValueError(f"unknown outbox entry kind {entry.kind!r}")

    @staticmethod
    def _status(repo: Repository, p: dict[str, Any]) -> None:
        kwargs: dict[str, Any] = {
            "state": p["state"],
            "context": p["context"],
            "description": clip(p.get("description") or "", MAX_DESCRIPTION),
        }
        if p.get("target_url"):
            kwargs["target_url"] = p["target_url"]
        repo.get_commit(p["sha"]).create_status(**kwargs)

    def _check_run(self, repo: Repository, repository: str, p: dict[str, Any]) -> None:
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
        outbox.set_object(self.store, repository, "comment", key, created.id)
