"""Local directories: in place without a ref, through a mirror with one."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import SourceError
from harness.source import release_checkout, resolve_source_kind
from tests.gitrepos import UpstreamRepo
from tests.source.conftest import Prepare
from tests.source.util import git_out, read


@pytest.fixture
def clone(repo: UpstreamRepo, tmp_path: Path) -> Path:
    path = tmp_path / "clone"
    git_out("clone", "-q", repo.url, str(path))
    return path


def test_git_work_tree_in_place(
    repo: UpstreamRepo, clone: Path, prepare: Prepare, tmp_path: Path
) -> None:
    c = prepare(str(clone))
    assert (c.path, c.sha, c.ref, c.url) == (clone, repo.rev_parse("main"), None, str(clone))
    assert (c.in_place, c.dirty) == (True, False)
    assert not (tmp_path / "cache").exists()  # no mirror, no worktree
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize(
    "change",
    [
        lambda d: (d / "new.txt").write_text("untracked"),
        lambda d: (d / "version.txt").write_text("edited"),
        lambda d: (d / "version.txt").unlink(),
    ],
    ids=["untracked", "modified", "deleted"],
)
def test_dirty_work_tree(clone: Path, prepare: Prepare, change: object) -> None:
    change(clone)  # type: ignore[operator]
    c = prepare(str(clone))
    assert (c.in_place, c.dirty) == (True, True)


def test_ignored_files_are_not_dirty(repo: UpstreamRepo, prepare: Prepare, tmp_path: Path) -> None:
    repo.commit({".gitignore": "build/\n"}, "ignore build")
    clone = tmp_path / "c2"
    git_out("clone", "-q", repo.url, str(clone))
    (clone / "build").mkdir()
    (clone / "build" / "out.o").write_text("x")
    assert not prepare(str(clone)).dirty


def test_subdirectory_of_a_work_tree(repo: UpstreamRepo, prepare: Prepare, tmp_path: Path) -> None:
    repo.commit({"pkg/a.py": "a\n"}, "pkg")
    clone = tmp_path / "c3"
    git_out("clone", "-q", repo.url, str(clone))
    (clone / "elsewhere.txt").write_text("x")  # outside the directory used
    c = prepare(str(clone / "pkg"))
    assert (c.path, c.sha, c.dirty) == (clone / "pkg", repo.rev_parse("main"), False)


def test_plain_directory_has_no_sha(prepare: Prepare, tmp_path: Path) -> None:
    d = tmp_path / "plain"
    d.mkdir()
    (d / "setup.py").write_text("")
    c = prepare(str(d))
    assert (c.path, c.sha, c.in_place, c.dirty) == (d, None, True, False)


def test_relative_path(
    clone: Path, prepare: Prepare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    c = prepare("clone")
    assert (c.path, c.in_place) == (clone, True)


def test_missing_directory(prepare: Prepare, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        prepare(str(tmp_path / "nope"))
    with pytest.raises(SourceError, match="does not exist"):
        prepare(str(tmp_path / "nope"), "main")


def test_in_place_release_is_a_no_op(clone: Path, prepare: Prepare, tmp_path: Path) -> None:
    c = prepare(str(clone))
    release_checkout(c, tmp_path / "cache")
    assert (clone / "version.txt").is_file()


def test_local_repo_with_a_ref_goes_through_a_mirror(
    repo: UpstreamRepo, clone: Path, prepare: Prepare, tmp_path: Path
) -> None:
    (clone / "version.txt").write_text("local edit, not committed")
    c = prepare(str(clone), "v1.0")
    assert (c.in_place, c.sha, read(c)) == (False, repo.rev_parse("v1.0"), "1")
    assert c.path == tmp_path / "work" / "wt"
    (mirror,) = (tmp_path / "cache" / "mirrors").glob("*.git")
    assert "+clone-" in mirror.name


def test_local_bare_repo_without_ref_goes_through_a_mirror(
    repo: UpstreamRepo, prepare: Prepare
) -> None:
    c = prepare(str(repo.path))  # /path/to/demo.git
    assert (c.in_place, c.sha) == (False, repo.rev_parse("main"))


def test_resolve_source_kind(repo: UpstreamRepo, clone: Path, tmp_path: Path) -> None:
    assert resolve_source_kind(str(clone), None) == "in_place"
    assert resolve_source_kind(str(tmp_path), None) == "in_place"
    assert resolve_source_kind(str(clone), "main") == "mirror"
    assert resolve_source_kind(str(repo.path), None) == "mirror"
    assert resolve_source_kind(repo.url, None) == "mirror"
    assert resolve_source_kind("https://github.com/a/b", None) == "mirror"
    assert resolve_source_kind("git@github.com:a/b.git", None) == "mirror"
    assert resolve_source_kind("ssh://git@host:2222/a/b", "v1") == "mirror"
    with pytest.raises(SourceError, match="does not exist"):
        resolve_source_kind(str(tmp_path / "missing"), None)
    with pytest.raises(SourceError, match="empty"):
        resolve_source_kind("  ", None)
    with pytest.raises(SourceError, match="not a git URL"):
        resolve_source_kind("--upload-pack=touch /tmp/x:y", None)
