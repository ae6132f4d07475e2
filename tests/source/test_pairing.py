"""Companion branch pairing against real git repositories (ls-remote, no clone)."""

from __future__ import annotations

from pathlib import Path

from harness.config.suite import Companion
from harness.source.pairing import PullRequestBranch, companion_ref, fork_url
from tests.gitrepos import UpstreamRepo


def companion(repo: UpstreamRepo, **over: object) -> Companion:
    return Companion.model_validate(
        {"name": "extra", "repo": "example/extra", "url": repo.url, **over}
    )


def test_pairs_with_the_same_branch_when_the_companion_has_it(tmp_path: Path) -> None:
    extra = UpstreamRepo(tmp_path / "extra", name="extra")
    extra.commit({"data.txt": "main\n"})
    extra.commit({"data.txt": "paired\n"}, branch="fix-resize")
    chosen = companion_ref(companion(extra), PullRequestBranch("fix-resize", owner="alice"))
    assert (chosen.url, chosen.ref) == (extra.url, "fix-resize")
    assert chosen.why == "branch fix-resize"


def test_falls_back_to_the_default_branch(tmp_path: Path) -> None:
    extra = UpstreamRepo(tmp_path / "extra", name="extra")
    extra.commit({"data.txt": "main\n"})
    chosen = companion_ref(companion(extra), PullRequestBranch("nope"))
    assert chosen.ref is None
    assert chosen.why == "default branch main (no branch nope to pair with)"
    assert companion_ref(companion(extra), None).why == "default branch main"
    unpaired = companion(extra, pair_branch=False)
    extra.commit({"data.txt": "x\n"}, branch="nope")
    assert companion_ref(unpaired, PullRequestBranch("nope")).ref is None


def test_fork_url_only_for_github_hosted_companions(tmp_path: Path) -> None:
    gh = Companion.model_validate({"name": "opencv", "repo": "opencv/opencv"})
    assert fork_url(gh, "alice") == "https://github.com/alice/opencv.git"
    local = UpstreamRepo(tmp_path / "x", name="x")
    assert fork_url(companion(local), "alice") is None
