"""Mirror fetch, worktree checkout and release; in-place use of local directories."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.errors import CommitGone, SourceError
from harness.source import mirrors
from harness.source.git import (
    USERINFO_RE,
    Git,
    default_git_timeout,
    fetch_hint,
    git_error,
    is_remote_url,
    locked,
    mask_url,
    mirror_path,
    shown_command,
)
from harness.source.refs import (
    check_ref_syntax,
    extra_ref,
    resolve_default,
    resolve_ref,
    rev_parse,
)

SourceKind = Literal["in_place", "mirror"]
Progress = Callable[[str], None]
HEADS_TAGS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")


@dataclass(frozen=True, slots=True)
class Checkout:
    """Where the tests run: a worktree at ``sha``, or a local directory used in place."""

    path: Path
    sha: str | None
    ref: str | None
    url: str
    in_place: bool = False
    dirty: bool = False
    #: the merge base of ``sha`` with the upstream's default branch (``sha`` itself for a
    #: default-branch commit); ``None`` when not known (a directory used in place)
    base_sha: str | None = None
    #: whether ``sha`` is on the default branch (the branch's head or one of its
    #: ancestors): such a run can be a baseline; ``None`` when not known
    on_default_branch: bool | None = None


def resolve_source_kind(url: str, ref: str | None) -> SourceKind:
    """``in_place`` for a local directory (not a bare repository) without a ref, else ``mirror``.

    Raises SourceError for an empty URL or a local path that does not exist.
    """
    if not url.strip():
        raise SourceError("the source URL is empty")
    if url.startswith("-"):
        raise SourceError(f"'{mask_url(url)}' is not a git URL or a directory")
    if is_remote_url(url):
        return "mirror"
    path = Path(url).expanduser()
    if not path.exists():
        raise SourceError(
            f"source '{url}' does not exist",
            hint="give an existing directory or a git URL (https://, ssh://, git@host:path, "
            "file://)",
        )
    if ref is None and path.is_dir() and not _is_bare_repo(path):
        return "in_place"
    return "mirror"


def prepare_source(
    *,
    url: str,
    ref: str | None,
    default_branch: str,
    cache_dir: Path,
    work_dir: Path,
    progress: Progress | None = None,
    git_timeout: float | None = None,
    sha: str | None = None,
) -> Checkout:
    """Materialize ``url`` at ``ref`` and record the exact SHA.

    With ``sha`` that exact commit is checked out, never what ``ref`` points at now (a
    push after a pull request was approved must not run under the approved commit's
    name): ``ref`` is fetched so the commit is present, and if it is not, the commit
    itself; :class:`CommitGone` when the upstream no longer has it.

    A local directory without a ref is used in place. Anything else is fetched into the
    mirror cache and checked out, detached and with submodules, into ``work_dir`` (which
    must not exist or be empty); release it with :func:`release_checkout`. ``ref`` None means
    ``default_branch``, or the remote HEAD's branch when the upstream has no such branch;
    ``progress`` gets short lines ("fetching …", "checking out …"); ``git_timeout`` bounds
    each git command (default ``HARNESS_GIT_TIMEOUT`` or 900 s). Raises SourceError.
    """
    say = progress or (lambda _text: None)
    timeout = git_timeout if git_timeout is not None else default_git_timeout()
    if resolve_source_kind(url, ref) == "in_place":
        return _in_place(Path(url).expanduser().resolve(), url, Git(timeout))
    if ref is not None:
        check_ref_syntax(ref)
    # file:// submodules only for upstreams that are local themselves (CVE-2022-39253).
    git = Git(timeout, allow_file=not is_remote_url(url) or url.startswith("file://"))
    fetch_url = url if is_remote_url(url) else str(Path(url).expanduser().resolve())
    shown = mask_url(url)
    if (fetched := mirrors.rewrite(url)) != url:  # say where git really goes
        shown += f" (as {mask_url(fetched)}, by HARNESS_MIRRORS)"
    work_dir, cache_dir = work_dir.absolute(), cache_dir.absolute()
    _check_work_dir(work_dir)
    mirror = mirror_path(url, cache_dir)
    with locked(mirror.with_suffix(".lock")):
        if not (mirror / "HEAD").is_file():
            say(f"creating mirror {mirror}")
        _ensure_mirror(git, mirror, fetch_url)
        extra = extra_ref(ref) if ref is not None else None
        say(f"fetching {shown}" + (f" (+ {extra})" if extra else ""))
        try:
            _fetch(git, mirror, fetch_url, shown, extra)
        except SourceError:
            if sha is None or not _has_commit(git, mirror, fetch_url, sha):
                raise
            say(f"{ref} cannot be fetched; {sha[:12]} is here already")
        if sha is not None:
            if not _has_commit(git, mirror, fetch_url, sha):
                raise CommitGone(
                    f"{sha[:12]} is no longer in {shown} ({ref or default_branch} moved on "
                    "and the commit is gone)",
                    hint="a force-push or a deleted branch; the newer head is run on its own",
                )
            label = f"{ref or default_branch} at {sha[:12]}"
        elif ref is None or ref == "HEAD":  # HEAD: the remote's default branch
            branch = default_branch if ref is None else ""
            sha, label = resolve_default(git, mirror, fetch_url, shown, branch, say)
        else:
            sha, label = resolve_ref(git, mirror, fetch_url, shown, ref, extra), ref
        say(f"checking out {sha[:12]} ({label})")
        work_dir.parent.mkdir(parents=True, exist_ok=True)
        gd = ("--git-dir", str(mirror))
        git(*gd, "worktree", "prune", what="cannot prune stale worktrees")
        try:  # a failed or interrupted checkout leaves no worktree behind
            git(
                *gd,
                "worktree",
                "add",
                "--detach",
                "--force",
                str(work_dir),
                sha,
                what=f"cannot check out {sha[:12]} into {work_dir}",
                hint="check free disk space and permissions of the work directory",
            )
            if (work_dir / ".gitmodules").is_file():
                _update_submodules(git, work_dir, shown, sha, say)
            head = git("rev-parse", "HEAD", cwd=work_dir, what="cannot read HEAD").stdout
        except BaseException:
            _remove_worktree(git, mirror, work_dir)
            raise
        base_sha, on_default = _place(git, mirror, head.strip(), default_branch, ref)
    return Checkout(
        path=work_dir,
        sha=head.strip(),
        ref=ref,
        url=url,
        base_sha=base_sha,
        on_default_branch=on_default,
    )


def _has_commit(git: Git, mirror: Path, fetch_url: str, sha: str) -> bool:
    """Whether ``sha`` is a commit in the mirror, fetching it by id if need be (GitHub
    serves any commit reachable from its refs, including other pull requests')."""
    if not re.fullmatch(r"[0-9a-f]{40}", sha):
        raise SourceError(f"'{sha}' is not a full commit id")
    gd = ("--git-dir", str(mirror))

    def present() -> bool:
        probe = git(*gd, "cat-file", "-e", f"{sha}^{{commit}}", check=False)
        return probe.returncode == 0

    if present():
        return True
    git(*gd, "fetch", "--no-tags", "--quiet", fetch_url, sha, check=False)
    return present()


def _place(
    git: Git, mirror: Path, sha: str, default_branch: str, ref: str | None
) -> tuple[str | None, bool | None]:
    """(merge base with the default branch, whether ``sha`` is on it), from the mirror.

    A commit is on the default branch when it is the branch's head or an ancestor of it
    (a pull request's merge base, an older release point); a pull request's head or merge
    ref is not, and its merge base is where the verdict looks for a baseline.
    """
    if ref is None or ref == "HEAD":
        return sha, True
    tip = rev_parse(git, mirror, f"refs/heads/{default_branch}") if default_branch else None
    if tip is None:
        return None, None
    proc = git("--git-dir", str(mirror), "merge-base", tip, sha, check=False)
    base = proc.stdout.strip() if proc.returncode == 0 else ""
    if not base:  # unrelated histories
        return None, False
    return base, base == sha


def release_checkout(checkout: Checkout, cache_dir: Path) -> None:
    """Remove a run's worktree and prune it from the mirror; a no-op for in-place sources."""
    if checkout.in_place:
        return
    mirror = mirror_path(checkout.url, cache_dir)
    git = Git(default_git_timeout())
    if not (mirror / "HEAD").is_file():
        shutil.rmtree(checkout.path, ignore_errors=True)
        return
    with locked(mirror.with_suffix(".lock")):
        _remove_worktree(git, mirror, checkout.path)


def _is_bare_repo(path: Path) -> bool:
    proc = Git(60)("rev-parse", "--is-bare-repository", cwd=path, check=False)
    return proc.returncode == 0 and proc.stdout.strip() == "true"


def _in_place(path: Path, url: str, git: Git) -> Checkout:
    probe = git("rev-parse", "--is-inside-work-tree", cwd=path, check=False)
    if probe.returncode != 0 or probe.stdout.strip() != "true":
        if "dubious ownership" in probe.stderr:
            raise git_error(
                f"cannot read the git state of {path}",
                "git rev-parse --is-inside-work-tree",
                probe.returncode,
                probe.stderr,
                f"git refuses a repository owned by another user: "
                f"git config --global --add safe.directory {path}",
            )
        return Checkout(path=path, sha=None, ref=None, url=url, in_place=True)
    head = git("rev-parse", "--verify", "--quiet", "HEAD", cwd=path, check=False)
    status = git(
        "status",
        "--porcelain",
        "--untracked-files=normal",
        "--",
        ".",
        cwd=path,
        what=f"cannot read the status of {path}",
    )
    return Checkout(
        path=path,
        sha=head.stdout.strip() or None,
        ref=None,
        url=url,
        in_place=True,
        dirty=bool(status.stdout.strip()),
    )


def _check_work_dir(work_dir: Path) -> None:
    if work_dir.is_dir() and not any(work_dir.iterdir()):
        work_dir.rmdir()
    elif work_dir.exists():
        raise SourceError(
            f"work directory {work_dir} exists and is not empty",
            hint="remove it, or choose another work directory",
        )


def _ensure_mirror(git: Git, mirror: Path, fetch_url: str) -> None:
    gd = ("--git-dir", str(mirror))
    if not (mirror / "HEAD").is_file():
        if mirror.exists():  # left half-made by an interrupted run
            shutil.rmtree(mirror)
        mirror.parent.mkdir(parents=True, exist_ok=True)
        git("init", "--bare", "--quiet", str(mirror), what=f"cannot create mirror {mirror}")
    # Credentials are passed on each fetch, never stored in the mirror's config.
    stored = USERINFO_RE.sub(r"\1", fetch_url)
    current = git(*gd, "config", "--get", "remote.origin.url", check=False).stdout.strip()
    if current != stored:
        git(*gd, "config", "remote.origin.url", stored, what="cannot configure the mirror")
        git(*gd, "config", "--replace-all", "remote.origin.fetch", HEADS_TAGS[0])
        git(*gd, "config", "--add", "remote.origin.fetch", HEADS_TAGS[1])
        git(*gd, "config", "remote.origin.tagOpt", "--no-tags")


def _fetch(git: Git, mirror: Path, fetch_url: str, shown: str, extra: str | None) -> None:
    gd = ("--git-dir", str(mirror))
    base = (*gd, "fetch", "--prune", "--no-tags", "--quiet", fetch_url, *HEADS_TAGS)
    specs = (f"+{extra}:{extra}",) if extra else ()
    what = f"cannot fetch {shown}"
    proc = git(*base, *specs, check=False, what=what)
    if proc.returncode == 0:
        return
    shown_cmd = shown_command((*base, *specs))
    if extra:  # one round trip when all is well; tell a missing ref from a dead remote
        again = git(*base, check=False, what=what)
        if again.returncode == 0:
            hint = "the pull request may not exist"
            if extra.endswith("/merge"):
                hint += ", or may not be mergeable (GitHub publishes /merge only then)"
            raise git_error(
                f"{extra} not found in {shown}", shown_cmd, proc.returncode, proc.stderr, hint
            )
        proc = again
    raise git_error(what, shown_cmd, proc.returncode, proc.stderr, fetch_hint(proc.stderr))


_SUBMODULE_PATH_RES = (
    re.compile(r"submodule path '([^']+)'"),
    re.compile(r"Failed to clone '([^']+)'"),
)


def _update_submodules(git: Git, work_dir: Path, shown: str, sha: str, say: Progress) -> None:
    """Init, sync (the mirror's config is shared by all worktrees) and update, recursively."""
    say("updating submodules")
    for args in (
        ("submodule", "init"),
        ("submodule", "sync", "--quiet"),
        ("submodule", "update", "--init", "--recursive"),
    ):
        proc = git(*args, cwd=work_dir, check=False, what=f"cannot update submodules of {shown}")
        if proc.returncode == 0:
            continue
        err = mask_url(proc.stderr)
        found = (m for rx in _SUBMODULE_PATH_RES for m in rx.findall(err))
        names = list(dict.fromkeys(_relative(m, work_dir) for m in found))
        if not names:
            names = [
                p for p in _submodule_paths(git, work_dir) if not (work_dir / p / ".git").exists()
            ]
        hint = "check that the submodule URLs in .gitmodules are reachable and the commits exist"
        if "transport 'file' not allowed" in err:
            hint = "file:// submodules are allowed only when the upstream itself is local"
        raise git_error(
            f"submodule {', '.join(names) or '(unknown)'} of {shown} at {sha[:12]} "
            "could not be checked out",
            shown_command(args),
            proc.returncode,
            err,
            hint,
        )


def _relative(path: str, work_dir: Path) -> str:
    p = Path(path)
    if p.is_absolute() and p.is_relative_to(work_dir):
        return p.relative_to(work_dir).as_posix()
    return path


def _submodule_paths(git: Git, work_dir: Path) -> list[str]:
    proc = git(
        "config",
        "--file",
        ".gitmodules",
        "--get-regexp",
        r"^submodule\..*\.path$",
        cwd=work_dir,
        check=False,
    )
    return [ln.split(" ", 1)[1] for ln in proc.stdout.splitlines() if " " in ln]


def _remove_worktree(git: Git, mirror: Path, path: Path) -> None:
    gd = ("--git-dir", str(mirror))
    git(*gd, "worktree", "remove", "--force", "--force", str(path), check=False)
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
    git(*gd, "worktree", "prune", check=False)


def update_mirror(url: str, cache_dir: Path, *, git_timeout: float | None = None) -> Path:
    """Fetch ``url``'s branches and tags into its mirror under ``cache_dir`` (creating it)
    and return the mirror's path: for reading history (``harness bisect``'s candidates)
    without checking anything out. Raises SourceError."""
    timeout = git_timeout if git_timeout is not None else default_git_timeout()
    git = Git(timeout, allow_file=not is_remote_url(url) or url.startswith("file://"))
    fetch_url = url if is_remote_url(url) else str(Path(url).expanduser().resolve())
    mirror = mirror_path(url, cache_dir.absolute())
    with locked(mirror.with_suffix(".lock")):
        _ensure_mirror(git, mirror, fetch_url)
        _fetch(git, mirror, fetch_url, mask_url(url), None)
    return mirror
