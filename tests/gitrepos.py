"""Fixture upstream repositories: a bare "remote" plus GitHub-style pull-request refs.

``UpstreamRepo(tmp_path)`` makes ``tmp_path/upstream.git`` (bare, what the harness fetches
through :attr:`UpstreamRepo.url`) and a scratch clone ``tmp_path/upstream-work`` that every
helper writes through and pushes from::

    repo = UpstreamRepo(tmp_path)
    v1 = repo.commit({"setup.py": "...", "tests/test_a.py": "..."}, "initial")
    repo.tag("v1.0")
    repo.branch("dev")
    repo.commit({"tests/test_a.py": None}, "drop a test", branch="dev")  # None deletes
    head, merge = repo.pull_request(7, {"tests/test_b.py": "..."})  # refs/pull/7/{head,merge}

Commits are deterministic: a fixed author and committer, dates that advance one second per
git call from 2026-01-01, and no influence from the user's git configuration or ``GIT_*`` variables.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z
_ENV = {
    "GIT_AUTHOR_NAME": "Fixture Author",
    "GIT_AUTHOR_EMAIL": "author@example.invalid",
    "GIT_COMMITTER_NAME": "Fixture Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.invalid",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
}


class GitFixtureError(RuntimeError):
    """A git command run by the fixture failed (a bug in the test, not in the harness)."""


class UpstreamRepo:
    """A bare repository ``root/<name>.git`` and a scratch clone that writes to it."""

    def __init__(self, root: Path, name: str = "upstream", default_branch: str = "main") -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.name = name
        self.path = root / f"{name}.git"
        self.work = root / f"{name}-work"
        self.default_branch = default_branch
        self._tick = 0
        self.git("init", "--bare", "-q", "-b", default_branch, str(self.path), cwd=root)
        self.git("init", "-q", "-b", default_branch, str(self.work), cwd=root)
        self.git("remote", "add", "origin", str(self.path))

    def copy_to(self, root: Path) -> UpstreamRepo:
        """An independent copy under ``root`` (same name, SHAs and clock): build an upstream
        once per session, copy it per test. Submodule URLs still point at the originals."""
        root.mkdir(parents=True, exist_ok=True)
        copy = object.__new__(UpstreamRepo)
        copy.__dict__.update(self.__dict__)
        copy.root, copy.path, copy.work = root, root / self.path.name, root / self.work.name
        shutil.copytree(self.path, copy.path, symlinks=True)
        shutil.copytree(self.work, copy.work, symlinks=True)
        copy.git("remote", "set-url", "origin", str(copy.path))
        return copy

    @property
    def url(self) -> str:
        """``file://`` URL of the bare repository."""
        return self.path.as_uri()

    def __repr__(self) -> str:
        return f"UpstreamRepo({self.path})"

    # ------------------------------------------------------------------ plumbing

    def git(self, *args: str, cwd: Path | None = None, input: str | None = None) -> str:
        """Run git (in the scratch clone unless ``cwd``); returns stripped stdout."""
        self._tick += 1
        date = f"@{_EPOCH + self._tick} +0000"
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env |= {**_ENV, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        proc = subprocess.run(
            ["git", "-c", "protocol.file.allow=always", *args],
            cwd=cwd or self.work,
            env=env,
            input=input,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise GitFixtureError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc.stdout.strip()

    _git = git  # older name

    def bare_git(self, *args: str, input: str | None = None) -> str:
        """Run git against the bare repository."""
        return self.git("--git-dir", str(self.path), *args, input=input)

    def rev_parse(self, ref: str) -> str:
        """SHA of ``ref``: a branch, tag, SHA or full ref of the bare repo; ``HEAD`` is the
        scratch clone's (the last commit made through :meth:`commit`)."""
        if ref != "HEAD":
            try:
                return self.bare_git("rev-parse", "--verify", "-q", f"{ref}^{{commit}}")
            except GitFixtureError:
                pass
        return self.git("rev-parse", "--verify", "-q", f"{ref}^{{commit}}")

    def has_ref(self, ref: str) -> bool:
        try:
            self.bare_git("rev-parse", "--verify", "-q", ref)
        except GitFixtureError:
            return False
        return True

    def _sync(self) -> None:
        self.git(
            "fetch", "-q", "--prune", "--force", "origin", "+refs/heads/*:refs/remotes/origin/*"
        )

    def _start(self, branch: str) -> None:
        """Check out ``branch`` as the bare repo has it (new: from the default branch)."""
        self._sync()
        if self.has_ref(f"refs/heads/{branch}"):
            self.git("checkout", "-q", "-f", "-B", branch, f"origin/{branch}")
        elif self.has_ref(f"refs/heads/{self.default_branch}"):
            self.git("checkout", "-q", "-f", "-B", branch, f"origin/{self.default_branch}")
        else:  # empty repository: the first commit
            self.git("symbolic-ref", "HEAD", f"refs/heads/{branch}")

    def _write(self, files: dict[str, str | bytes | None]) -> None:
        for rel, content in files.items():
            path = self.work / rel
            if content is None:
                self.git("rm", "-q", "-r", "--ignore-unmatch", "--", rel)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
            self.git("add", "--", rel)

    # ------------------------------------------------------------------ helpers

    def commit(
        self,
        files: dict[str, str | bytes | None],
        message: str = "change",
        branch: str | None = None,
    ) -> str:
        """Commit ``files`` (a None value deletes the file) on ``branch`` (default: the default
        branch; a new branch starts from the default branch's tip) and push; returns the SHA."""
        branch = branch or self.default_branch
        self._start(branch)
        self._write(files)
        self.git("commit", "-q", "--allow-empty", "-m", message)
        self.git("push", "-q", "origin", f"HEAD:refs/heads/{branch}")
        return self.rev_parse("HEAD")

    def merge(self, branch: str, message: str, into: str | None = None) -> str:
        """Merge ``branch`` into ``into`` (default: the default branch) with a merge commit
        (``--no-ff``) and push; returns the merge's SHA."""
        into = into or self.default_branch
        self._start(into)
        self.git("merge", "-q", "--no-ff", "-m", message, f"origin/{branch}")
        self.git("push", "-q", "origin", f"HEAD:refs/heads/{into}")
        return self.rev_parse("HEAD")

    def branch(self, name: str, from_ref: str | None = None) -> None:
        """Create (or move) branch ``name`` at ``from_ref`` (default: the default branch)."""
        sha = self.rev_parse(from_ref or self.default_branch)
        self.bare_git("update-ref", f"refs/heads/{name}", sha)

    def tag(self, name: str, ref: str = "HEAD", message: str | None = None) -> None:
        """Tag ``ref`` (moving an existing tag); annotated when ``message`` is given."""
        sha = self.rev_parse(ref)
        if message is None:
            self.bare_git("update-ref", f"refs/tags/{name}", sha)
        else:
            self.bare_git("tag", "-f", "-a", "-m", message, name, sha)

    def delete_ref(self, ref: str) -> None:
        """Delete a branch or tag (``dev``, ``v1.0``) or a full ref from the bare repo."""
        if not ref.startswith("refs/"):
            ref = f"refs/heads/{ref}" if self.has_ref(f"refs/heads/{ref}") else f"refs/tags/{ref}"
        self.bare_git("update-ref", "-d", ref)

    def set_default_branch(self, name: str) -> None:
        """Point the bare repo's HEAD (what ``git ls-remote --symref`` shows) at ``name``."""
        self.bare_git("symbolic-ref", "HEAD", f"refs/heads/{name}")

    def pull_request(
        self,
        number: int,
        files: dict[str, str | bytes | None],
        base: str | None = None,
        message: str = "pull request change",
    ) -> tuple[str, str]:
        """Publish ``refs/pull/<n>/head`` and ``refs/pull/<n>/merge`` like GitHub does.

        The PR commit goes on top of the existing PR head, or of ``base``'s tip for a new PR;
        the merge ref is a ``--no-ff`` merge of the head into ``base``'s tip. Returns
        ``(head_sha, merge_sha)``.
        """
        base = base or self.default_branch
        self._sync()
        start = f"refs/pull/{number}/head"
        start = self.rev_parse(start) if self.has_ref(start) else f"origin/{base}"
        self.git("checkout", "-q", "-f", "--detach", start)
        self._write(files)
        self.git("commit", "-q", "--allow-empty", "-m", message)
        head = self.rev_parse("HEAD")
        self.git("push", "-q", "-f", "origin", f"HEAD:refs/pull/{number}/head")
        self.git("checkout", "-q", "-f", "--detach", f"origin/{base}")
        base_sha = self.rev_parse("HEAD")
        self.git("merge", "-q", "--no-ff", "-m", f"Merge {head} into {base_sha}", head)
        merge = self.rev_parse("HEAD")
        self.git("push", "-q", "-f", "origin", f"HEAD:refs/pull/{number}/merge")
        self._start(base)
        return head, merge

    def add_submodule(
        self,
        path: str,
        sub: UpstreamRepo | str,
        branch: str | None = None,
        message: str | None = None,
    ) -> str:
        """Add ``sub`` (a fixture repo or a URL) as a submodule at ``path``, at its default
        branch's tip; commit and push on ``branch``. Returns the SHA."""
        url = sub.url if isinstance(sub, UpstreamRepo) else sub
        branch = branch or self.default_branch
        self._start(branch)
        self.git("submodule", "add", "-q", url, path)
        self.git("commit", "-q", "-m", message or f"add submodule {path}")
        self.git("push", "-q", "origin", f"HEAD:refs/heads/{branch}")
        return self.rev_parse("HEAD")
