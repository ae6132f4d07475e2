"""The fixture upstream builder other tests rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gitrepos import GitFixtureError, UpstreamRepo
from tests.source.util import build_demo


def test_builds_are_deterministic(tmp_path: Path) -> None:
    a = build_demo(UpstreamRepo(tmp_path / "a", "demo"))
    b = build_demo(UpstreamRepo(tmp_path / "b", "demo"))
    assert a.rev_parse("main") == b.rev_parse("main")
    assert a.pull_request(1, {"x": "1"}) == b.pull_request(1, {"x": "1"})
    log = a.bare_git("log", "-1", "--format=%an <%ae>|%cn|%aI", "main")
    assert log.startswith("Fixture Author <author@example.invalid>|Fixture Committer|2026-01-01T")


def test_commit_writes_deletes_and_branches(tmp_path: Path) -> None:
    repo = UpstreamRepo(tmp_path, default_branch="trunk")
    assert repo.url == (tmp_path / "upstream.git").as_uri()
    first = repo.commit({"a.txt": "a\n", "dir/b.bin": b"\x00\x01"}, "first")
    assert repo.bare_git("ls-tree", "-r", "--name-only", first).split() == ["a.txt", "dir/b.bin"]
    second = repo.commit({"a.txt": None, "c.txt": "c\n"}, "second")
    assert repo.bare_git("ls-tree", "-r", "--name-only", second).split() == ["c.txt", "dir/b.bin"]
    feature = repo.commit({"f.txt": "f\n"}, "feature", branch="feature")  # new: from trunk
    assert repo.bare_git("rev-parse", "feature~1") == second
    assert repo.rev_parse("trunk") == second
    assert repo.rev_parse("HEAD") == feature
    repo.branch("old", from_ref=first)
    assert repo.rev_parse("old") == first
    assert repo.commit({"o.txt": "o\n"}, branch="old") != first
    assert repo.bare_git("rev-parse", "old~1") == first


def test_tags(tmp_path: Path) -> None:
    repo = UpstreamRepo(tmp_path)
    one = repo.commit({"v": "1"})
    repo.tag("v1")
    repo.tag("v1-annotated", message="release 1")
    two = repo.commit({"v": "2"})
    assert repo.rev_parse("v1") == repo.rev_parse("v1-annotated") == one
    assert repo.bare_git("cat-file", "-t", "refs/tags/v1-annotated") == "tag"
    repo.tag("v1", "main")  # moves
    assert repo.rev_parse("v1") == two
    repo.delete_ref("v1")
    assert not repo.has_ref("refs/tags/v1")


def test_pull_request_refs(tmp_path: Path) -> None:
    repo = UpstreamRepo(tmp_path)
    base = repo.commit({"a": "base\n"})
    head, merge = repo.pull_request(4, {"b": "pr\n"})
    assert repo.rev_parse("refs/pull/4/head") == head
    assert repo.rev_parse("refs/pull/4/merge") == merge
    assert repo.bare_git("rev-list", "--parents", "-n1", merge).split() == [merge, base, head]
    assert repo.rev_parse("main") == base  # the base branch is untouched
    assert repo.rev_parse("HEAD") == base
    # Another push to the PR builds on its head; the merge is redone against the new base.
    new_base = repo.commit({"a": "base 2\n"})
    head2, merge2 = repo.pull_request(4, {"c": "more\n"})
    assert repo.bare_git("rev-parse", f"{head2}~1") == head
    assert repo.bare_git("rev-list", "--parents", "-n1", merge2).split() == [
        merge2,
        new_base,
        head2,
    ]


def test_errors_are_reported(tmp_path: Path) -> None:
    repo = UpstreamRepo(tmp_path)
    with pytest.raises(GitFixtureError, match="rev-parse"):
        repo.rev_parse("nope")


def test_copy_is_independent(tmp_path: Path) -> None:
    original = build_demo(UpstreamRepo(tmp_path / "a", "demo"))
    copy = original.copy_to(tmp_path / "b")
    assert copy.path == tmp_path / "b" / "demo.git"
    assert copy.rev_parse("dev") == original.rev_parse("dev")
    new = copy.commit({"version.txt": "3\n"}, "v3")
    assert copy.rev_parse("main") == new
    assert original.rev_parse("main") != new
    assert original.commit({"version.txt": "3\n"}, "v3") == new  # same clock, same SHA
