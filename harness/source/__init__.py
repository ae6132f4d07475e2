"""Upstream source: a mirror cache per upstream and a worktree per run at an exact SHA.

Mirrors live in ``<cache>/mirrors/<slug>.git`` (bare), one per upstream URL, reused across
refs and runs. A fetch brings branches and tags (incremental, pruned) plus the one ref asked
for when it lies outside them: a pull-request ref (``refs/pull/N/head``, ``refs/pull/N/merge``;
also ``pull/N/head``, ``pr/N``, ``pr/N/merge``) or any other ``refs/...`` name, never all pull
refs of a large upstream. A full SHA missing after the fetch is fetched directly (GitHub
serves reachable SHAs). The worktree is detached at the resolved SHA, with submodules. An
exclusive file lock per mirror (``<slug>.lock``) serialises the harness processes sharing a
cache.

A local directory given without a ref is used in place: its current files, its HEAD SHA
when it is a git work tree, and whether it has uncommitted changes.

Git never prompts (``GIT_TERMINAL_PROMPT=0``, ssh in batch mode), runs in its own process
group and is killed with it after ``git_timeout`` seconds (``HARNESS_GIT_TIMEOUT``, default
900). Every git failure is a :class:`~harness.errors.SourceError` naming the command, the end
of git's stderr and a hint, with credentials in URLs masked.
"""

from __future__ import annotations

from harness.source.checkout import (
    Checkout,
    SourceKind,
    prepare_source,
    release_checkout,
    resolve_source_kind,
)
from harness.source.git import (
    DEFAULT_GIT_TIMEOUT_S,
    mask_url,
    mirror_path,
    mirror_slug,
    source_identity,
)
from harness.source.refs import normalize_pr_ref

__all__ = [
    "DEFAULT_GIT_TIMEOUT_S",
    "Checkout",
    "SourceKind",
    "mask_url",
    "mirror_path",
    "mirror_slug",
    "normalize_pr_ref",
    "prepare_source",
    "release_checkout",
    "resolve_source_kind",
    "source_identity",
]
