"""The GitHub reporter: commit statuses, check runs, the one PR comment, repository
dispatches (:class:`harness.codehost.Reporter`, registered as ``github``).

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

Rate limits are per token or App installation (:meth:`GitHubReporter.bucket`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from github import GithubException
from github.CommitStatus import CommitStatus
from github.PaginatedList import PaginatedList
from github.Repository import Repository

from harness import failpoints
from harness.codehost import Failure, OutboxItem
from harness.codehost.github.client import GitHubClient, classify_failure
from harness.store import Store

#: GitHub's limits: status descriptions, check-run summaries, comment bodies
MAX_DESCRIPTION, MAX_SUMMARY, MAX_COMMENT = 140, 65535, 65536
#: stop looking for the marker after this many comments
MAX_COMMENTS_SCANNED = 1000


def clip(text: str, limit: int, tail: str = "…") -> str:
    return text if len(text) <= limit else text[: limit - len(tail)] + tail


class GitHubReporter:
    """Posts ``status``, ``check_run``, ``comment`` and ``dispatch`` entries."""

    name = "github"
    kinds = frozenset({"status", "check_run", "comment", "dispatch"})

    def __init__(self, client: GitHubClient, store: Store) -> None:
        self.client = client
        self.store = store

    def bucket(self, entry: OutboxItem) -> str:
        """The token or installation a rate limit applies to: ``installation:<id>`` or
        ``token``."""
        installation = entry.payload.get("installation")
        return "token" if installation is None else f"installation:{installation}"

    def classify(self, exc: BaseException, at: datetime | None = None) -> Failure:
        return classify_failure(exc, at)

    def deliver(self, entry: OutboxItem) -> None:
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

    # what the reporter created on GitHub (table ``github_objects``), kept across senders
    def _known_id(self, repository: str, kind: str, key: str) -> int | None:
        with self.store.reading("reading a GitHub object id") as r:
            return r.outbox.get_object(repository, kind, key)

    def _remember_id(self, repository: str, kind: str, key: str, object_id: int) -> None:
        with self.store.transaction("recording a GitHub object id") as tx:
            tx.outbox.set_object(repository, kind, key, object_id)

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
        known = self._known_id(repository, "check_run", key)
        if known is None and resumed:  # created by a sender that died before keeping its id
            known = _find_check_run(repo, p["sha"], p["name"], p.get("external_id") or key)
            if known is not None:
                self._remember_id(repository, "check_run", key, known)
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
        self._remember_id(repository, "check_run", key, run.id)

    def _comment(self, repo: Repository, repository: str, p: dict[str, Any]) -> None:
        body = clip(p["body"], MAX_COMMENT)
        number, marker = int(p["pr"]), p["marker"]
        # one comment per slot: the PR's report (the number) or another of ours with
        # its own marker (a culprit comment: ``culprit:<pr>``)
        key = str(p.get("slot") or number)
        known = self._known_id(repository, "comment", key)
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
                self._remember_id(repository, "comment", key, found)
                return
        created = issue.create_comment(body)
        failpoints.hit("sender.created.comment")
        self._remember_id(repository, "comment", key, created.id)


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
