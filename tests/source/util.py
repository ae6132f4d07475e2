"""Helpers shared by the source tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.source import Checkout
from tests.gitrepos import UpstreamRepo


def build_demo(repo: UpstreamRepo) -> UpstreamRepo:
    """main: v1 (tag v1.0) → v2; dev: v2 → dev."""
    repo.commit({"version.txt": "1\n", "README": "demo\n"}, "v1")
    repo.tag("v1.0")
    repo.commit({"version.txt": "2\n"}, "v2")
    repo.branch("dev")
    repo.commit({"version.txt": "dev\n"}, "on dev", branch="dev")
    return repo


def read(checkout: Checkout, rel: str = "version.txt") -> str:
    return (checkout.path / rel).read_text().strip()


def mirror_of(cache: Path) -> Path:
    (mirror,) = (cache / "mirrors").glob("*.git")
    return mirror


def git_out(*args: str, cwd: Path | None = None) -> str:
    """Run git as a test would (no user config) and return its stripped stdout."""
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()
