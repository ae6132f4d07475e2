"""Which commit a ref names in a mirror: branches, tags, SHAs and pull-request refs."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path

from harness.errors import SourceError
from harness.source.git import Git, fetch_hint, git_error, shown_command

Progress = Callable[[str], None]

_PR_RE = re.compile(r"^(?:refs/)?(?:pull|pr)/(\d+)(?:/(head|merge))?$")
_FULL_SHA_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_HEX_RE = re.compile(r"^[0-9a-f]{4,64}$")
_MAX_LISTED = 10


def normalize_pr_ref(ref: str) -> str | None:
    """``pr/7`` → ``refs/pull/7/head``; ``pull/7/merge`` → ``refs/pull/7/merge``; else None."""
    m = _PR_RE.match(ref)
    if not m:
        return None
    return f"refs/pull/{m.group(1)}/{m.group(2) or 'head'}"


def extra_ref(ref: str) -> str | None:
    """The ref to fetch besides branches and tags, if ``ref`` names one."""
    pr = normalize_pr_ref(ref)
    if pr:
        return pr
    if ref.startswith("refs/") and not ref.startswith(("refs/heads/", "refs/tags/")):
        return ref
    return None


def check_ref_syntax(ref: str) -> None:
    """Reject refs git would read as options or that cannot be names (SourceError)."""
    if not ref.strip() or ref.startswith("-") or any(c.isspace() or ord(c) < 32 for c in ref):
        raise SourceError(
            f"'{ref}' is not a valid git ref",
            hint="give a branch, tag, SHA, refs/pull/N/head, refs/pull/N/merge or pr/N",
        )


def rev_parse(git: Git, mirror: Path, name: str) -> str | None:
    """The commit ``name`` resolves to in ``mirror`` (tags peeled), or None."""
    proc = git(
        "--git-dir",
        str(mirror),
        "rev-parse",
        "--verify",
        "--quiet",
        f"{name}^{{commit}}",
        check=False,
    )
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def resolve_default(
    git: Git, mirror: Path, fetch_url: str, shown: str, default_branch: str, say: Progress
) -> tuple[str, str]:
    """``(sha, branch)`` of ``default_branch``, else of the branch the remote HEAD names."""
    if default_branch:
        sha = rev_parse(git, mirror, f"refs/heads/{default_branch}")
        if sha:
            return sha, default_branch
    proc = git(
        "ls-remote",
        "--symref",
        fetch_url,
        "HEAD",
        what=f"cannot read the default branch of {shown}",
        hint=fetch_hint(""),
    )
    m = re.search(r"^ref: refs/heads/(\S+)\s+HEAD$", proc.stdout, re.MULTILINE)
    if m:
        sha = rev_parse(git, mirror, f"refs/heads/{m.group(1)}")
        if sha:
            if default_branch:
                say(f"branch '{default_branch}' not found; using the remote HEAD '{m.group(1)}'")
            return sha, m.group(1)
    raise SourceError(
        f"default branch '{default_branch or 'HEAD'}' not found in {shown}",
        hint=known_refs_hint(git, mirror, default_branch)
        + "; set upstream.default_branch in the suite, or pass a ref",
    )


def resolve_ref(
    git: Git, mirror: Path, fetch_url: str, shown: str, ref: str, extra: str | None
) -> str:
    """The commit ``ref`` names after the fetch: branch, then tag, then SHA or expression.

    A full SHA that is not in the mirror is fetched by SHA (GitHub serves reachable SHAs).
    """
    if extra:
        candidates = [extra]
    elif ref.startswith("refs/"):
        candidates = [ref]
    else:
        candidates = [f"refs/heads/{ref}", f"refs/tags/{ref}"]
        if ref.startswith("origin/"):
            candidates.append(f"refs/heads/{ref.removeprefix('origin/')}")
        candidates.append(ref)  # a SHA, an abbreviated SHA or an expression like v1.0^
    for cand in candidates:
        sha = rev_parse(git, mirror, cand)
        if sha:
            return sha
    gd = ("--git-dir", str(mirror))
    if _FULL_SHA_RE.match(ref):
        fetch = (*gd, "fetch", "--quiet", "--no-tags", fetch_url, ref)
        proc = git(*fetch, check=False, what=f"cannot fetch {ref} from {shown}")
        sha = rev_parse(git, mirror, ref) if proc.returncode == 0 else None
        if sha:
            return sha
        raise git_error(
            f"commit {ref} not found in {shown}",
            shown_command(fetch),
            proc.returncode,
            proc.stderr,
            "the SHA is not in the repository, or the server does not serve commits "
            "outside its branches and tags",
        )
    if _HEX_RE.match(ref):
        probe = git(*gd, "rev-parse", "--verify", f"{ref}^{{commit}}", check=False)
        if "ambiguous" in probe.stderr:
            raise SourceError(
                f"abbreviated SHA '{ref}' is ambiguous in {shown}",
                hint="give more digits or the full SHA",
            )
        raise SourceError(
            f"ref '{ref}' not found in {shown}",
            hint=f"no branch, tag or commit '{ref}'; abbreviated SHAs resolve only within the "
            "fetched branches and tags: give the full SHA; " + known_refs_hint(git, mirror, ref),
        )
    raise SourceError(
        f"ref '{ref}' not found in {shown}",
        hint=known_refs_hint(git, mirror, ref)
        + "; a ref can be a branch, tag, SHA, refs/pull/N/head, refs/pull/N/merge or pr/N",
    )


def _ref_names(git: Git, mirror: Path, prefix: str) -> list[str]:
    proc = git(
        "--git-dir",
        str(mirror),
        "for-each-ref",
        "--sort=refname",
        "--sort=-committerdate",  # newest first; the last --sort is the primary key
        "--format=%(refname:lstrip=2)",
        prefix,
        check=False,
    )
    return proc.stdout.split()


def known_refs_hint(git: Git, mirror: Path, wanted: str) -> str:
    """``known branches: main, dev, …`` (newest first, at most 10) and close matches."""
    branches = _ref_names(git, mirror, "refs/heads/")
    tags = _ref_names(git, mirror, "refs/tags/")
    listed = ", ".join(branches[:_MAX_LISTED]) or "none"
    more = f" (+{len(branches) - _MAX_LISTED} more)" if len(branches) > _MAX_LISTED else ""
    hint = f"known branches: {listed}{more}"
    close = difflib.get_close_matches(wanted, branches + tags, n=3, cutoff=0.75)
    if close:
        hint = f"did you mean {', '.join(repr(c) for c in close)}? {hint}"
    return hint
