"""The chat reporter against a real incoming webhook (an HTTP server in a thread),
through the real outbox and sender: what is posted, retries, dead letters, rate limits,
and the webhook URL kept secret."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.codehost.chat import ChatReporter, render, reporter_for
from harness.config.service import ServiceConfig, load_service_config
from harness.errors import ConfigError
from harness.service import outbox
from harness.service.sender import Sender
from harness.store import Store
from tests.chat_webhook import PATH, Answer, ChatWebhook, chat_webhook

REPO = "example/demo"
SECRET_PART = PATH.rsplit("/", 1)[1]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    yield s
    s.close()


@pytest.fixture
def hook() -> Iterator[ChatWebhook]:
    with chat_webhook() as h:
        yield h


def notification(**over: Any) -> dict[str, Any]:
    return {
        "event": "new_failures",
        "sha": "a" * 40,
        "pr": 7,
        "branch": None,
        "cell": "demo/cpu/host",
        "run_id": 3,
        "tests": ["tests/test_basic.py::test_pass"],
        "count": 1,
        "details_url": "http://ci.example/runs/3",
        "mention": "<!subteam^S0VENDOR>",
    } | over


def put(store: Store, key: str = "chat:new_failures:3", **over: Any) -> int:
    payload = notification(**over)
    with store.transaction("t") as tx:
        return tx.outbox.put(REPO, "chat", key, payload)


def sender(store: Store, url: str) -> Sender:
    return Sender(store, [ChatReporter({REPO: url}, timeout_s=5)], "sender-1")


def entry(store: Store, entry_id: int) -> outbox.Entry:
    return next(e for e in outbox.list_entries(store) if e.id == entry_id)


def test_a_notification_is_posted_as_incoming_webhook_json(store: Store, hook: ChatWebhook) -> None:
    put(store)
    assert sender(store, hook.url).send_due().sent == 1
    (body,) = hook.bodies()
    text = "<!subteam^S0VENDOR> example/demo PR #7 at aaaaaaaaaaaa: 1 new failure in demo/cpu/host"
    assert body == {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "• `tests/test_basic.py::test_pass`"},
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": "<http://ci.example/runs/3|details>"},
                    {"type": "mrkdwn", "text": "harness notification chat:new_failures:3"},
                ],
            },
        ],
    }
    assert sender(store, hook.url).send_due().sent == 0  # sent once


def test_a_broken_trunk_message_and_long_lists() -> None:
    tests = [f"t::case{i}" for i in range(12)]
    body = render(REPO, "k", notification(event="broken_trunk", branch="main", tests=tests,
                                          count=12, pr=None, mention=""))  # fmt: skip
    assert body["text"] == (
        "Broken trunk: example/demo main at aaaaaaaaaaaa: 12 new failures in demo/cpu/host"
    )
    listed = body["blocks"][1]["text"]["text"].splitlines()
    assert len(listed) == 11
    assert listed[-1] == "… and 2 more"


def test_a_server_error_is_retried_then_sent(store: Store, hook: ChatWebhook) -> None:
    hook.script = [Answer(500, "internal_error", {"Retry-After": "1"})]
    entry_id = put(store)
    s = sender(store, hook.url)
    assert s.send_due().retried == 1
    waiting = entry(store, entry_id)
    assert (waiting.state, waiting.last_error) == ("pending", "HTTP 500: internal_error")
    assert s.send_due().sent == 0  # not due yet
    time.sleep(1.2)
    assert s.send_due().sent == 1
    first, second = hook.bodies()
    assert first == second
    assert entry(store, entry_id).state == "sent"


def test_a_server_error_without_retry_after_backs_off(store: Store, hook: ChatWebhook) -> None:
    hook.script = [Answer(503, "unavailable")]
    entry_id = put(store)
    assert sender(store, hook.url).send_due().retried == 1
    wait = (entry(store, entry_id).next_attempt_at - datetime.now(UTC)).total_seconds()
    assert 3.0 < wait < 7.0  # backoff: 5 s +-20 %


def test_a_404_is_dead_lettered_without_showing_the_url(store: Store, hook: ChatWebhook) -> None:
    entry_id = put(store)
    revoked = hook.url.replace(SECRET_PART, "revokedT0ken")
    result = sender(store, revoked).send_due()
    assert (result.sent, result.retried, result.dead) == (0, 0, 1)
    dead = entry(store, entry_id)
    assert dead.state == "dead"
    assert dead.last_error == "HTTP 404: no_service"
    # re-sent once the operator fixed the webhook
    assert outbox.retry(store) == [entry_id]
    assert sender(store, hook.url).send_due().sent == 1


def test_an_unreachable_webhook_is_retried_and_its_url_redacted(store: Store) -> None:
    with chat_webhook() as gone:
        url = gone.url
    entry_id = put(store)
    assert sender(store, url).send_due().retried == 1
    error = entry(store, entry_id).last_error or ""
    assert "ConnectionError" in error
    assert SECRET_PART not in error
    assert url not in error
    assert "<chat webhook>" in error


def test_a_rate_limit_holds_back_every_message_to_the_webhook(
    store: Store, hook: ChatWebhook
) -> None:
    hook.script = [Answer(429, "rate_limited", {"Retry-After": "2"})]
    put(store, "chat:new_failures:3")
    put(store, "chat:new_failures:4", run_id=4)
    s = sender(store, hook.url)
    result = s.send_due()
    assert (result.sent, result.retried) == (0, 2)
    assert len(hook.bodies()) == 1  # the second was held back, not posted
    errors = sorted(e.last_error or "" for e in outbox.list_entries(store))
    assert errors[0].startswith("held back: rate limited until")
    assert errors[1] == "rate limited (HTTP 429: rate_limited)"
    time.sleep(2.2)
    assert s.send_due().sent == 2


def test_the_webhook_url_comes_from_an_environment_variable_or_a_file(tmp_path: Path) -> None:
    text = """\
upstreams:
  example/demo:
    chat: {webhook_url_env: ACME_CHAT_URL}
  example/other:
    chat: {webhook_url_file: %s, notify: [broken_trunk]}
  example/quiet: {}
"""
    secret_file = tmp_path / "chat-url"
    secret_file.write_text("https://hooks.example/services/T/B/fromfile\n")
    config = load_service_config(tmp_path / "c.yaml", text % secret_file)
    reporter = reporter_for(config, {"ACME_CHAT_URL": "https://hooks.example/services/T/B/x"})
    assert reporter is not None
    assert "services" not in repr(reporter)
    assert reporter.redact("POST https://hooks.example/services/T/B/fromfile failed") == (
        "POST <chat webhook> failed"
    )
    with pytest.raises(ConfigError, match="ACME_CHAT_URL is not set"):
        reporter_for(config, {})
    with pytest.raises(ConfigError, match="not an http") as raised:
        reporter_for(config, {"ACME_CHAT_URL": "hooks.example/s3cret"})
    assert "s3cret" not in str(raised.value)
    quiet = load_service_config(tmp_path / "c.yaml", "upstreams:\n  example/demo: {}\n")
    assert reporter_for(quiet, {}) is None


def test_chat_configuration_is_validated(tmp_path: Path) -> None:
    def load(chat: str) -> ServiceConfig:
        return load_service_config(tmp_path / "c.yaml", f"upstreams:\n  a/b:\n    chat: {chat}\n")

    with pytest.raises(ConfigError, match="did you mean 'webhook_url_env'"):
        load("{webhook_url_evn: X}")
    with pytest.raises(ConfigError, match="one of webhook_url_env and webhook_url_file, not both"):
        load("{webhook_url_env: X, webhook_url_file: /f}")
    with pytest.raises(ConfigError, match="webhook_url_env: String should match pattern"):
        load("{webhook_url_env: 'not a name'}")
    assert not load("{notify: [broken_trunk]}").upstreams["a/b"].chat.enabled
    with pytest.raises(ConfigError, match="'new_failures' or 'broken_trunk'"):
        load("{webhook_url_env: X, notify: [broken]}")


# A sender in a process of its own, killed by a failpoint the moment the webhook has
# taken a message and before the outbox knows: an incoming webhook cannot be asked what
# it received, so the next sender posts that message again (at least once, as documented)
KILLED_SENDER = """\
import sys
from harness.codehost.chat import ChatReporter
from harness.service.sender import Sender
from harness.store import Store

store = Store.open(sys.argv[1])
Sender(store, [ChatReporter({sys.argv[3]: sys.argv[2]})], "doomed", lease_s=0.2).send_due()
"""


def test_a_sender_killed_after_the_post_repeats_the_message_with_its_key(
    store: Store, hook: ChatWebhook
) -> None:
    entry_id = put(store)
    db = store.engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "HARNESS_FAILPOINTS": "sender.posted.chat=kill"}
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_SENDER, db, hook.url, REPO],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert len(hook.bodies()) == 1
    assert entry(store, entry_id).state == "sending"  # the outbox never learnt
    time.sleep(0.3)  # its lease runs out
    assert sender(store, hook.url).send_due().sent == 1
    first, again = hook.bodies()
    assert first == again
    assert first["blocks"][-1]["elements"][-1]["text"] == "harness notification chat:new_failures:3"
    assert entry(store, entry_id).state == "sent"
