"""What GitHub knows about a repository (:class:`harness.codehost.Source`): a ref's
commit, a pull request's head, a merge base, a user's permission.

The service reads commits from its own mirrors (:mod:`harness.source`); this asks GitHub
instead, for what a mirror cannot say (permissions) or before a mirror is fetched.
Failures raise PyGithub's exceptions; :func:`~harness.codehost.github.client.
classify_failure` says what they mean.
"""

from __future__ import annotations

from harness.codehost.github.client import GitHubClient


class GitHubSource:
    """Read-only calls through a :class:`GitHubClient` (an installation's, if given)."""

    name = "github"

    def __init__(self, client: GitHubClient, installation_id: int | None = None) -> None:
        self.client = client
        self.installation_id = installation_id

    def ref_commit(self, repository: str, ref: str) -> str:
        """``GET /repos/{repo}/commits/{ref}``: a branch, a tag or a SHA; a full
        ``refs/heads/`` or ``refs/tags/`` name is shortened."""
        name = ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
        repo = self.client.repo(repository, self.installation_id)
        # a request for sure (PyGithub's lazy get_commit would echo ``name`` back)
        _headers, data = repo.requester.requestJsonAndCheck("GET", f"{repo.url}/commits/{name}")
        return str(data["sha"])

    def pull_request_head(self, repository: str, number: int) -> str:
        pull = self.client.repo(repository, self.installation_id).get_pull(number)
        return str(pull.head.sha)

    def merge_base(self, repository: str, base: str, head: str) -> str:
        comparison = self.client.repo(repository, self.installation_id).compare(base, head)
        return str(comparison.merge_base_commit.sha)

    def permission(self, repository: str, login: str) -> str:
        repo = self.client.repo(repository, self.installation_id)
        return str(repo.get_collaborator_permission(login))
