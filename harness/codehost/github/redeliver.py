"""Redelivery sweeper: ask GitHub to deliver again what the intake did not take.

GitHub never redelivers a webhook by itself. The intake answers 202 whenever it can (the
database, else the local journal), but a delivery still fails when the server was down,
unreachable, or its journal's disk failed too (503). A GitHub App can list its recent
deliveries (``GET /app/hook/deliveries``, newest first, with the status each got) and
ask for one again (``POST /app/hook/deliveries/{id}/attempts``), as GitHub documents for
failed deliveries. The sweep does that for a delivery when

* its newest attempt failed in a way a retry can fix (no answer, a timeout, 5xx, 429),
* no attempt with the same ``guid`` (GitHub's ``X-GitHub-Delivery``) succeeded,
* the delivery is not in the database (a success whose answer was lost is not redone),
* GitHub has not already tried it ``max_attempts`` times.

A 4xx answer (401: a wrong secret; 413: too big) is not retried: the same request would
get the same answer; ``harness redeliver --json`` lists them for the operator. Runs as
``harness redeliver`` and, with App credentials, inside ``harness serve`` every few
minutes. Needs the App's JWT (not an installation token): only App credentials work.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

from github import Auth, Github

from harness.codehost.github.client import Credentials
from harness.errors import ConfigError
from harness.store import Store

log = logging.getLogger("harness.codehost.github.redeliver")
#: a session authenticated as the App (for those outside this package to name its type)
AppSession = Github

PER_PAGE = 100
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


@dataclass
class SweepResult:
    listed: int = 0
    #: guids GitHub was asked to deliver again
    asked: list[str] = field(default_factory=list)
    #: failed for a reason a retry cannot fix (guid → status)
    refused: dict[str, str] = field(default_factory=dict)
    #: asked often enough already
    given_up: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "listed": self.listed,
            "asked": self.asked,
            "refused": self.refused,
            "given_up": self.given_up,
        }


def retryable(item: dict[str, Any]) -> bool:
    """A failed attempt a redelivery can fix: no answer or a timeout, 5xx, 429, 408."""
    code = int(item.get("status_code") or 0)
    return code == 0 or code >= 500 or code in {408, 429}


def succeeded(item: dict[str, Any]) -> bool:
    return 200 <= int(item.get("status_code") or 0) < 300


def app_session(credentials: Credentials, timeout: int = 20) -> Github:
    """A session authenticated as the App itself (JWT), for the ``/app`` endpoints."""
    if not credentials.app_id:
        raise ConfigError(
            "redelivery needs GitHub App credentials (HARNESS_GITHUB_APP_ID and "
            "HARNESS_GITHUB_APP_KEY_FILE): a token cannot list the App's deliveries"
        )
    auth = Auth.AppAuth(credentials.app_id, credentials.app_key or "")
    return Github(base_url=credentials.api_url, auth=auth, timeout=timeout, retry=None)


def _pages(gh: Github, since: datetime, max_pages: int) -> Iterator[dict[str, Any]]:
    """Deliveries newer than ``since``, newest first (cursor pagination)."""
    params: dict[str, Any] = {"per_page": PER_PAGE}
    for _ in range(max_pages):
        headers, data = gh.requester.requestJsonAndCheck(
            "GET", "/app/hook/deliveries", parameters=params
        )
        for item in data or []:
            delivered = _when(item.get("delivered_at"))
            if delivered is not None and delivered < since:
                return
            yield item
        link = next((v for k, v in (headers or {}).items() if k.lower() == "link"), "")
        m = _NEXT.search(link or "")
        cursor = parse_qs(urlparse(m.group(1)).query).get("cursor") if m else None
        if not cursor:
            return
        params = {"per_page": PER_PAGE, "cursor": cursor[0]}


def _when(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _stored(store: Store, guids: list[str]) -> set[str]:
    if not guids:
        return set()
    with store.reading("looking up deliveries") as r:
        return r.deliveries.stored(guids)


def sweep(
    store: Store,
    gh: Github,
    *,
    window: timedelta = timedelta(hours=6),
    max_attempts: int = 3,
    max_pages: int = 10,
) -> SweepResult:
    """Ask GitHub to redeliver what failed in the last ``window`` (module docstring)."""
    since = datetime.now(UTC) - window
    result = SweepResult()
    newest: dict[str, dict[str, Any]] = {}  # guid → its newest attempt
    tries: dict[str, int] = {}
    ok: set[str] = set()
    for item in _pages(gh, since, max_pages):
        result.listed += 1
        guid = str(item.get("guid") or "")
        if not guid:
            continue
        newest.setdefault(guid, item)
        tries[guid] = tries.get(guid, 0) + 1
        if succeeded(item):
            ok.add(guid)
    failed = [g for g, item in newest.items() if g not in ok and not succeeded(item)]
    stored = _stored(store, failed)
    for guid in failed:
        item = newest[guid]
        if guid in stored:
            continue  # the intake has it; only its answer was lost
        if not retryable(item):
            result.refused[guid] = f"{item.get('status_code')} {item.get('status') or ''}".strip()
            continue
        if tries[guid] > max_attempts:
            result.given_up.append(guid)
            continue
        gh.requester.requestJsonAndCheck("POST", f"/app/hook/deliveries/{item['id']}/attempts")
        result.asked.append(guid)
        log.warning(
            "asked GitHub to redeliver %s (%s%s, %s), which got %s",
            guid,
            item.get("event"),
            f".{item['action']}" if item.get("action") else "",
            item.get("delivered_at"),
            item.get("status_code"),
        )
    return result
