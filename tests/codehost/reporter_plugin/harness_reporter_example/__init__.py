"""A reporter plugin: posts ``jsonhook`` outbox entries' payloads as JSON to the URL in
``EXAMPLE_JSONHOOK_URL``. Registered as ``jsonhook`` in the ``harness.reporters``
entry-point group (see pyproject.toml)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests

from harness.codehost import Failure, OutboxItem
from harness.codehost.reporters import ReporterContext


class HookError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text}")
        self.status = status


class JsonHookReporter:
    name = "jsonhook"
    kinds = frozenset({"jsonhook"})

    def __init__(self, url: str) -> None:
        self.url = url

    def deliver(self, entry: OutboxItem) -> None:
        body: dict[str, Any] = {"repository": entry.repository, "key": entry.key, **entry.payload}
        answer = requests.post(self.url, json=body, timeout=10)
        if answer.status_code >= 300:
            raise HookError(answer.status_code, answer.text[:200])

    def classify(self, exc: BaseException, at: datetime | None = None) -> Failure:
        status = exc.status if isinstance(exc, HookError) else 0
        retry = status == 0 or status >= 500
        return Failure(retry, None, str(exc)[:300])

    def bucket(self, entry: OutboxItem) -> str:
        return "jsonhook"


def create(context: ReporterContext) -> JsonHookReporter | None:
    """The reporter when ``EXAMPLE_JSONHOOK_URL`` is set, else ``None`` (not configured)."""
    url = context.env.get("EXAMPLE_JSONHOOK_URL")
    return JsonHookReporter(url) if url else None
