"""The harness's own events: what a code host's webhook deliveries mean to the service.

A driver's trigger (:class:`harness.codehost.Trigger`; GitHub: :mod:`harness.codehost.
github.trigger`) turns a payload into one of these; the dispatcher (:mod:`harness.service.
dispatch`) acts on them and never sees a payload. A payload lacking what an event needs
raises :class:`PayloadError` naming the missing key, and the delivery is marked ``error``
with that line instead of crashing a worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class PayloadError(ValueError):
    """A payload lacks a key the event needs."""


@dataclass(frozen=True, slots=True)
class PullRequestEvent:
    repository: str
    action: str
    number: int
    head_sha: str
    #: ``owner:branch``
    head_label: str | None
    author: str
    association: str
    state: str
    installation_id: int | None
    sender: str | None
    #: for ``labeled``
    label: str | None
    #: GitHub's ``pull_request.updated_at``: orders deliveries (they arrive in any order)
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CommentEvent:
    repository: str
    action: str
    number: int
    is_pull_request: bool
    body: str
    commenter: str
    association: str
    installation_id: int | None


@dataclass(frozen=True, slots=True)
class CheckRunEvent:
    repository: str
    action: str
    name: str
    head_sha: str
    pr_numbers: tuple[int, ...]
    installation_id: int | None
    sender: str | None


@dataclass(frozen=True, slots=True)
class PushEvent:
    repository: str
    ref: str
    after: str
    default_branch: str
    deleted: bool
    installation_id: int | None

    @property
    def branch(self) -> str | None:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None

    @property
    def to_default_branch(self) -> bool:
        return self.branch == self.default_branch and not self.deleted


Event = PullRequestEvent | CommentEvent | CheckRunEvent | PushEvent
