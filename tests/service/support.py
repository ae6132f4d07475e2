"""Helpers for service tests: real example payloads made to point at the fixture
upstream, signed deliveries, the service's processes, and waiting on its API."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx

from harness.codehost.github.signature import sign
from tests.fixture_upstream import make_upstream
from tests.github_standin import GitHubStandIn, free_port
from tests.gitrepos import UpstreamRepo

SECRET = b"s3cret-for-tests"
#: the fixture upstream's tests/test_basic.py with test_pass broken (the rest passing)
BROKEN_PASS = """\
import pytest


def test_pass():
    assert 1 + 1 == 3, "broken"


@pytest.mark.parametrize("n", [1, 2, 3])
def test_param(n):
    assert n > 0
"""
REPO = "example/demo"


def service_yaml(level: str = "comment", extra: str = "", deadline: str = "10m") -> str:
    return textwrap.dedent(
        f"""\
        vendor: acme
        contact: https://example.org/acme-ci
        details_url: http://ci.example/runs/{{run_id}}
        upstreams:
          {REPO}:
            level: {level}
            cells: ["demo/cpu/*"]
            deadline: {deadline}
        """
    ) + textwrap.indent(textwrap.dedent(extra), "    ")


def demo_suites(tmp: Path, upstream_url: str, wheels: Path, config: str | None = None) -> Path:
    """A suites directory for the fixture upstream (``demo``) and the service's
    configuration (default: ``service_yaml("comment")``)."""
    from tests.fixture_upstream import suite_yaml

    d = tmp / "suites"
    (d / "service").mkdir(parents=True)
    (d / "demo.yaml").write_text(suite_yaml(upstream_url, wheels=wheels))
    (d / "service" / "config.yaml").write_text(config or service_yaml("comment"))
    return d


def example(
    examples: dict[str, list[dict[str, Any]]], event: str, action: str | None
) -> dict[str, Any]:
    for payload in examples[event]:
        if payload.get("action") == action:
            return copy.deepcopy(payload)
    raise LookupError(f"no {event}.{action} example")


def pr_payload(
    examples: dict[str, list[dict[str, Any]]],
    action: str,
    *,
    number: int,
    head: str,
    author: str = "octocat",
    association: str = "MEMBER",
    label: str | None = None,
    sender: str = "octocat",
    updated_at: str | None = None,
) -> dict[str, Any]:
    p = example(
        examples, "pull_request", "opened" if action in {"synchronize", "reopened"} else action
    )
    p["action"] = action
    p["repository"]["full_name"] = REPO
    pr = p["pull_request"]
    pr["number"], pr["state"] = number, "open" if action != "closed" else "closed"
    pr["head"]["sha"], pr["head"]["label"] = head, f"{author}:feature"
    pr["user"]["login"], pr["author_association"] = author, association
    p["sender"]["login"] = sender
    p["installation"] = {"id": 4242, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDI0Mg=="}
    if label is not None:
        p["label"] = {"name": label}
    # GitHub's time of the change; by default now, as for a delivery made as it happens
    pr["updated_at"] = updated_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return p


def comment_payload(
    examples: dict[str, list[dict[str, Any]]],
    *,
    number: int,
    body: str,
    commenter: str = "maintainer",
    association: str = "MEMBER",
) -> dict[str, Any]:
    p = example(examples, "issue_comment", "created")
    p["repository"]["full_name"] = REPO
    p["issue"]["number"] = number
    p["issue"]["pull_request"] = {"url": f"https://api.github.com/repos/{REPO}/pulls/{number}"}
    p["comment"]["body"] = body
    p["comment"]["user"]["login"], p["comment"]["author_association"] = commenter, association
    return p


def push_payload(examples: dict[str, list[dict[str, Any]]], *, sha: str) -> dict[str, Any]:
    p = next(copy.deepcopy(x) for x in examples["push"] if x["ref"].startswith("refs/heads/"))
    p["repository"]["full_name"], p["repository"]["default_branch"] = REPO, "main"
    p["ref"], p["after"], p["deleted"] = "refs/heads/main", sha, False
    return p


def deliver(
    base_url: str,
    event: str,
    payload: dict[str, Any],
    *,
    secret: bytes = SECRET,
    delivery: str | None = None,
) -> httpx.Response:
    """POST a signed delivery, waiting as long as GitHub does (10 s)."""
    body = json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(secret, body),
        "Content-Type": "application/json",
    }
    return httpx.post(f"{base_url}/webhook", content=body, headers=headers, timeout=10)


def service_env(gh: GitHubStandIn, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    env |= {
        "HARNESS_WEBHOOK_SECRET": SECRET.decode(),
        "HARNESS_GITHUB_TOKEN": "dummy-token-never-logged",
        "HARNESS_GITHUB_API_URL": gh.url,
        "HARNESS_GITHUB_WRITE_INTERVAL": "0",
        "HARNESS_CACHE": str(cache),
    }
    if "HARNESS_REQUIRE_TOOLS" in os.environ:
        env["HARNESS_REQUIRE_TOOLS"] = os.environ["HARNESS_REQUIRE_TOOLS"]
    return env


class Service:
    """``harness serve`` (and optional extra ``harness worker`` processes) on a free port."""

    def __init__(
        self,
        tmp: Path,
        suites: Path,
        db_url: str,
        env: dict[str, str],
        workers: int = 1,
        executor: str = "local",
        args: tuple[str, ...] = (),
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_url, self.suites, self.env, self.tmp = db_url, suites, env, tmp
        self.executor = executor
        self.log = tmp / "serve.log"
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "harness", "serve", "--port", str(self.port),
                "--workers", str(workers), "--executor", executor, "--db", db_url,
                "--suites", str(suites), "--reports-dir", str(tmp / "reports"), *args,
            ],
            env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for(self._up, 180, "the service to answer /healthz", self)

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"harness serve exited: {self.log.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=10).status_code == 200
        except httpx.HTTPError:
            return False

    def worker(
        self, name: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """A ``harness worker`` process (``env``: variables added to the service's)."""
        log = self.tmp / f"{name}.log"
        return subprocess.Popen(
            [
                sys.executable, "-m", "harness", "worker", "--executor", self.executor,
                "--db", self.db_url, "--suites", str(self.suites), "--name", name,
                "--reports-dir", str(self.tmp / "reports"), *args,
            ],
            env={**self.env, **(env or {})}, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip

    def api(self, path: str) -> Any:
        return httpx.get(f"{self.url}{path}", timeout=60).json()

    def text(self, path: str) -> str:
        return httpx.get(f"{self.url}{path}", timeout=60).text

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.tmp.glob("*.log")))

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def demo_service(
    tmp: Path, gh: GitHubStandIn, cache: Path, wheels: Path, config: str
) -> tuple[UpstreamRepo, Service]:
    """The demo fixture upstream and ``harness serve`` for it (SQLite, no workers of its
    own) with the service configuration ``config``."""
    upstream = make_upstream(tmp / "upstream")
    suites = demo_suites(tmp, upstream.url, wheels, config=config)
    db = f"sqlite:///{tmp / 'harness.db'}"
    return upstream, Service(tmp, suites, db, service_env(gh, cache), 0)


def run_push(service: Service, examples: dict[str, list[dict[str, Any]]], sha: str) -> None:
    """A push of ``sha`` delivered, and run by one ``harness worker --once``."""
    assert deliver(service.url, "push", push_payload(examples, sha=sha)).is_success
    assert service.worker("w0", "--once").wait(timeout=300) == 0


def wait_for(
    check: Callable[[], Any], timeout: float, what: str, service: Service | None = None
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    logs = service.logs()[-6000:] if service is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")


def pr_items(service: Service, number: int) -> list[dict[str, Any]]:
    """The queue items of pull request ``number`` (not the baselines it asked for)."""
    return [i for i in service.api("/api/queue")["items"] if i["pr_number"] == number]


def settled(service: Service) -> bool:
    """Nothing queued or running, nothing owed, nothing waiting to be posted."""
    if service.api("/api/deliveries?status=received")["deliveries"]:
        return False
    queue = service.api("/api/queue")["items"]
    owed = service.api("/api/ledger")["reports"]
    outbox = service.api("/api/outbox")["entries"]
    return (
        all(i["state"] not in {"queued", "leased"} for i in queue)
        and all(r["state"] not in {"owed", "queued"} for r in owed)
        and all(e["state"] not in {"pending", "sending"} for e in outbox)
    )


def deliver_to_store(store: Any, event: str, payload: dict[str, Any]) -> str:
    """Record a delivery as the intake would (for in-process dispatch tests)."""
    from harness.store.deliveries import Delivery, record_delivery

    delivery_id = str(uuid.uuid4())
    record_delivery(
        store, Delivery(delivery_id, event, payload.get("action"), REPO, json.dumps(payload))
    )
    return delivery_id
