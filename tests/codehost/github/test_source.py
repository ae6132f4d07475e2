"""The GitHub source against Prism serving GitHub's OpenAPI description: every call is
one the spec accepts, and each answer is read where GitHub puts it."""

from __future__ import annotations

from typing import Any

import pytest
from github import GithubException

from harness.codehost import Source
from harness.codehost.github.client import Credentials, GitHubClient, classify_failure
from harness.codehost.github.source import GitHubSource
from tests.github_standin import GitHubStandIn

REPO = "octocat/Hello-World"


def source(gh: GitHubStandIn) -> GitHubSource:
    creds = Credentials(api_url=gh.url, token="t0ken", write_interval_s=0)
    return GitHubSource(GitHubClient(creds, timeout=5))


def paths(gh: GitHubStandIn) -> list[tuple[str, str, int]]:
    with gh.recorder.lock:
        return [(r.method, r.path.partition("?")[0], r.status) for r in gh.recorder.requests]


def example(gh: GitHubStandIn, path: str) -> Any:
    """What the stand-in answers at ``path`` (the spec's example)."""
    import requests

    return requests.get(f"{gh.url}{path}", headers={"Authorization": "token t"}, timeout=10).json()


def test_refs_heads_merge_bases_and_permissions(gh: GitHubStandIn) -> None:
    src = source(gh)
    assert isinstance(src, Source)
    sha = src.ref_commit(REPO, "refs/heads/main")
    head = src.pull_request_head(REPO, 1347)
    base = src.merge_base(REPO, "main", "feature")
    permission = src.permission(REPO, "octocat")
    assert paths(gh) == [
        ("GET", f"/repos/{REPO}/commits/main", 200),
        ("GET", f"/repos/{REPO}/pulls/1347", 200),
        ("GET", f"/repos/{REPO}/compare/main...feature", 200),
        ("GET", f"/repos/{REPO}/collaborators/octocat/permission", 200),
    ]
    assert sha == example(gh, f"/repos/{REPO}/commits/main")["sha"]
    assert head == example(gh, f"/repos/{REPO}/pulls/1347")["head"]["sha"]
    compared = example(gh, f"/repos/{REPO}/compare/main...feature")
    assert base == compared["merge_base_commit"]["sha"]
    assert permission == "admin"


def test_a_failed_lookup_is_classified_like_a_report(gh: GitHubStandIn) -> None:
    gh.recorder.fail_next("GET", r"/pulls/", 503, message="Service Unavailable")
    with pytest.raises(GithubException) as raised:
        source(gh).pull_request_head(REPO, 1347)
    failure = classify_failure(raised.value)
    assert failure.retry
    assert failure.message.startswith("HTTP 503")
