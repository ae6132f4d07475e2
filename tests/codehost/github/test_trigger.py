"""Event parsing on GitHub's published example payloads."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from harness.codehost.github.trigger import (
    CheckRunEvent,
    CommentEvent,
    PayloadError,
    PullRequestEvent,
    PushEvent,
    parse_event,
)


def test_every_pull_request_example_parses(
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    for payload in webhook_examples["pull_request"]:
        event = parse_event("pull_request", payload)
        assert isinstance(event, PullRequestEvent)
        assert event.action == payload["action"]
        assert len(event.head_sha) == 40
        assert event.repository == payload["repository"]["full_name"]


def test_labeled_example_carries_the_label(
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    labeled = next(p for p in webhook_examples["pull_request"] if p["action"] == "labeled")
    event = parse_event("pull_request", labeled)
    assert isinstance(event, PullRequestEvent)
    assert event.label == labeled["label"]["name"]
    assert event.installation_id == labeled["installation"]["id"]


def test_comment_check_run_and_push_examples(
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    for payload in webhook_examples["issue_comment"]:
        event = parse_event("issue_comment", payload)
        assert isinstance(event, CommentEvent)
        assert event.is_pull_request == ("pull_request" in payload["issue"])
    rerequested = [p for p in webhook_examples["check_run"] if p["action"] == "rerequested"]
    assert rerequested
    for payload in rerequested:
        event = parse_event("check_run", payload)
        assert isinstance(event, CheckRunEvent)
        assert event.name == payload["check_run"]["name"]
    pushes = [parse_event("push", p) for p in webhook_examples["push"]]
    assert all(isinstance(e, PushEvent) for e in pushes)
    to_master = [e for e in pushes if isinstance(e, PushEvent) and e.to_default_branch]
    assert to_master  # one example pushes to master, the default branch
    assert all(not e.to_default_branch for e in pushes if e.ref.startswith("refs/tags/"))


def test_events_the_service_ignores(webhook_examples: dict[str, list[dict[str, Any]]]) -> None:
    assert parse_event("ping", webhook_examples["ping"][0]) is None
    assert parse_event("star", {}) is None


def test_a_payload_without_what_is_needed_says_which_key(
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    payload = copy.deepcopy(webhook_examples["pull_request"][0])
    del payload["pull_request"]["head"]["sha"]
    with pytest.raises(PayloadError, match=r"pull_request\.head\.sha"):
        parse_event("pull_request", payload)
    payload = copy.deepcopy(webhook_examples["pull_request"][0])
    payload["pull_request"]["number"] = "7"
    with pytest.raises(PayloadError, match=r"'pull_request\.number' is str, not int"):
        parse_event("pull_request", payload)


def test_the_github_trigger_names_and_verifies_deliveries() -> None:
    from harness.codehost import DeliveryHeader, Trigger
    from harness.codehost.github.signature import sign
    from harness.codehost.github.trigger import GitHubTrigger

    trigger = GitHubTrigger()
    assert isinstance(trigger, Trigger)
    body = b'{"action": "opened", "repository": {"full_name": "o/r"}}'
    good = {"x-hub-signature-256": sign(b"k", body)}
    assert trigger.verify(b"k", body, good)
    assert not trigger.verify(b"other", body, good)
    assert not trigger.verify(b"k", body, {})
    named = {"x-github-event": "pull_request", "x-github-delivery": "d-1"}
    assert trigger.identify(named) == DeliveryHeader("d-1", "pull_request")
    assert trigger.identify({"x-github-event": "push"}) is None
    assert trigger.identify(named | {"x-github-delivery": "x" * 65}) is None
    assert trigger.subject({"action": "opened", "repository": {"full_name": "o/r"}}) == (
        "o/r",
        "opened",
    )
    assert trigger.subject({"repository": "not a mapping"}) == (None, None)
    assert trigger.parse("ping", {}) is None
