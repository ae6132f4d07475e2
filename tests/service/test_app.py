"""The webhook intake with GitHub's real example payloads: signed deliveries are stored
once and answered 202; forged, unsigned, oversized and malformed ones are refused and
leave nothing behind; a real ``harness serve`` process answers over HTTP."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx  # what starlette's TestClient uses too
import pytest
from fastapi.testclient import TestClient

from harness.codehost.github.signature import sign, verify
from harness.service.app import create_app
from harness.store import Store
from harness.store.deliveries import delivery_counts, get_delivery

SECRET = b"It's a Secret to Everybody"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'svc.db'}") as s:
        yield s


@pytest.fixture
def client(store: Store) -> TestClient:
    return TestClient(create_app(store, SECRET, max_body=1 << 20))


def deliver(
    client: TestClient,
    event: str,
    payload: dict[str, Any],
    delivery: str,
    *,
    secret: bytes = SECRET,
    signature: str | None = None,
) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": signature if signature is not None else sign(secret, body),
        "Content-Type": "application/json",
    }
    return client.post("/webhook", content=body, headers=headers)


def test_signature_check() -> None:
    # GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign(SECRET, b"Hello, World!") == expected
    assert verify(SECRET, b"Hello, World!", expected)
    assert not verify(SECRET, b"Hello, World?", expected)
    assert not verify(SECRET, b"Hello, World!", expected.replace("sha256=", "sha1="))
    assert not verify(SECRET, b"Hello, World!", None)
    assert not verify(b"", b"Hello, World!", expected)


def test_real_payloads_are_stored_once_per_delivery(
    client: TestClient, store: Store, webhook_examples: dict[str, list[dict[str, Any]]]
) -> None:
    events = ["ping", "pull_request", "issue_comment", "check_run", "push", "star"]
    n = 0
    for event in events:
        for i, payload in enumerate(webhook_examples[event]):
            n += 1
            res = deliver(client, event, payload, f"{event}-{i}")
            assert res.status_code == 202, res.text
            assert res.json() == {
                "delivery": f"{event}-{i}",
                "event": event,
                "duplicate": False,
                "handled": event != "star",
            }
    counts = delivery_counts(store)
    assert sum(counts.values()) == n
    assert counts["pull_request"] == len(webhook_examples["pull_request"])
    opened = next(p for p in webhook_examples["pull_request"] if p.get("action") == "opened")
    idx = webhook_examples["pull_request"].index(opened)
    row = get_delivery(store, f"pull_request-{idx}")
    assert row is not None
    assert (row["action"], row["repository"]) == ("opened", opened["repository"]["full_name"])
    assert json.loads(str(row["payload"])) == opened
    # GitHub redelivers with the same delivery id: recognised, nothing stored twice
    again = deliver(client, "pull_request", opened, f"pull_request-{idx}")
    assert again.status_code == 202
    assert again.json()["duplicate"] is True
    assert sum(delivery_counts(store).values()) == n
    metrics = client.get("/metrics").text
    assert 'harness_webhook_deliveries_total{outcome="duplicate"} 1' in metrics
    assert 'harness_webhook_deliveries_total{outcome="accepted",event="pull_request"}' in metrics
    assert "harness_reports_overdue 0" in metrics
    # not yet acted on: the worker's job
    listed = client.get("/api/deliveries", params={"status": "received"}).json()["deliveries"]
    assert len(listed) == n
    assert "payload" not in listed[0]
    assert client.get("/api/queue").json() == {"items": []}


def test_forged_unsigned_and_malformed_deliveries_are_refused(
    client: TestClient, store: Store, webhook_examples: dict[str, list[dict[str, Any]]]
) -> None:
    payload = webhook_examples["pull_request"][0]
    assert deliver(client, "pull_request", payload, "f1", secret=b"guess").status_code == 401
    assert deliver(client, "pull_request", payload, "f2", signature="").status_code == 401
    body = json.dumps(payload).encode()
    tampered = client.post(
        "/webhook",
        content=body.replace(b'"opened"', b'"closed"') + b" ",
        headers={"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "f3",
                 "X-Hub-Signature-256": sign(SECRET, body)},
    )  # fmt: skip
    assert tampered.status_code == 401
    no_delivery = deliver(client, "pull_request", payload, "")
    assert no_delivery.status_code == 400
    not_json = client.post(
        "/webhook",
        content=b"not json",
        headers={"X-GitHub-Event": "ping", "X-GitHub-Delivery": "f4",
                 "X-Hub-Signature-256": sign(SECRET, b"not json")},
    )  # fmt: skip
    assert not_json.status_code == 400
    big = b"[" + b"0," * (1 << 20) + b"0]"
    too_big = client.post(
        "/webhook",
        content=big,
        headers={"X-GitHub-Event": "ping", "X-GitHub-Delivery": "f5",
                 "X-Hub-Signature-256": sign(SECRET, big)},
    )  # fmt: skip
    assert too_big.status_code == 413
    assert delivery_counts(store) == {}
    metrics = client.get("/metrics").text
    assert 'outcome="rejected",reason="signature"} 3' in metrics


def test_health() -> None:
    with Store.open("sqlite://") as s:
        c = TestClient(create_app(s, SECRET))
        assert c.get("/healthz").json()["status"] == "ok"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_harness_serve_answers_over_http(
    tmp_path: Path, webhook_examples: dict[str, list[dict[str, Any]]]
) -> None:
    port = free_port()
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET.decode() + "\n")
    env = {**os.environ, "HARNESS_DB": f"sqlite:///{tmp_path / 'serve.db'}"}
    env.pop("HARNESS_WEBHOOK_SECRET", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "serve", "--port", str(port),
         "--webhook-secret-file", str(secret_file)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180  # a hang guard: start-up on a busy machine is slow
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=10).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        body = json.dumps(webhook_examples["ping"][0]).encode()
        headers = {"X-GitHub-Event": "ping", "X-GitHub-Delivery": "d-1",
                   "X-Hub-Signature-256": sign(SECRET, body)}  # fmt: skip
        started = time.perf_counter()
        res = httpx.post(f"{base}/webhook", content=body, headers=headers, timeout=30)
        elapsed = time.perf_counter() - started
        assert res.status_code == 202, res.text
        assert res.json()["event"] == "ping"
        forged = httpx.post(f"{base}/webhook", content=body, headers={**headers,
                            "X-Hub-Signature-256": sign(b"x", body)}, timeout=30)  # fmt: skip
        assert forged.status_code == 401
        assert elapsed < 10  # GitHub's own limit for an answer
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    assert SECRET.decode() not in out  # the secret is never logged


def test_without_a_secret_the_intake_is_off_and_the_dashboard_served(
    tmp_path: Path, webhook_examples: dict[str, list[dict[str, Any]]]
) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'x.db'}") as s:
        c = TestClient(create_app(s, None))
        body = json.dumps(webhook_examples["ping"][0]).encode()
        headers = {"X-GitHub-Event": "ping", "X-GitHub-Delivery": "d-1",
                   "X-Hub-Signature-256": sign(b"", body)}  # fmt: skip
        res = c.post("/webhook", content=body, headers=headers)
        assert res.status_code == 503
        assert delivery_counts(s) == {}
        assert c.get("/healthz").status_code == 200


def test_the_shipped_links_resolve_to_served_pages(tmp_path: Path) -> None:
    """Every link a status or the comment carries opens a real page of `harness serve`:
    a finished cell's run page, and for a cell with no run yet the commit's page."""
    from urllib.parse import urlsplit

    from harness.config.service import default_config_path, load_service_config
    from harness.dashboard.pages import Pages

    root = Path(__file__).resolve().parents[2]
    config = load_service_config(default_config_path(root / "suites"))
    with Store.open(f"sqlite:///{tmp_path / 'links.db'}") as s:
        run_id = s.start_run(
            job_id=None, cell="demo/cpu/host", suite="demo", backend="cpu", variant="host",
            upstream="example/demo", ref=None, sha="a" * 40, executor="local",
            log_dir=str(tmp_path), out_dir=str(tmp_path),
        )  # fmt: skip
        c = TestClient(create_app(s, SECRET, pages=Pages(s, served=True)))
        done = config.details(run_id, "demo/cpu/host", "a" * 40)
        pending = config.details(None, "demo/cpu/host", "b" * 40)
        assert done is not None
        assert pending is not None
        assert urlsplit(done).path == f"/runs/{run_id}.html"
        assert urlsplit(pending).path == f"/prs/{'b' * 40}.html"
        for link in (done, pending):
            assert c.get(urlsplit(link).path).status_code == 200, link


def _inline_hashes(html: str) -> set[str]:
    """The hashes of the page's inline <style> and <script> blocks, as CSP names them."""
    import base64
    import hashlib

    blocks = re.findall(r"<(style|script)>(.*?)</\1>", html, re.S)
    return {
        "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"
        for _, text in blocks
    }


def test_every_answer_carries_the_security_headers(tmp_path: Path) -> None:
    from harness.dashboard.pages import Pages

    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as s:
        s.start_run(
            job_id=None, cell="demo/cpu/host", suite="demo", backend="cpu", variant="host",
            upstream="example/demo", ref=None, sha="a" * 40, executor="local",
            log_dir=str(tmp_path), out_dir=str(tmp_path),
        )  # fmt: skip
        c = TestClient(create_app(s, SECRET, pages=Pages(s, served=True)))
        answers = {
            "/": c.get("/"),
            "/cells/demo__cpu__host.html": c.get("/cells/demo__cpu__host.html"),
            "/api/queue": c.get("/api/queue"),
            "/healthz": c.get("/healthz"),
            "/runs/999.html": c.get("/runs/999.html"),  # a 404 too
            "/webhook": c.post("/webhook", content=b"{}", headers={"X-GitHub-Event": "ping"}),
        }
        for path, res in answers.items():
            assert res.headers["x-content-type-options"] == "nosniff", path
            assert res.headers["x-frame-options"] == "DENY", path
            assert res.headers["referrer-policy"] == "no-referrer", path
            csp = res.headers["content-security-policy"]
            assert "default-src 'none'" in csp, path
            assert "frame-ancestors 'none'" in csp, path
        assert answers["/webhook"].status_code == 401
        # the policy allows exactly the page's own inline style and script, by hash
        grid = answers["/cells/demo__cpu__host.html"]
        policy = grid.headers["content-security-policy"]
        allowed = set(re.findall(r"'sha256-[^']+'", policy))
        assert _inline_hashes(grid.text) == allowed
        assert "unsafe-inline" not in policy
        overview = answers["/"]
        assert _inline_hashes(overview.text) <= allowed
