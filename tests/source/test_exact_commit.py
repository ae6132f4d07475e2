"""``prepare_source(sha=…)``: the exact commit, never what the ref points at now.

The service queues a pull request's head SHA when it sees it (and when an untrusted
author's change is approved); by the time a worker gets to it the author may have pushed
again. Running ``refs/pull/N/head`` as it is then would run unapproved code under the
approved commit's name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.errors import CommitGone, SourceError
from harness.source import Checkout
from tests.gitrepos import UpstreamRepo

Prepare = Callable[..., Checkout]


def test_a_push_after_the_sha_was_queued_does_not_change_what_runs(
    repo: UpstreamRepo, prepare: Prepare
) -> None:
    approved, _ = repo.pull_request(9, {"feature.txt": "approved\n"})
    later, _ = repo.pull_request(9, {"feature.txt": "pushed after approval\n"})
    assert repo.rev_parse("refs/pull/9/head") == later
    co = prepare(repo, "refs/pull/9/head", sha=approved)
    assert co.sha == approved
    assert (co.path / "feature.txt").read_text() == "approved\n"


def test_a_branch_that_moved_still_gives_the_pushed_commit(
    repo: UpstreamRepo, prepare: Prepare
) -> None:
    pushed = repo.commit({"a.txt": "1\n"}, branch="main")
    repo.commit({"a.txt": "2\n"}, branch="main")
    co = prepare(repo, "main", sha=pushed)
    assert co.sha == pushed
    assert co.on_default_branch


def test_a_commit_force_pushed_away_is_commit_gone(
    repo: UpstreamRepo, prepare: Prepare, tmp_path: Path
) -> None:
    gone, _ = repo.pull_request(9, {"feature.txt": "first try\n"})
    # the author force-pushes a new history; GitHub forgets the old commit
    replacement = repo.commit({"feature.txt": "second try\n"}, branch="rewrite")
    repo.bare_git("update-ref", "refs/pull/9/head", replacement)
    repo.delete_ref("rewrite")
    repo.bare_git("update-ref", "-d", "refs/pull/9/merge")
    repo.bare_git("reflog", "expire", "--expire=now", "--all")
    repo.bare_git("gc", "-q", "--prune=now")
    with pytest.raises(CommitGone, match=f"{gone[:12]} is no longer in"):
        prepare(repo, "refs/pull/9/head", sha=gone)
    assert not (tmp_path / "work" / "wt").exists()


def test_an_unreachable_remote_is_fine_when_the_commit_is_here(
    repo: UpstreamRepo, prepare: Prepare, tmp_path: Path
) -> None:
    head, _ = repo.pull_request(9, {"feature.txt": "x\n"})
    prepare(repo, "refs/pull/9/head", name="first")  # the mirror has it now
    repo.delete_ref("refs/pull/9/head")  # the pull request's ref is gone upstream
    co = prepare(repo, "refs/pull/9/head", name="again", sha=head)
    assert co.sha == head


def test_a_sha_must_be_a_full_commit_id(repo: UpstreamRepo, prepare: Prepare) -> None:
    with pytest.raises(SourceError, match="not a full commit id"):
        prepare(repo, "main", sha="--upload-pack=touch /tmp/x")
