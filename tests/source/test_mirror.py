"""The mirror cache: reuse, incremental fetches, pruning, worktrees, locking, release."""

from __future__ import annotations

import fcntl
import shutil
import threading
import time
from pathlib import Path

import pytest

from harness.errors import SourceError
from harness.source import mask_url, mirror_path, mirror_slug, release_checkout
from tests.gitrepos import UpstreamRepo
from tests.source.conftest import Prepare
from tests.source.util import git_out, mirror_of, read


def object_count(mirror: Path) -> dict[str, str]:
    stats = dict(
        line.split(": ")
        for line in git_out("--git-dir", str(mirror), "count-objects", "-v").splitlines()
    )
    return {k: stats[k] for k in ("count", "in-pack", "packs")}


def test_mirror_layout(repo: UpstreamRepo, prepare: Prepare, cache: Path) -> None:
    c = prepare(repo)
    mirror = mirror_path(repo.url, cache)
    assert mirror == mirror_of(cache)
    assert mirror.name == f"{mirror_slug(repo.url)}.git"
    assert "+remote+demo-" in mirror.name  # the URL's last parts + a hash
    assert mirror.with_suffix(".lock").is_file()
    assert git_out("--git-dir", str(mirror), "rev-parse", "--is-bare-repository") == "true"
    assert git_out("--git-dir", str(mirror), "config", "remote.origin.url") == repo.url
    assert (c.path / ".git").is_file()  # a linked worktree of the mirror


def test_mirror_is_reused_and_sees_new_commits(
    repo: UpstreamRepo, prepare: Prepare, cache: Path
) -> None:
    old = repo.rev_parse("main")
    first = prepare(repo, None, "one")
    mirror = mirror_of(cache)
    new = repo.commit({"version.txt": "3\n"}, "v3")
    second = prepare(repo, None, "two")
    assert (first.sha, second.sha, read(second)) == (old, new, "3")
    assert mirror_of(cache) == mirror
    assert read(first) == "2"  # the earlier worktree is untouched


def test_fetch_is_incremental(repo: UpstreamRepo, prepare: Prepare, cache: Path) -> None:
    prepare(repo, None, "a")
    mirror = mirror_of(cache)
    before = object_count(mirror)
    prepare(repo, "dev", "b")  # unchanged remote: nothing downloaded
    assert object_count(mirror) == before
    repo.commit({"new.txt": "x\n"}, "one more")
    prepare(repo, None, "c")
    after = object_count(mirror)
    added = (
        int(after["count"]) + int(after["in-pack"]) - int(before["count"]) - int(before["in-pack"])
    )
    assert added == 3  # the new commit, its tree and its blob; nothing re-downloaded


def test_deleted_branches_are_pruned_and_moved_tags_follow(
    repo: UpstreamRepo, prepare: Prepare
) -> None:
    assert read(prepare(repo, "dev", "a")) == "dev"
    repo.delete_ref("dev")
    repo.tag("v1.0", "main")  # moved
    with pytest.raises(SourceError, match="ref 'dev' not found"):
        prepare(repo, "dev", "b")
    assert read(prepare(repo, "v1.0", "c")) == "2"


def test_progress_lines(repo: UpstreamRepo, prepare: Prepare) -> None:
    lines: list[str] = []
    c = prepare(repo, "dev", progress=lines.append)
    assert lines[0].startswith("creating mirror ")
    assert lines[1] == f"fetching {repo.url}"
    assert lines[2] == f"checking out {str(c.sha)[:12]} (dev)"
    lines.clear()
    prepare(repo, None, "again", progress=lines.append)
    assert lines[0] == f"fetching {repo.url}"
    assert lines[1].endswith("(main)")


def test_work_dir_may_exist_empty_but_not_full(
    repo: UpstreamRepo, prepare: Prepare, tmp_path: Path
) -> None:
    (tmp_path / "work" / "empty").mkdir(parents=True)
    assert read(prepare(repo, None, "empty")) == "2"
    (tmp_path / "work" / "full").mkdir()
    (tmp_path / "work" / "full" / "keep.txt").write_text("mine")
    with pytest.raises(SourceError, match="exists and is not empty"):
        prepare(repo, None, "full")
    assert (tmp_path / "work" / "full" / "keep.txt").read_text() == "mine"


def test_release_removes_and_prunes_the_worktree(
    repo: UpstreamRepo, prepare: Prepare, cache: Path
) -> None:
    c = prepare(repo)
    (c.path / "build-output.bin").write_text("junk")  # untracked files do not stop it
    release_checkout(c, cache)
    assert not c.path.exists()
    listed = git_out("--git-dir", str(mirror_of(cache)), "worktree", "list", "--porcelain")
    assert str(c.path) not in listed
    release_checkout(c, cache)  # twice is harmless
    again = prepare(repo)  # the same work dir can be used again
    assert again.path == c.path
    assert read(again) == "2"


def test_release_after_the_worktree_was_deleted(
    repo: UpstreamRepo, prepare: Prepare, cache: Path
) -> None:
    c = prepare(repo)
    shutil.rmtree(c.path)
    release_checkout(c, cache)
    listed = git_out("--git-dir", str(mirror_of(cache)), "worktree", "list", "--porcelain")
    assert str(c.path) not in listed


def test_concurrent_prepares_share_one_mirror(
    repo: UpstreamRepo, prepare: Prepare, cache: Path
) -> None:
    results: dict[int, str | None] = {}
    errors: list[BaseException] = []

    def go(i: int) -> None:
        try:
            results[i] = prepare(repo, ["dev", None, "v1.0", "pr/3"][i % 4], f"t{i}").sha
        except BaseException as exc:
            errors.append(exc)

    repo.pull_request(3, {"pr.txt": "3\n"})
    threads = [threading.Thread(target=go, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    expected = [repo.rev_parse(r) for r in ("dev", "main", "v1.0", "refs/pull/3/head")]
    assert [results[i] for i in range(6)] == [expected[i % 4] for i in range(6)]
    assert len(list((cache / "mirrors").glob("*.git"))) == 1


def test_prepare_waits_for_the_mirror_lock(
    repo: UpstreamRepo, prepare: Prepare, cache: Path
) -> None:
    lock = mirror_path(repo.url, cache).with_suffix(".lock")
    lock.parent.mkdir(parents=True)
    done = threading.Event()

    def run() -> None:
        prepare(repo)
        done.set()

    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another harness process fetching
        t = threading.Thread(target=run)
        t.start()
        time.sleep(0.5)
        assert not done.is_set()
        fcntl.flock(held, fcntl.LOCK_UN)
    t.join(timeout=30)
    assert done.is_set()


def test_slugs_and_masking() -> None:
    slug = mirror_slug("https://github.com/huggingface/transformers.git")
    assert slug.startswith("github.com+huggingface+transformers-")
    assert len(slug.rsplit("-", 1)[1]) == 8
    # The same upstream however spelled (credentials, .git, trailing slash) → one mirror.
    assert mirror_slug("https://x:tok@github.com/a/b.git/") == mirror_slug("https://github.com/a/b")
    assert mirror_slug("https://github.com/a/b") != mirror_slug("https://gitlab.com/a/b")
    assert mirror_slug("git@github.com:a/b.git").startswith("github.com+a+b-")
    assert "tok" not in mirror_slug("https://tok@github.com/a/b")
    assert mask_url("https://x:tok@github.com/a/b") == "https://***@github.com/a/b"
    assert mask_url("fatal: https://ghp_abc@github.com/a/b") == "fatal: https://***@github.com/a/b"
    assert mask_url("ssh://git@github.com/a/b") == "ssh://git@github.com/a/b"
    assert mask_url("ssh://me:pw@host/a") == "ssh://***@host/a"
