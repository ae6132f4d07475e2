"""Where a run's code comes from, and what that allows.

Two facts decide how a cell is treated:

- whether its **author is trusted** (the service's trust gate; on the command line the
  operator, unless ``--untrusted``): untrusted code runs only on an executor that
  isolates it, its steps' network is confined to the package indexes (see
  :mod:`harness.executors.egress`) and no credential the operator named reaches it;
- whether its **commit is on the upstream's default branch** (from the mirror).

A built environment (a virtualenv, a committed image) is shared by later runs only when
it was built from trusted code on the default branch (*shared* scope: every run with the
same dependencies reuses it). Anything else (a pull request's head, a branch, an
untrusted author) builds into a scope of its own commit, reused only by runs of that
very commit and trust, so a pull request's ``setup.py`` can never leave something behind
for a baseline. A checkout with uncommitted changes, or one whose commit is not known,
gets a scope of its own that no later run reuses.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Provenance:
    #: the author (or the operator) is trusted
    author_trusted: bool = True
    #: the commit is on the configured upstream's default branch (None: not known)
    on_default_branch: bool | None = None
    sha: str | None = None
    dirty: bool = False
    #: the source's identity (its mirror key), part of every scope
    source: str = ""

    @property
    def shared(self) -> bool:
        """Whether environments built from this code may be reused by other commits."""
        return self.author_trusted and self.on_default_branch is True and not self.dirty

    @property
    def reusable(self) -> bool:
        """Whether an environment built from this code may be reused at all."""
        return self.shared or (self.sha is not None and not self.dirty)

    def scope(self) -> str:
        """The environment scope (module docstring), part of the environment key."""
        source = hashlib.sha256(self.source.encode()).hexdigest()[:12]
        if self.shared:
            return f"shared:{source}"
        if self.reusable:
            trust = "trusted" if self.author_trusted else "untrusted"
            return f"commit:{source}:{self.sha}:{trust}"
        return f"once:{uuid.uuid4().hex}"

    def describe(self) -> str:
        if self.shared:
            return "shared (trusted code on the default branch)"
        if self.reusable:
            who = "trusted" if self.author_trusted else "untrusted"
            where = "not known to be" if self.on_default_branch is None else "not"
            return f"this commit only ({who} code {where} on the default branch)"
        return "this run only (uncommitted changes or an unknown commit)"
