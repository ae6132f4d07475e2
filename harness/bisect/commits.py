"""Candidates from git: the commits between a good and a bad one, and what to say of each.

Merges: the candidates are the *first-parent* chain from the bad commit back to (not
including) the good one, oldest first. A regression that came in through a merge is
found as that merge commit (the point where the default branch went bad); the commits
of the merged branch are not tested one by one. This is the question a maintainer of
the default branch asks ("which landing broke us"), it keeps every candidate a state
the default branch was really in, and a merge's PR link names the pull request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import SourceError
from harness.source.git import Git, default_git_timeout

_PR_RES = (re.compile(r"\(#(\d+)\)\s*$"), re.compile(r"^Merge pull request #(\d+)\b"))


@dataclass(frozen=True, slots=True)
class Commit:
    sha: str
    subject: str
    author: str
    date: str
    parents: tuple[str, ...]
    #: the pull request it came from (``(#123)`` in a squash subject, or GitHub's
    #: "Merge pull request #123"), ``None`` when the subject does not say
    pr: int | None = None

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1

    def pr_url(self, repo: str) -> str | None:
        """The PR's page on GitHub for upstream ``repo`` (owner/name)."""
        return f"https://github.com/{repo}/pull/{self.pr}" if self.pr is not None else None

    def as_json(self, repo: str) -> dict[str, object]:
        return {
            "sha": self.sha,
            "subject": self.subject,
            "author": self.author,
            "date": self.date,
            "merge": self.is_merge,
            "pr": self.pr,
            "pr_url": self.pr_url(repo),
        }


def pr_number(subject: str) -> int | None:
    """The pull request a commit subject names, if any."""
    for pattern in _PR_RES:
        if m := pattern.search(subject):
            return int(m.group(1))
    return None


class History:
    """Reads commits from a (bare) repository, e.g. a harness mirror."""

    def __init__(self, git_dir: Path, *, timeout: float | None = None) -> None:
        self.git_dir = git_dir
        self.git = Git(timeout if timeout is not None else default_git_timeout())

    def _git(self, *args: str, what: str) -> str:
        return self.git("--git-dir", str(self.git_dir), *args, what=what).stdout

    def resolve(self, ref: str) -> str:
        """The commit ``ref`` names (a SHA, branch, tag)."""
        out = self._git(
            "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", what=f"no commit '{ref}'"
        )
        return out.strip()

    def commit(self, sha: str) -> Commit:
        out = self._git(
            "log",
            "-1",
            "--format=%H%x00%s%x00%an <%ae>%x00%aI%x00%P",
            sha,
            what=f"cannot read commit {sha[:12]}",
        )
        full, subject, author, date, parents = out.rstrip("\n").split("\x00")
        return Commit(full, subject, author, date, tuple(parents.split()), pr_number(subject))

    def candidates(self, good: str, bad: str) -> list[str]:
        """The first-parent commits after ``good`` up to and including ``bad``, oldest
        first. Raises SourceError when ``good`` is not an ancestor of ``bad``."""
        check = self.git(
            "--git-dir", str(self.git_dir), "merge-base", "--is-ancestor", good, bad, check=False
        )
        if check.returncode != 0:
            raise SourceError(
                f"the good commit {good[:12]} is not an ancestor of the bad one {bad[:12]}",
                hint="pass --good a commit older than --bad on the same history",
            )
        out = self._git(
            "rev-list",
            "--first-parent",
            "--reverse",
            f"{good}..{bad}",
            what="cannot list the commits between good and bad",
        )
        return out.split()
