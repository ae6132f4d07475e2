"""Fixture upstream repositories: a bare "remote" plus GitHub-style pull-request refs.

Deterministic (fixed identity and dates) and independent of the user's git config.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

_ENV = {
    "GIT_AUTHOR_NAME": "Fixture Author",
    "GIT_AUTHOR_EMAIL": "author@example.invalid",
    "GIT_COMMITTER_NAME": "Fixture Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.invalid",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}


class UpstreamRepo:
    """A bare repository ``root/<name>.git`` and a scratch clone that writes to it."""

    def __init__(self, root: Path, name: str = "upstream", default_branch: str = "main") -> None:
        self.path = root / f"{name}.git"
        self.work = root / f"{name}-work"
        self.default_branch = default_branch
        self._tick = 0
        self._git("init", "--bare", "-q", "-b", default_branch, str(self.path), cwd=root)
        self._git("init", "-q", "-b", default_branch, str(self.work), cwd=root)
        self._git("remote", "add", "origin", str(self.path))

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def _git(self, *args: str, cwd: Path | None = None) -> str:
        self._tick += 1
        date = f"2026-01-01T00:{self._tick // 60:02d}:{self._tick % 60:02d}Z"
        env = {**os.environ, **_ENV, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        proc = subprocess.run(
            ["git", "-c", "protocol.file.allow=always", *args],
            cwd=cwd or self.work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout.strip()

    def _write(self, files: dict[str, str | None]) -> None:
        for rel, content in files.items():
            path = self.work / rel
            if content is None:
                if path.exists():
                    self._git("rm", "-q", rel)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            self._git("add", rel)

    def commit(
        self, files: dict[str, str | None], message: str = "change", branch: str | None = None
    ) -> str:
        """Commit ``files`` (None deletes) on ``branch`` and push it; returns the SHA."""
        branch = branch or self.default_branch
        if self._has_commits():
            self._git(
                "checkout",
                "-q",
                "-B",
                branch,
                f"origin/{branch}" if self._remote_has(branch) else "HEAD",
            )
        else:
            self._git("checkout", "-q", "-B", branch)
        self._write(files)
        self._git("commit", "-q", "--allow-empty", "-m", message)
        self._git("push", "-q", "origin", f"HEAD:refs/heads/{branch}")
        self._git("fetch", "-q", "origin")
        return self.rev_parse("HEAD")

    def _has_commits(self) -> bool:
        try:
            self._git("rev-parse", "--verify", "-q", "HEAD")
            return True
        except RuntimeError:
            return False

    def _remote_has(self, branch: str) -> bool:
        try:
            self._git("rev-parse", "--verify", "-q", f"origin/{branch}")
            return True
        except RuntimeError:
            return False

    def rev_parse(self, ref: str) -> str:
        if ref != "HEAD" and not ref.startswith("refs/"):
            try:
                return self._git("--git-dir", str(self.path), "rev-parse", "--verify", ref)
            except RuntimeError:
                pass
        return self._git("rev-parse", "--verify", ref)

    def branch(self, name: str, from_ref: str | None = None) -> None:
        start = from_ref or self.default_branch
        sha = self._git("--git-dir", str(self.path), "rev-parse", start)
        self._git("--git-dir", str(self.path), "update-ref", f"refs/heads/{name}", sha)
        self._git("fetch", "-q", "origin")

    def tag(self, name: str, ref: str = "HEAD") -> None:
        sha = self.rev_parse(ref)
        self._git("--git-dir", str(self.path), "update-ref", f"refs/tags/{name}", sha)

    def pull_request(
        self,
        number: int,
        files: dict[str, str | None],
        base: str | None = None,
        message: str = "pull request change",
    ) -> tuple[str, str]:
        """Publish ``refs/pull/<n>/head`` and ``refs/pull/<n>/merge`` like GitHub does."""
        base = base or self.default_branch
        self._git("fetch", "-q", "origin")
        self._git("checkout", "-q", "-B", f"pr-{number}", f"origin/{base}")
        self._write(files)
        self._git("commit", "-q", "--allow-empty", "-m", message)
        head = self.rev_parse("HEAD")
        self._git("push", "-q", "origin", f"HEAD:refs/pull/{number}/head")
        self._git("checkout", "-q", "--detach", f"origin/{base}")
        self._git("merge", "-q", "--no-ff", "-m", f"Merge {head} into {base}", head)
        merge = self.rev_parse("HEAD")
        self._git("push", "-q", "origin", f"HEAD:refs/pull/{number}/merge")
        self._git("checkout", "-q", base)
        return head, merge
