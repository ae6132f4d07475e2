"""``harness serve`` supervises its workers: one that dies is started again (logged), and
``/healthz`` says ``degraded`` while it is down; work queued meanwhile is still done."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx2 as httpx

from tests.fixture_upstream import make_upstream
from tests.github_standin import GitHubStandIn
from tests.service.support import (
    Service,
    deliver,
    demo_suites,
    pr_items,
    pr_payload,
    service_env,
    settled,
    wait_for,
)


def worker_pids(serve_pid: int) -> list[int]:
    """The ``harness worker`` children of the ``harness serve`` process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == serve_pid and b"worker" in cmd:
            found.append(int(entry.name))
    return found


def health(svc: Service) -> dict[str, Any]:
    r = httpx.get(f"{svc.url}/healthz", timeout=10)
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


def test_a_dead_worker_is_restarted_and_healthz_says_so(
    tmp_path: Path,
    wheels: Path,
    gh: GitHubStandIn,
    shared_cache: Path,
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    upstream = make_upstream(tmp_path / "upstream")
    suites = demo_suites(tmp_path, upstream.url, wheels)
    svc = Service(
        tmp_path, suites, f"sqlite:///{tmp_path / 'harness.db'}", service_env(gh, shared_cache)
    )
    try:
        (first,) = wait_for(lambda: worker_pids(svc.proc.pid), 180, "the embedded worker", svc)
        assert health(svc)["status"] == "ok"
        # the database URL (a password in it, maybe) is not on the worker's command line,
        # which every user of the machine can read; it is in its environment
        cmdline = Path(f"/proc/{first}/cmdline").read_bytes()
        assert svc.db_url.encode() not in cmdline
        assert b"--db" not in cmdline.split(b"\0")
        environ = Path(f"/proc/{first}/environ").read_bytes().split(b"\0")
        assert f"HARNESS_DB={svc.db_url}".encode() in environ
        os.kill(first, signal.SIGKILL)
        # degraded until the supervisor has started a new one
        seen = wait_for(
            lambda: health(svc) if health(svc)["status"] == "degraded" else None,
            180,
            "/healthz to say degraded",
            svc,
        )
        assert seen["problems"] == ["worker(s) down: w0"]
        wait_for(lambda: health(svc)["status"] == "ok", 180, "the worker to be restarted", svc)
        (second,) = worker_pids(svc.proc.pid)
        assert second != first
        assert "worker w0 (pid" in svc.logs()
        assert "exited with code -9; restarting it in 1 s" in svc.logs()
        assert health(svc)["workers"]["restarts"] == 1
        # and the restarted worker does the work
        head, _ = upstream.pull_request(3, {"tests/test_extra.py": "def test_x():\n    pass\n"})
        payload = pr_payload(webhook_examples, "opened", number=3, head=head)
        assert deliver(svc.url, "pull_request", payload).status_code == 202
        wait_for(lambda: settled(svc), 240, "the pull request's report", svc)
        (item,) = pr_items(svc, 3)
        assert item["state"] == "done"
    finally:
        svc.close()
