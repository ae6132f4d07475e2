"""Group commit of deliveries, on SQLite (on the event loop) and PostgreSQL (in a thread)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
from collections.abc import Mapping
from typing import Any

from fastapi.testclient import TestClient

from harness.codehost import DeliveryHeader, Trigger
from harness.service.intake import GroupCommit, WebhookIntake
from harness.store import Store
from harness.store.deliveries import Delivery, delivery_counts, list_deliveries


def test_concurrent_deliveries_are_stored_once_each(db_url: str) -> None:
    with Store.open(db_url) as store:
        writer = GroupCommit(store, max_batch=7)

        async def send_all() -> list[bool]:
            ids = [f"d-{i}" for i in range(30)] + ["d-3", "d-3", "d-29"]  # redeliveries
            return await asyncio.gather(
                *(writer.record(Delivery(i, "push", None, "o/r", "{}")) for i in ids)
            )

        # a fresh thread: asyncio.run() must not meet another library's running loop
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            results = pool.submit(asyncio.run, send_all()).result()
        assert results[:30] == [True] * 30
        assert results[30:] == [False, False, False]
        assert delivery_counts(store) == {"push": 30}
        assert len(list_deliveries(store, status="received", limit=100)) == 30


class GitLabStyleTrigger:
    """Another code host's webhooks (GitLab's shape: the secret itself in
    ``X-Gitlab-Token``, ``X-Gitlab-Event``, ``X-Gitlab-Event-UUID``)."""

    handled_events = frozenset({"Merge Request Hook"})
    signature_header = "X-Gitlab-Token"
    naming_headers = ("X-Gitlab-Event", "X-Gitlab-Event-UUID")

    def verify(self, secret: bytes, body: bytes, headers: Mapping[str, str]) -> bool:
        return hmac.compare_digest(secret, headers.get("x-gitlab-token", "").encode())

    def identify(self, headers: Mapping[str, str]) -> DeliveryHeader | None:
        event, uuid = headers.get("x-gitlab-event"), headers.get("x-gitlab-event-uuid")
        return DeliveryHeader(uuid, event) if event and uuid else None

    def subject(self, payload: dict[str, Any]) -> tuple[str | None, str | None]:
        project = payload.get("project") or {}
        attributes = payload.get("object_attributes") or {}
        return project.get("path_with_namespace"), attributes.get("action")

    def parse(self, event: str, payload: Any) -> None:
        return None


def test_the_intake_reads_webhooks_through_its_code_hosts_trigger(db_url: str) -> None:
    trigger = GitLabStyleTrigger()
    assert isinstance(trigger, Trigger)
    payload = {"project": {"path_with_namespace": "group/demo"},
               "object_attributes": {"action": "open"}}  # fmt: skip
    headers = {"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Event-UUID": "u-1"}
    with Store.open(db_url) as store:
        client = TestClient(WebhookIntake(store, b"t0ken", trigger=trigger))
        refused = client.post("/", json=payload, headers=headers | {"X-Gitlab-Token": "no"})
        assert refused.status_code == 401
        assert refused.json() == {"error": "bad or missing X-Gitlab-Token"}
        unnamed = client.post("/", json=payload, headers={"X-Gitlab-Token": "t0ken"})
        assert unnamed.status_code == 400
        assert "X-Gitlab-Event and X-Gitlab-Event-UUID are required" in unnamed.text
        answer = client.post("/", json=payload, headers=headers | {"X-Gitlab-Token": "t0ken"})
        assert answer.status_code == 202
        assert answer.json() == {"delivery": "u-1", "event": "Merge Request Hook",
                                 "duplicate": False, "handled": True}  # fmt: skip
        (stored,) = list_deliveries(store, limit=10)
        assert (stored["delivery_id"], stored["repository"], stored["action"]) == (
            "u-1",
            "group/demo",
            "open",
        )
