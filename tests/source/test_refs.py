"""Which commit a ref checks out: branches, tags, SHAs, pull-request refs, the default."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import SourceError
from harness.source import normalize_pr_ref
from tests.gitrepos import UpstreamRepo
from tests.source.conftest import Prepare
from tests.source.util import build_demo, git_out, mirror_of, read


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> UpstreamRepo:
    """A read-only demo upstream with an annotated tag, two PRs and a hidden commit."""
    repo = build_demo(UpstreamRepo(tmp_path_factory.mktemp("remote"), "demo"))
    repo.tag("v2.0", "main", message="release 2.0")
    repo.pull_request(5, {"pr.txt": "from PR 5\n"})
    repo.pull_request(6, {"pr.txt": "from PR 6\n", "version.txt": "pr6\n"}, base="dev")
    # A commit no branch or tag reaches (like a force-pushed-away commit on GitHub).
    repo.commit({"version.txt": "hidden\n"}, "hidden", branch="tmp")
    repo.bare_git("update-ref", "refs/hidden/keep", repo.rev_parse("tmp"))
    repo.delete_ref("tmp")
    return repo


@pytest.mark.parametrize(
    ("ref", "rev", "expected"),
    [
        (None, "main", "2"),
        ("main", "main", "2"),
        ("dev", "dev", "dev"),
        ("refs/heads/dev", "dev", "dev"),
        ("origin/dev", "dev", "dev"),
        ("v1.0", "v1.0", "1"),
        ("v2.0", "main", "2"),  # annotated tag: peeled to its commit
        ("refs/tags/v1.0", "v1.0", "1"),
        ("HEAD", "main", "2"),  # the remote's default branch
        ("dev~1", "main", "2"),
    ],
)
def test_branches_tags_and_expressions(
    upstream: UpstreamRepo, prepare: Prepare, ref: str | None, rev: str, expected: str
) -> None:
    c = prepare(upstream, ref)
    assert read(c) == expected
    assert c.sha == upstream.rev_parse(rev)
    assert git_out("rev-parse", "HEAD", cwd=c.path) == c.sha
    assert (c.ref, c.url, c.in_place, c.dirty) == (ref, upstream.url, False, False)


def test_full_and_short_sha(upstream: UpstreamRepo, prepare: Prepare) -> None:
    sha = upstream.rev_parse("v1.0")
    assert prepare(upstream, sha, "full").sha == sha
    assert prepare(upstream, sha[:8], "short").sha == sha
    assert read(prepare(upstream, sha[:12], "short12")) == "1"


def test_sha_outside_branches_and_tags_is_fetched_by_sha(
    upstream: UpstreamRepo, prepare: Prepare
) -> None:
    hidden = upstream.rev_parse("refs/hidden/keep")
    c = prepare(upstream, hidden)
    assert (c.sha, read(c)) == (hidden, "hidden")


def test_unknown_full_sha(upstream: UpstreamRepo, prepare: Prepare) -> None:
    with pytest.raises(SourceError, match=r"commit 0{40} not found in file://") as info:
        prepare(upstream, "0" * 40)
    assert "command: git --git-dir" in str(info.value)


def test_unknown_short_sha(upstream: UpstreamRepo, prepare: Prepare) -> None:
    hidden = upstream.rev_parse("refs/hidden/keep")
    with pytest.raises(SourceError, match=f"ref '{hidden[:10]}' not found") as info:
        prepare(upstream, hidden[:10])  # not reachable from branches or tags
    assert "give the full SHA" in str(info.value.hint)


@pytest.mark.parametrize("form", ["refs/pull/5/head", "pull/5/head", "pr/5", "pull/5"])
def test_pull_request_head(upstream: UpstreamRepo, prepare: Prepare, form: str) -> None:
    c = prepare(upstream, form)
    assert c.sha == upstream.rev_parse("refs/pull/5/head")
    assert read(c, "pr.txt") == "from PR 5"
    assert read(c) == "2"
    assert c.ref == form


@pytest.mark.parametrize("form", ["refs/pull/6/merge", "pr/6/merge", "pull/6/merge"])
def test_pull_request_merge(upstream: UpstreamRepo, prepare: Prepare, form: str) -> None:
    c = prepare(upstream, form)
    merge, head = upstream.rev_parse("refs/pull/6/merge"), upstream.rev_parse("refs/pull/6/head")
    assert c.sha == merge
    assert git_out("rev-list", "--parents", "-n1", "HEAD", cwd=c.path).split() == [
        merge,
        upstream.rev_parse("dev"),
        head,
    ]
    assert (read(c), read(c, "pr.txt")) == ("pr6", "from PR 6")


def test_only_the_asked_pull_ref_is_fetched(
    upstream: UpstreamRepo, prepare: Prepare, cache: Path
) -> None:
    prepare(upstream, "pr/6/merge", "a")
    prepare(upstream, "dev", "b")
    refs = git_out("--git-dir", str(mirror_of(cache)), "for-each-ref", "--format=%(refname)")
    assert [r for r in refs.split() if r.startswith("refs/pull/")] == ["refs/pull/6/merge"]
    assert "refs/hidden/keep" not in refs
    assert {"refs/heads/main", "refs/heads/dev", "refs/tags/v1.0", "refs/tags/v2.0"} <= set(
        refs.split()
    )


def test_other_full_refs_are_fetched_on_demand(upstream: UpstreamRepo, prepare: Prepare) -> None:
    c = prepare(upstream, "refs/hidden/keep")
    assert read(c) == "hidden"


def test_missing_pull_request(upstream: UpstreamRepo, prepare: Prepare) -> None:
    with pytest.raises(SourceError, match="refs/pull/99/merge not found in file://") as info:
        prepare(upstream, "pr/99/merge")
    assert "may not be mergeable" in str(info.value.hint)


def test_unknown_ref_lists_branches_and_close_matches(
    upstream: UpstreamRepo, prepare: Prepare
) -> None:
    with pytest.raises(SourceError) as info:
        prepare(upstream, "deve")
    err = info.value
    assert err.message.startswith(f"ref 'deve' not found in {upstream.url}")
    assert err.hint is not None
    assert "known branches: dev, main" in err.hint
    assert "did you mean 'dev'?" in err.hint


def test_branch_list_is_capped(repo: UpstreamRepo, prepare: Prepare) -> None:
    for i in range(12):
        repo.branch(f"feature-{i:02d}")
    with pytest.raises(SourceError) as info:
        prepare(repo, "nope")
    listed = str(info.value.hint).split("known branches: ")[1].split(" (+4 more)")[0]
    assert len(listed.split(", ")) == 10


@pytest.mark.parametrize("ref", ["--upload-pack=touch /tmp/x", "bad ref", ""])
def test_invalid_ref_syntax(upstream: UpstreamRepo, prepare: Prepare, ref: str) -> None:
    with pytest.raises(SourceError, match="is not a valid git ref"):
        prepare(upstream, ref)


def test_default_branch_falls_back_to_remote_head(repo: UpstreamRepo, prepare: Prepare) -> None:
    lines: list[str] = []
    c = prepare(repo, None, default_branch="master", progress=lines.append)
    assert c.sha == repo.rev_parse("main")
    assert "branch 'master' not found; using the remote HEAD 'main'" in lines
    repo.set_default_branch("dev")
    assert prepare(repo, None, "b", default_branch="").sha == repo.rev_parse("dev")


def test_missing_default_branch(repo: UpstreamRepo, prepare: Prepare) -> None:
    repo.set_default_branch("gone")
    with pytest.raises(SourceError, match="default branch 'master' not found") as info:
        prepare(repo, None, default_branch="master")
    assert "known branches: dev, main" in str(info.value.hint)


def test_ambiguous_short_sha(repo: UpstreamRepo, prepare: Prepare) -> None:
    # ~1500 commits make two share a 4-digit prefix (deterministic: fixed dates).
    script = "".join(
        f"commit refs/heads/many\ncommitter C <c@x> {1_700_000_000 + i} +0000\n"
        f"data {len(str(i))}\n{i}\n" + ("from refs/heads/main\n" if i == 0 else "")
        for i in range(1500)
    )
    repo.bare_git("fast-import", "--quiet", input=script)
    shas = repo.bare_git("rev-list", "many").split()
    prefixes = [s[:4] for s in shas]
    dup = next(p for p in prefixes if prefixes.count(p) > 1)
    with pytest.raises(SourceError, match=f"abbreviated SHA '{dup}' is ambiguous"):
        prepare(repo, dup)


def test_normalize_pr_ref() -> None:
    assert normalize_pr_ref("pr/12") == "refs/pull/12/head"
    assert normalize_pr_ref("pr/12/merge") == "refs/pull/12/merge"
    assert normalize_pr_ref("pull/12/head") == "refs/pull/12/head"
    assert normalize_pr_ref("refs/pull/12/merge") == "refs/pull/12/merge"
    assert normalize_pr_ref("main") is None
    assert normalize_pr_ref("pr/x") is None


def test_where_a_checkout_sits_on_the_default_branch(
    upstream: UpstreamRepo, prepare: Prepare
) -> None:
    """The verdict's baseline lookup: a PR's merge base, and whether a commit is on main."""
    main = upstream.rev_parse("main")
    head = prepare(upstream, "pr/5", "pr-head")
    assert (head.base_sha, head.on_default_branch) == (main, False)
    merge = prepare(upstream, "refs/pull/5/merge", "pr-merge")
    assert (merge.base_sha, merge.on_default_branch) == (main, False)
    tip = prepare(upstream, None, "tip")
    assert (tip.base_sha, tip.on_default_branch) == (main, True)
    older = prepare(upstream, upstream.rev_parse("main~1"), "older")
    assert (older.base_sha, older.on_default_branch) == (older.sha, True)
    dev = prepare(upstream, "dev", "dev")  # a branch off main's tip: not on main
    assert (dev.base_sha, dev.on_default_branch) == (main, False)
