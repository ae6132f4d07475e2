"""Which ref of a companion repository goes with a pull request (branch pairing).

OpenCV's CI builds a PR to opencv_contrib with the branch *of the same name* from the PR
author's fork of opencv, when that fork has one, so that changes spanning both
repositories are tested together; otherwise with opencv's default branch. The harness
does the same for every companion with ``pair_branch: true``: look for the PR's head
branch in the author's fork of the companion, then in the companion itself, else use the
companion's default branch. Lookups are ``git ls-remote`` calls (no clone).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.config.suite import Companion
from harness.source.git import Git, default_git_timeout, mask_url


@dataclass(frozen=True, slots=True)
class PullRequestBranch:
    """The head branch of a pull request, and whose fork it lives in."""

    branch: str
    owner: str | None = None  # the fork's owner; None when the branch is in the upstream


@dataclass(frozen=True, slots=True)
class CompanionRef:
    url: str
    ref: str | None  # None: the companion's default branch
    why: str


def fork_url(companion: Companion, owner: str) -> str | None:
    """The companion's repository in ``owner``'s account (GitHub-hosted companions only)."""
    if companion.url is not None:
        return None
    name = companion.repo.split("/", 1)[1]
    return f"https://github.com/{owner}/{name}.git"


def has_branch(url: str, branch: str, git: Git | None = None) -> bool:
    git = git or Git(min(default_git_timeout(), 60.0))
    proc = git(
        "ls-remote",
        "--heads",
        url,
        f"refs/heads/{branch}",
        check=False,
        what=f"cannot list branches of {mask_url(url)}",
    )
    return proc.returncode == 0 and bool(proc.stdout.strip())


def companion_ref(
    companion: Companion, pr: PullRequestBranch | None, git: Git | None = None
) -> CompanionRef:
    """The URL and ref to check out ``companion`` at for a run of ``pr`` (or of a branch)."""
    default = CompanionRef(companion.clone_url, None, f"default branch {companion.default_branch}")
    if pr is None or not companion.pair_branch:
        return default
    fork = fork_url(companion, pr.owner) if pr.owner is not None else None
    if fork is not None and has_branch(fork, pr.branch, git):
        return CompanionRef(fork, pr.branch, f"branch {pr.branch} of {pr.owner}'s fork")
    if has_branch(companion.clone_url, pr.branch, git):
        return CompanionRef(companion.clone_url, pr.branch, f"branch {pr.branch}")
    return CompanionRef(
        companion.clone_url,
        None,
        f"default branch {companion.default_branch} (no branch {pr.branch} to pair with)",
    )
