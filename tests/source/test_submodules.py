"""Submodules: recursive checkout, URLs that change between commits, failures, release."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import SourceError
from harness.source import release_checkout
from tests.gitrepos import UpstreamRepo
from tests.source.conftest import Prepare
from tests.source.util import git_out, mirror_of


@pytest.fixture
def nested(tmp_path: Path) -> tuple[UpstreamRepo, UpstreamRepo, UpstreamRepo]:
    """top → third_party/lib → vendor/leaf, all local fixture repositories."""
    root = tmp_path / "remote"
    leaf = UpstreamRepo(root, "leaf")
    leaf.commit({"leaf.txt": "leaf\n"}, "leaf")
    lib = UpstreamRepo(root, "lib")
    lib.commit({"lib.txt": "library\n"}, "lib")
    lib.add_submodule("vendor/leaf", leaf)
    top = UpstreamRepo(root, "top")
    top.commit({"README": "top\n"}, "init")
    top.add_submodule("third_party/lib", lib)
    return top, lib, leaf


def test_submodules_are_checked_out_recursively(
    nested: tuple[UpstreamRepo, UpstreamRepo, UpstreamRepo], prepare: Prepare, cache: Path
) -> None:
    top, lib, _leaf = nested
    lines: list[str] = []
    c = prepare(top, progress=lines.append)
    assert (c.path / "third_party/lib/lib.txt").read_text() == "library\n"
    assert (c.path / "third_party/lib/vendor/leaf/leaf.txt").read_text() == "leaf\n"
    assert git_out("rev-parse", "HEAD", cwd=c.path / "third_party/lib") == lib.rev_parse("main")
    assert c.sha == top.rev_parse("main")
    assert "updating submodules" in lines
    release_checkout(c, cache)
    assert not c.path.exists()
    listed = git_out("--git-dir", str(mirror_of(cache)), "worktree", "list", "--porcelain")
    assert str(c.path) not in listed


def test_submodule_url_changes_between_commits(
    nested: tuple[UpstreamRepo, UpstreamRepo, UpstreamRepo],
    prepare: Prepare,
    tmp_path: Path,
) -> None:
    top, _lib, _leaf = nested
    old = top.rev_parse("main")
    other = UpstreamRepo(tmp_path / "remote", "other-lib")
    other.commit({"lib.txt": "other library\n"}, "other")
    top.commit(
        {
            ".gitmodules": f'[submodule "third_party/lib"]\n\tpath = third_party/lib\n'
            f"\turl = {other.url}\n"
        },
        "move the submodule",
    )
    top.git("update-index", "--cacheinfo", f"160000,{other.rev_parse('main')},third_party/lib")
    top.git("commit", "-q", "-m", "bump")
    top.git("push", "-q", "origin", "HEAD:refs/heads/main")
    # Both worktrees share the mirror's config: each must use its own commit's URL.
    a = prepare(top, old, "old")
    b = prepare(top, "main", "new")
    c = prepare(top, old, "old-again")
    assert (a.path / "third_party/lib/lib.txt").read_text() == "library\n"
    assert (b.path / "third_party/lib/lib.txt").read_text() == "other library\n"
    assert (c.path / "third_party/lib/lib.txt").read_text() == "library\n"


def test_broken_submodule_is_named(
    nested: tuple[UpstreamRepo, UpstreamRepo, UpstreamRepo],
    prepare: Prepare,
    tmp_path: Path,
) -> None:
    top, _lib, _leaf = nested
    top.commit(
        {
            ".gitmodules": '[submodule "third_party/lib"]\n\tpath = third_party/lib\n'
            f"\turl = {tmp_path / 'gone.git'}\n"
        },
        "point the submodule nowhere",
    )
    with pytest.raises(SourceError) as info:
        prepare(top)
    text = str(info.value)
    assert text.startswith(f"submodule third_party/lib of {top.url} at ")
    assert "command: git submodule update --init --recursive" in text
    assert "reachable" in str(info.value.hint)
    # The half-made worktree is gone and the work dir can be used again.
    assert not (tmp_path / "work" / "wt").exists()
    listed = git_out("--git-dir", str(mirror_of(tmp_path / "cache")), "worktree", "list")
    assert str(tmp_path / "work" / "wt") not in listed


def test_file_submodules_of_a_remote_upstream_are_refused(
    nested: tuple[UpstreamRepo, UpstreamRepo, UpstreamRepo], tmp_path: Path
) -> None:
    # protocol.file.allow=always is set only for local upstreams (CVE-2022-39253); drive
    # the submodule step directly with a remote-looking upstream to check it.
    from harness.source.checkout import _update_submodules
    from harness.source.git import Git

    top, _lib, _leaf = nested
    wt = tmp_path / "plain-clone"
    git_out("clone", "-q", top.url, str(wt))
    with pytest.raises(SourceError, match="submodule third_party/lib") as info:
        _update_submodules(Git(60), wt, "https://example.invalid/top", "0" * 40, lambda _: None)
    assert "allowed only when the upstream itself is local" in str(info.value.hint)
