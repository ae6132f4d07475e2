"""GitHub webhook payloads → the few facts the service acts on (pure).

Only what the dispatcher needs is read, with types checked: a payload GitHub changed or a
forged-but-signed oddity raises :class:`PayloadError` naming the missing key, and the
delivery is marked ``error`` with that line instead of crashing a worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


class PayloadError(ValueError):
    """A payload lacks a key the event needs."""


def _get(payload: Any, path: str, kind: type | tuple[type, ...] = str) -> Any:
    node = payload
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            raise PayloadError(f"the payload has no '{path}'")
        node = node[key]
    if not isinstance(node, kind) or (isinstance(node, bool) and kind is int):
        raise PayloadError(f"'{path}' is {type(node).__name__}, not {_names(kind)}")
    return node


def _names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _opt(payload: Any, path: str, kind: type = str) -> Any:
    try:
        return _get(payload, path, kind)
    except PayloadError:
        return None


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


def parse_event(name: str, payload: Any) -> Event | None:
    """The event in ``payload`` for the webhook event ``name``; ``None`` for events the
    service does not act on (``ping`` among them). Raises :class:`PayloadError`."""
    if name == "pull_request":
        return _pull_request(payload)
    if name == "issue_comment":
        return _comment(payload)
    if name == "check_run":
        return _check_run(payload)
    if name == "push":
        return _push(payload)
    return None


def _installation(payload: Any) -> int | None:
    value = _opt(payload, "installation.id", int)
    return int(value) if value is not None else None


def _pull_request(p: Any) -> PullRequestEvent:
    label = _opt(p, "label.name")
    return PullRequestEvent(
        repository=_get(p, "repository.full_name"),
        action=_get(p, "action"),
        number=_get(p, "pull_request.number", int),
        head_sha=_get(p, "pull_request.head.sha"),
        head_label=_opt(p, "pull_request.head.label"),
        author=_get(p, "pull_request.user.login"),
        association=_get(p, "pull_request.author_association"),
        state=_get(p, "pull_request.state"),
        installation_id=_installation(p),
        sender=_opt(p, "sender.login"),
        label=label,
        updated_at=_timestamp(_opt(p, "pull_request.updated_at")),
    )


def _timestamp(value: Any) -> datetime | None:
    """GitHub's ISO 8601 time (``2019-05-15T15:20:33Z``) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"pull_request.updated_at: {value!r} is not a time") from None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def _comment(p: Any) -> CommentEvent:
    return CommentEvent(
        repository=_get(p, "repository.full_name"),
        action=_get(p, "action"),
        number=_get(p, "issue.number", int),
        is_pull_request=isinstance(_opt(p, "issue.pull_request", dict), dict),
        body=_opt(p, "comment.body") or "",
        commenter=_get(p, "comment.user.login"),
        association=_get(p, "comment.author_association"),
        installation_id=_installation(p),
    )


def _check_run(p: Any) -> CheckRunEvent:
    prs = _opt(p, "check_run.pull_requests", list) or []
    numbers = tuple(
        pr["number"] for pr in prs if isinstance(pr, dict) and type(pr.get("number")) is int
    )
    return CheckRunEvent(
        repository=_get(p, "repository.full_name"),
        action=_get(p, "action"),
        name=_get(p, "check_run.name"),
        head_sha=_get(p, "check_run.head_sha"),
        pr_numbers=numbers,
        installation_id=_installation(p),
        sender=_opt(p, "sender.login"),
    )


def _push(p: Any) -> PushEvent:
    return PushEvent(
        repository=_get(p, "repository.full_name"),
        ref=_get(p, "ref"),
        after=_get(p, "after"),
        default_branch=_get(p, "repository.default_branch"),
        deleted=bool(_opt(p, "deleted", bool)),
        installation_id=_installation(p),
    )
