"""The chat reporter: notifications for the vendor team through a Slack-compatible
incoming webhook (registered as ``chat``; entries of kind ``chat``).

What is notified is decided by the service (:mod:`harness.service.notify`): a pull
request's run with new failures, and a broken trunk (a default-branch run with new
failures). The entry's payload holds those facts; this module renders them as the JSON
incoming webhooks take (``text`` for notifications and clients without blocks, plus
``blocks``) and posts it.

Configured per upstream in the service configuration (``chat:`` with
``webhook_url_env`` or ``webhook_url_file``): the URL is a secret, read when the worker
starts, never stored in the database and replaced by ``<chat webhook>`` in every error
message and log line.

Delivery is *at least once*: an incoming webhook cannot be asked what it already
received, so a sender killed between the POST and marking the entry sent posts that
message again when the entry is resumed. Each message ends with its notification key
(``harness notification chat:…``) so a repeat is recognisable. Answers: 2xx is sent;
429 waits for ``Retry-After`` (every message to that webhook is held back); 5xx, 408 and
network errors or timeouts are retried with backoff; other 4xx (a revoked or wrong
webhook: 404, 410, 403) go to the dead letters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from harness.codehost import Failure, OutboxItem
from harness.config.service import ServiceConfig
from harness.errors import ConfigError

KIND = "chat"
TIMEOUT_S = 10.0
#: Slack's limits: a section's text, the blocks of a message; tests listed per message
MAX_SECTION, MAX_TESTS = 3000, 10
REDACTED = "<chat webhook>"


class ChatError(Exception):
    """A webhook's answer other than 2xx."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def read_url(repository: str, env_name: str, file_name: str, env: Mapping[str, str]) -> str:
    """The webhook URL of ``repository`` from the variable or file named in its config."""
    if env_name:
        url = env.get(env_name, "").strip()
        if not url:
            raise ConfigError(
                f"chat for {repository}: the environment variable {env_name} is not set",
                hint="it holds the incoming-webhook URL (a secret, never put in the config)",
            )
    else:
        try:
            url = Path(file_name).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"chat for {repository}: cannot read the webhook URL from {file_name}: "
                f"{exc.strerror}"
            ) from None
        if not url:
            raise ConfigError(f"chat for {repository}: {file_name} is empty")
    if not url.startswith(("https://", "http://")):
        raise ConfigError(
            f"chat for {repository}: the webhook URL is not an http(s) URL "
            f"(read from {env_name or file_name}; its value is not shown)"
        )
    return url


def reporter_for(config: ServiceConfig | None, env: Mapping[str, str]) -> ChatReporter | None:
    """The chat reporter for the upstreams with ``chat:``; ``None`` when none has it."""
    if config is None:
        return None
    urls = {
        name.lower(): read_url(name, up.chat.webhook_url_env, up.chat.webhook_url_file, env)
        for name, up in config.upstreams.items()
        if up.chat.enabled
    }
    return ChatReporter(urls) if urls else None


class ChatReporter:
    """Posts ``chat`` entries to their upstream's incoming webhook."""

    name = "chat"
    kinds = frozenset({KIND})

    def __init__(self, urls: Mapping[str, str], timeout_s: float = TIMEOUT_S) -> None:
        #: repository (lower case) → webhook URL (a secret)
        self._urls = {k.lower(): v for k, v in urls.items()}
        self.timeout_s = timeout_s
        self._http = requests.Session()

    def __repr__(self) -> str:  # never the URLs
        return f"ChatReporter({len(self._urls)} webhook(s))"

    def _url(self, repository: str) -> str:
        url = self._urls.get(repository.lower())
        if url is None:
            raise ChatError(0, f"no chat webhook is configured for {repository}")
        return url

    def redact(self, text: str) -> str:
        """``text`` without any webhook URL (nor its path, which carries the secret)."""
        for url in self._urls.values():
            text = text.replace(url, REDACTED)
            path = url.split("://", 1)[-1].partition("/")[2]
            if path:
                text = text.replace("/" + path, f"/{REDACTED}")
        return text

    def bucket(self, entry: OutboxItem) -> str:
        """One webhook: a 429 holds back every message to it (never the URL itself)."""
        url = self._urls.get(entry.repository.lower(), entry.repository)
        return "chat:" + hashlib.sha256(url.encode()).hexdigest()[:16]

    def deliver(self, entry: OutboxItem) -> None:
        url = self._url(entry.repository)
        body = render(entry.repository, entry.key, entry.payload)
        try:
            answer = self._http.post(url, json=body, timeout=self.timeout_s, allow_redirects=False)
        except requests.RequestException as exc:
            # the exception's text names the URL: the secret
            raise ChatError(-1, self.redact(f"{type(exc).__name__}: {exc}")) from None
        if 200 <= answer.status_code < 300:
            return
        retry_after = answer.headers.get("Retry-After", "").strip()
        raise ChatError(
            answer.status_code,
            f"HTTP {answer.status_code}: {self.redact(answer.text[:200]).strip()}".rstrip(": "),
            float(retry_after) if retry_after.isdigit() else None,
        )

    def classify(self, exc: BaseException, at: datetime | None = None) -> Failure:
        if not isinstance(exc, ChatError):
            return Failure(False, None, self.redact(f"{type(exc).__name__}: {exc}")[:300])
        message = str(exc)[:300]
        if exc.status == 429:
            delay = exc.retry_after if exc.retry_after is not None else 60.0
            return Failure(True, delay, f"rate limited ({message})", rate_limited=True)
        if exc.status < 0 or exc.status >= 500 or exc.status == 408:
            return Failure(True, exc.retry_after, message)
        return Failure(False, None, message)


def _tests_text(tests: list[str], total: int) -> str:
    lines = [f"• `{t}`" for t in tests[:MAX_TESTS]]
    if total > len(lines):
        lines.append(f"… and {total - len(lines)} more")
    return "\n".join(lines)


def render(repository: str, key: str, p: Mapping[str, Any]) -> dict[str, Any]:
    """The incoming-webhook JSON for a notification payload (``text`` + ``blocks``)."""
    tests = [str(t) for t in p.get("tests") or []]
    total = int(p.get("count") or len(tests))
    sha = str(p.get("sha") or "")[:12]
    cell = str(p.get("cell") or "")
    noun = "new failure" if total == 1 else "new failures"
    if p.get("event") == "broken_trunk":
        headline = (
            f"Broken trunk: {repository} {p.get('branch') or 'default branch'} at {sha}: "
            f"{total} {noun} in {cell}"
        )
    else:
        headline = f"{repository} PR #{p.get('pr')} at {sha}: {total} {noun} in {cell}"
    mention = str(p.get("mention") or "")
    text = f"{mention} {headline}".strip()
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_SECTION]}}
    ]
    if tests:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _tests_text(tests, total)[:MAX_SECTION]},
            }
        )
    context = [{"type": "mrkdwn", "text": f"harness notification {key}"}]
    if p.get("details_url"):
        context.insert(0, {"type": "mrkdwn", "text": f"<{p['details_url']}|details>"})
    blocks.append({"type": "context", "elements": context})
    return {"text": text, "blocks": blocks}
