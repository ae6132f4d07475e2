"""The intake answers GitHub in time whatever the database does, and loses nothing: a
delivery the database cannot take within the bounded wait is journaled on local disk,
answered 202, and loaded once the database answers (with a real ``harness serve`` whose
SQLite file another process holds locked)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import httpx2 as httpx

from harness.service.journal import Journal
from harness.store import Store
from harness.store.deliveries import Delivery, delivery_counts
from tests.service.support import (
    Service,
    deliver,
    pr_payload,
    service_env,
    wait_for,
)

#: GitHub's own limit for an answer to a delivery
GITHUB_TIMEOUT_S = 10.0


def delivery(n: int) -> Delivery:
    return Delivery(f"d-{n}", "ping", None, "o/r", json.dumps({"zen": n}))


def test_a_journaled_batch_is_loaded_once(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal")
    journal.append([delivery(1), delivery(2)])
    journal.append([delivery(2), delivery(3)])  # a redelivery journaled twice
    (tmp_path / "journal" / ".half-written.tmp").write_text("{")  # a crash mid-write
    assert len(journal.pending()) == 2
    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as store:
        assert journal.load_into(store) == 4
        assert delivery_counts(store) == {"ping": 3}
        assert journal.pending() == []
        assert journal.load_into(store) == 0


def test_a_locked_database_does_not_make_github_wait_or_lose_a_delivery(
    tmp_path: Path,
    gh: Any,
    shared_cache: Path,
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    suites = tmp_path / "suites"
    suites.mkdir()
    db = tmp_path / "harness.db"
    svc = Service(tmp_path, suites, f"sqlite:///{db}", service_env(gh, shared_cache), workers=0)
    lock = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        ids = []
        for n in range(5):
            payload = pr_payload(webhook_examples, "opened", number=40 + n, head=f"{n:040x}")
            delivery_id = str(uuid.uuid4())
            r = deliver(svc.url, "pull_request", payload, delivery=delivery_id)
            assert r.status_code == 202, r.text
            assert r.json()["journaled"] is True
            ids.append(delivery_id)
        stranger = pr_payload(webhook_examples, "opened", number=1, head="f" * 40)
        forged = deliver(svc.url, "pull_request", stranger, secret=b"not-the-secret")
        assert forged.status_code == 401
        lock.execute("ROLLBACK")  # the database answers again
    finally:
        lock.close()
    try:
        stored = wait_for(
            lambda: (
                {d["delivery_id"] for d in svc.api("/api/deliveries")["deliveries"]} >= set(ids)
            ),
            120,
            "the journaled deliveries to reach the database",
            svc,
        )
        assert stored
        assert "journaled" in svc.logs()
        r = httpx.get(f"{svc.url}/healthz", timeout=GITHUB_TIMEOUT_S)
        assert r.json()["status"] == "ok"  # nothing left waiting in the journal
    finally:
        svc.close()
