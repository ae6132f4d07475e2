"""Webhook intake under load: acknowledgement latency and nothing lost.

Starts ``harness serve --workers 0`` (the intake alone; SQLite, the embedded default) on
loopback, or with ``--busy-worker`` the default ``harness serve`` (one embedded worker),
first made busy running a cell whose test spins a CPU for the whole measurement (a
pull request of a local upstream); then from C concurrent clients sends N signed ``pull_request``
deliveries (GitHub's shape, a ~25 KB body like the example payloads) and measures each
acknowledgement (202). In the same run, as the baseline, the same clients send N
deliveries with a wrong signature: the server reads the same bodies and computes the
same HMAC, then answers 401 without parsing or storing anything: the floor of the path.

Prints p50/p99 of both, the ratio p99(accepted)/p99(forged), the server's CPU time per
delivery, and deliveries stored vs sent (read back from the database). Target: p99 <
50 ms at 100 clients, zero lost.

Usage: python bench/webhook_load.py [--deliveries 3000] [--clients 100] [--busy-worker]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx2 as httpx  # only to wait for the server to start

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.codehost.github.signature import sign  # noqa: E402
from harness.executors.leftovers import kill_processes, marked_processes  # noqa: E402
from harness.store import Store  # noqa: E402
from harness.store.deliveries import delivery_counts  # noqa: E402

SECRET = b"bench-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def payload(i: int) -> bytes:
    """A pull_request delivery about as big as GitHub's (~25 KB)."""
    body = {
        "action": "synchronize",
        "number": i,
        "repository": {"full_name": "example/demo", "description": "x" * 2000},
        "pull_request": {
            "number": i,
            "state": "open",
            "head": {"sha": uuid.uuid4().hex + "0" * 8, "label": "alice:fix"},
            "user": {"login": "alice"},
            "author_association": "MEMBER",
            "body": "lorem ipsum " * 1800,
        },
    }
    return json.dumps(body).encode()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough HTTP for this load: a
    generator as light as possible, so that the server, not the Python client sharing its
    CPUs, is what is measured (httpx's async client costs about as much CPU per request
    as the server it measures)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def request(self, head: bytes, body: bytes = b"") -> int:
        self.writer.write(head + body)
        await self.writer.drain()
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        length = 0
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


def webhook_request(i: int, body: bytes, signature: str) -> bytes:
    return (
        "POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-GitHub-Event: pull_request\r\nX-GitHub-Delivery: bench-{i}\r\n"
        f"X-Hub-Signature-256: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()


async def hammer(port: int, n: int, clients: int, forged: bool) -> tuple[list[float], int]:
    """``n`` requests from ``clients`` concurrent connections, each sending its next
    request when the previous one is answered; (latencies, failures)."""
    counter = iter(range(n))
    latencies: list[float] = []
    failures = 0
    bodies = [payload(i) for i in range(min(n, 50))]
    signatures = [sign(b"wrong" if forged else SECRET, b) for b in bodies]
    want = 401 if forged else 202

    async def client() -> None:
        nonlocal failures
        conn = await Connection.open(port)
        try:
            for i in counter:
                k = i % len(bodies)
                head = webhook_request(i, bodies[k], signatures[k])
                start = time.perf_counter()
                status = await conn.request(head, bodies[k])
                latencies.append(time.perf_counter() - start)
                failures += status != want
        finally:
            conn.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, failures


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


BUSY_SUITE = """\
name: busy
upstream: {{repo: bench/busy, url: {url}, default_branch: main}}
backends:
  cpu:
    test:
      - name: spin
        run: |
          python -c 'import time
          t = time.time()
          while time.time() - t < 900:
              pass'
        timeout: 20m
        results: [{{path: none.xml, format: junit}}]
"""
BUSY_CONFIG = """\
vendor: bench
upstreams:
  bench/busy: {level: dashboard, cells: ["busy/cpu/*"]}
"""


def busy_upstream(tmp: Path) -> tuple[Path, bytes]:
    """A suites directory whose one cell spins a CPU, and the signed-to-be delivery of
    the pull request that starts it."""
    repo = tmp / "busy-upstream"
    repo.mkdir()

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=b", "-c", "user.email=b@example.org", *args],
            cwd=repo, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip

    git("init", "-q", "-b", "main")
    (repo / "README").write_text("busy\n")
    git("add", "README")
    git("commit", "-q", "-m", "busy")
    sha = git("rev-parse", "HEAD")
    git("update-ref", "refs/pull/1/head", sha)
    suites = tmp / "suites"
    (suites / "service").mkdir(parents=True)
    (suites / "busy.yaml").write_text(BUSY_SUITE.format(url=repo))
    (suites / "service" / "config.yaml").write_text(BUSY_CONFIG)
    opened = {
        "action": "opened",
        "number": 1,
        "repository": {"full_name": "bench/busy"},
        "pull_request": {
            "number": 1,
            "state": "open",
            "head": {"sha": sha, "label": "alice:busy"},
            "user": {"login": "alice"},
            "author_association": "MEMBER",
        },
    }
    return suites, json.dumps(opened).encode()


def wait_busy(base: str, body: bytes, proc: subprocess.Popen[bytes], tmp: Path) -> None:
    """Deliver the pull request and wait until the embedded worker runs its cell."""
    headers = {
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": "busy-1",
        "X-Hub-Signature-256": sign(SECRET, body),
    }
    r = httpx.post(f"{base}/webhook", content=body, headers=headers, timeout=30)
    r.raise_for_status()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        items = httpx.get(f"{base}/api/queue", timeout=10).json()["items"]
        if any(i["state"] == "leased" for i in items) and (tmp / "reports").exists():
            time.sleep(5)  # into its step
            return
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    sys.exit(f"the worker did not start the busy cell: {(tmp / 'serve.log').read_text()[-3000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--deliveries", type=int, default=5000)
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument(
        "--busy-worker",
        action="store_true",
        help="the default serve: one embedded worker, busy running a cell throughout",
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="webhook-bench-"))
    db = f"sqlite:///{tmp / 'harness.db'}"
    port = free_port()
    env = {
        **os.environ,
        "HARNESS_WEBHOOK_SECRET": SECRET.decode(),
        "HARNESS_CACHE": str(tmp / "cache"),
    }
    suites, busy_body = busy_upstream(tmp) if args.busy_worker else (None, b"")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness",
            "serve",
            "--port",
            str(port),
            "--workers",
            "1" if args.busy_worker else "0",
            "--executor",
            "local",
            "--reports-dir",
            str(tmp / "reports"),
            "--db",
            db,
            *(["--suites", str(suites)] if suites else []),
        ],
        env=env,
        stdout=(tmp / "serve.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            sys.exit(f"the service did not start: {(tmp / 'serve.log').read_text()[-2000:]}")
        if args.busy_worker:
            wait_busy(base, busy_body, proc, tmp)
        n, c = args.deliveries, args.clients
        asyncio.run(hammer(port, min(200, n), c, forged=True))  # warm up
        base_lat, base_fail = asyncio.run(hammer(port, n, c, forged=True))
        cpu0, started = cpu_seconds(proc.pid), time.perf_counter()
        hook_lat, hook_fail = asyncio.run(hammer(port, n, c, forged=False))
        wall, server_cpu = time.perf_counter() - started, cpu_seconds(proc.pid) - cpu0
    finally:
        proc.terminate()
        proc.wait(timeout=120)  # a busy worker is interrupted first
    with Store.open(db) as store:
        for pids in marked_processes(store.key).values():  # the busy cell's spinning test
            kill_processes(pids)
        stored = sum(delivery_counts(store).get(e, 0) for e in ("pull_request",))
        stored -= 1 if args.busy_worker else 0  # the busy pull request's own delivery
    ms = 1000.0
    result = {
        "mode": "one embedded worker, busy" if args.busy_worker else "--workers 0",
        "clients": c,
        "deliveries_sent": n,
        "deliveries_stored": stored,
        "lost": n - stored,
        "webhook_failures": hook_fail,
        "webhook_p50_ms": round(statistics.median(hook_lat) * ms, 2),
        "webhook_p99_ms": round(percentile(hook_lat, 99) * ms, 2),
        "forged_p50_ms": round(statistics.median(base_lat) * ms, 2),
        "forged_p99_ms": round(percentile(base_lat, 99) * ms, 2),
        "forged_not_refused": base_fail,
        "deliveries_per_s": round(n / wall, 1),
        "server_cpu_ms_per_delivery": round(server_cpu / n * ms, 3),
    }
    result["p99_ratio_accepted_vs_forged"] = round(
        result["webhook_p99_ms"] / max(result["forged_p99_ms"], 1e-6), 2
    )
    print(
        f"{n} signed deliveries from {c} clients: p50 {result['webhook_p50_ms']} ms, "
        f"p99 {result['webhook_p99_ms']} ms (target < 50 ms); stored {stored}/{n} "
        f"(lost {n - stored}); {result['deliveries_per_s']} deliveries/s, server CPU "
        f"{result['server_cpu_ms_per_delivery']} ms per delivery"
    )
    print(
        f"baseline, the same deliveries forged (401): p50 {result['forged_p50_ms']} ms, "
        f"p99 {result['forged_p99_ms']} ms; accepted/forged p99 ratio "
        f"{result['p99_ratio_accepted_vs_forged']}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
