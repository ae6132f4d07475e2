"""GitHub's webhooks → the harness's events (pure): the GitHub :class:`~harness.codehost.
Trigger`.

A request is GitHub's when ``X-Hub-Signature-256`` signs its body
(:mod:`harness.codehost.github.signature`); ``X-GitHub-Event`` and ``X-GitHub-Delivery``
name it. Only what the dispatcher needs is read from the payload, with types checked: a
payload GitHub changed or a forged-but-signed oddity raises :class:`PayloadError` naming
the missing key, and the delivery is marked ``error`` with that line instead of crashing
a worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from harness.codehost import DeliveryHeader
from harness.codehost.events import (
    CheckRunEvent,
    CommentEvent,
    Event,
    PayloadError,
    PullRequestEvent,
    PushEvent,
)
from harness.codehost.github.signature import verify

#: events the service acts on (others are recorded, then ignored by the worker)
HANDLED_EVENTS = frozenset({"ping", "pull_request", "issue_comment", "check_run", "push"})
#: the longest event name and delivery id taken
MAX_NAME = 64


class GitHubTrigger:
    """GitHub's webhook deliveries (:class:`harness.codehost.Trigger`)."""

    name = "github"
    handled_events = HANDLED_EVENTS

    def verify(self, secret: bytes, body: bytes, headers: Mapping[str, str]) -> bool:
        return verify(secret, body, headers.get("x-hub-signature-256"))

    signature_header = "X-Hub-Signature-256"
    naming_headers: tuple[str, ...] = ("X-GitHub-Event", "X-GitHub-Delivery")

    def identify(self, headers: Mapping[str, str]) -> DeliveryHeader | None:
        event = headers.get("x-github-event", "").strip()
        delivery_id = headers.get("x-github-delivery", "").strip()
        if not event or not delivery_id or len(delivery_id) > MAX_NAME or len(event) > MAX_NAME:
            return None
        return DeliveryHeader(delivery_id=delivery_id, event=event)

    def subject(self, payload: dict[str, Any]) -> tuple[str | None, str | None]:
        repo = payload.get("repository")
        full_name = repo.get("full_name") if isinstance(repo, dict) else None
        action = payload.get("action")
        return (
            str(full_name)[:200] if isinstance(full_name, str) else None,
            str(action)[:64] if isinstance(action, str) else None,
        )

    def parse(self, event: str, payload: Any) -> Event | None:
        return parse_event(event, payload)


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
