"""Upstream source: a mirror cache per upstream and a worktree per run at an exact SHA.

Mirrors live in ``<cache>/mirrors/<slug>.git`` (bare). A fetch brings branches and tags
(incremental, pruned) plus the one ref asked for when it is a pull-request ref
(``refs/pull/N/head`` or ``refs/pull/N/merge``; also ``pr/N`` and ``pr/N/merge``), never
all pull refs of a large upstream. A SHA missing after the fetch is fetched directly
(GitHub serves reachable SHAs). The worktree is detached at the resolved SHA, with
submodules. A file lock per mirror serialises harness processes sharing a cache.

A local directory given without a ref is used in place: its current files, its HEAD SHA
when it is a git work tree, and whether it has uncommitted changes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.errors import SourceError

GIT_TIMEOUT_S = float(os.environ.get("HARNESS_GIT_TIMEOUT", "900"))
_SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
_PR_RE = re.compile(r"^(?:refs/)?(?:pull|pr)/(\d+)(?:/(head|merge))?$")
_CRED_RE = re.compile(r"(://)[^/@\s]+@")

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Checkout:
    path: Path
    sha: str | None
    ref: str | None
    url: str
    in_place: bool = False
    dirty: bool = False


def mask_url(url: str) -> str:
    return _CRED_RE.sub(r"\1***@", url)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true", LC_ALL="C")
    return env


def git(
    *args: str, cwd: Path | None = None, timeout: float = GIT_TIMEOUT_S, check: bool = True
) -> subprocess.CompletedProcess[str]:
    cmd = ["git", "-c", "protocol.file.allow=always", *args]
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SourceError(
            f"`{mask_url(' '.join(args))}` did not finish in {timeout:.0f} s"
        ) from exc
    except FileNotFoundError as exc:
        raise SourceError(
            "git is not installed", hint="install git (Debian: apt-get install git)"
        ) from exc
    if check and proc.returncode != 0:
        tail = "\n".join(mask_url(proc.stderr.strip()).splitlines()[-5:])
        raise SourceError(f"`git {mask_url(' '.join(args))}` failed: {tail}")
    return proc


def normalize_pr_ref(ref: str) -> str | None:
    """``pr/7`` → ``refs/pull/7/head``; ``pull/7/merge`` → ``refs/pull/7/merge``."""
    m = _PR_RE.match(ref)
    if not m:
        return None
    return f"refs/pull/{m.group(1)}/{m.group(2) or 'head'}"


def mirror_slug(url: str) -> str:
    clean = mask_url(url).rstrip("/").removesuffix(".git")
    clean = re.sub(r"^[a-z+]+://", "", clean).replace("git@", "").replace(":", "/")
    parts = [p for p in re.split(r"[/\\]+", clean) if p][-3:]
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", "+".join(parts))[:80]
    return f"{readable}-{hashlib.sha256(url.encode()).hexdigest()[:8]}"


def is_local_dir(url: str) -> bool:
    return "://" not in url and not url.startswith("git@") and Path(url).exists()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def prepare_source(
    *,
    url: str,
    ref: str | None,
    default_branch: str,
    cache_dir: Path,
    work_dir: Path,
    progress: Progress | None = None,
) -> Checkout:
    say = progress or (lambda _text: None)
    if is_local_dir(url) and ref is None:
        return _in_place(Path(url).resolve(), url)
    if "://" not in url and not url.startswith("git@") and not Path(url).exists():
        raise SourceError(f"source '{url}' is neither an existing directory nor a git URL")
    mirror = cache_dir / "mirrors" / f"{mirror_slug(url)}.git"
    with _locked(mirror.with_suffix(".lock")):
        _ensure_mirror(mirror, url)
        wanted = ref or default_branch
        pr_ref = normalize_pr_ref(wanted)
        say(f"fetching {mask_url(url)}")
        _fetch(mirror, url, pr_ref)
        sha = _resolve(mirror, url, wanted, pr_ref)
        say(f"checking out {sha[:12]} ({wanted})")
        if work_dir.exists():
            if any(work_dir.iterdir()):
                raise SourceError(f"work directory {work_dir} exists and is not empty")
            work_dir.rmdir()
        work_dir.parent.mkdir(parents=True, exist_ok=True)
        git("--git-dir", str(mirror), "worktree", "prune")
        git("--git-dir", str(mirror), "worktree", "add", "--detach", "--force", str(work_dir), sha)
    if (work_dir / ".gitmodules").is_file():
        say("updating submodules")
        proc = git("submodule", "update", "--init", "--recursive", cwd=work_dir, check=False)
        if proc.returncode != 0:
            raise SourceError(
                f"submodules of {mask_url(url)} at {sha[:12]} could not be fetched: "
                f"{proc.stderr.strip().splitlines()[-1:]}"
            )
    head = git("rev-parse", "HEAD", cwd=work_dir).stdout.strip()
    return Checkout(path=work_dir, sha=head, ref=ref, url=url)


def _in_place(path: Path, url: str) -> Checkout:
    if not path.is_dir():
        raise SourceError(f"source '{url}' is not a directory")
    probe = git("rev-parse", "--is-inside-work-tree", cwd=path, check=False)
    if probe.returncode != 0 or probe.stdout.strip() != "true":
        return Checkout(path=path, sha=None, ref=None, url=url, in_place=True)
    sha = git("rev-parse", "HEAD", cwd=path, check=False).stdout.strip() or None
    dirty = bool(
        git(
            "status", "--porcelain", "--untracked-files=normal", cwd=path, check=False
        ).stdout.strip()
    )
    return Checkout(path=path, sha=sha, ref=None, url=url, in_place=True, dirty=dirty)


def _ensure_mirror(mirror: Path, url: str) -> None:
    if (mirror / "HEAD").is_file():
        return
    if mirror.exists():
        shutil.rmtree(mirror)
    mirror.parent.mkdir(parents=True, exist_ok=True)
    git("init", "--bare", "--quiet", str(mirror))
    git("--git-dir", str(mirror), "remote", "add", "origin", url)
    git("--git-dir", str(mirror), "config", "remote.origin.tagOpt", "--no-tags")


def _fetch(mirror: Path, url: str, pr_ref: str | None) -> None:
    specs = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
    proc = git(
        "--git-dir", str(mirror), "fetch", "--prune", "--quiet", "origin", *specs, check=False
    )
    if proc.returncode != 0:
        raise SourceError(
            f"cannot fetch {mask_url(url)}: {mask_url(proc.stderr.strip()).splitlines()[-1:]}",
            hint="check the URL and network access; private repositories need credentials "
            "in git's credential helper",
        )
    if pr_ref:
        proc = git(
            "--git-dir",
            str(mirror),
            "fetch",
            "--quiet",
            "origin",
            f"+{pr_ref}:{pr_ref}",
            check=False,
        )
        if proc.returncode != 0:
            raise SourceError(
                f"{pr_ref} not found in {mask_url(url)}",
                hint="the pull request may not exist, or (for /merge) may not be mergeable",
            )


def _resolve(mirror: Path, url: str, wanted: str, pr_ref: str | None) -> str:
    candidates = [pr_ref] if pr_ref else [f"refs/heads/{wanted}", f"refs/tags/{wanted}", wanted]
    for cand in candidates:
        proc = git(
            "--git-dir",
            str(mirror),
            "rev-parse",
            "--verify",
            "--quiet",
            f"{cand}^{{commit}}",
            check=False,
        )
        if proc.returncode == 0:
            return proc.stdout.strip()
    if _SHA_RE.match(wanted) and len(wanted) == 40:
        git("--git-dir", str(mirror), "fetch", "--quiet", "origin", wanted, check=False)
        proc = git(
            "--git-dir",
            str(mirror),
            "rev-parse",
            "--verify",
            "--quiet",
            f"{wanted}^{{commit}}",
            check=False,
        )
        if proc.returncode == 0:
            return proc.stdout.strip()
    branches = git(
        "--git-dir",
        str(mirror),
        "for-each-ref",
        "--format=%(refname:short)",
        "--count=10",
        "refs/heads/",
        check=False,
    ).stdout.split()
    raise SourceError(
        f"ref '{wanted}' not found in {mask_url(url)}",
        hint=f"known branches: {', '.join(branches) or 'none'}; refs can be a branch, tag, "
        "SHA, refs/pull/N/head or refs/pull/N/merge",
    )


def release_checkout(checkout: Checkout, cache_dir: Path) -> None:
    """Remove a run's worktree; a no-op for in-place sources."""
    if checkout.in_place:
        return
    mirror = cache_dir / "mirrors" / f"{mirror_slug(checkout.url)}.git"
    with _locked(mirror.with_suffix(".lock")):
        git(
            "--git-dir",
            str(mirror),
            "worktree",
            "remove",
            "--force",
            str(checkout.path),
            check=False,
        )
        if checkout.path.exists():
            shutil.rmtree(checkout.path, ignore_errors=True)
        git("--git-dir", str(mirror), "worktree", "prune", check=False)
