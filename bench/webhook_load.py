"""Webhook intake under load: acknowledgement latency and nothing lost.

Starts ``harness serve --workers 0`` (the intake alone, as deployed; SQLite, the embedded
default) on loopback, then from C concurrent clients sends N signed ``pull_request``
deliveries (GitHub's shape, a ~25 KB body like the example payloads) and measures each
acknowledgement (202). In the same run, as the baseline, the same clients send N
deliveries with a wrong signature: the server reads the same bodies and computes the
same HMAC, then answers 401 without parsing or storing anything: the floor of the path.

Prints p50/p99 of both, the ratio p99(accepted)/p99(forged), the server's CPU time per
delivery, and deliveries stored vs sent (read back from the database). Target: p99 <
50 ms at 100 clients, zero lost.

Usage: python bench/webhook_load.py [--deliveries 3000] [--clients 100]
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

from harness.service.signature import sign  # noqa: E402
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--deliveries", type=int, default=5000)
    ap.add_argument("--clients", type=int, default=100)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="webhook-bench-"))
    db = f"sqlite:///{tmp / 'harness.db'}"
    port = free_port()
    env = {**os.environ, "HARNESS_WEBHOOK_SECRET": SECRET.decode()}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness",
            "serve",
            "--port",
            str(port),
            "--workers",
            "0",
            "--db",
            db,
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
        n, c = args.deliveries, args.clients
        asyncio.run(hammer(port, min(200, n), c, forged=True))  # warm up
        base_lat, base_fail = asyncio.run(hammer(port, n, c, forged=True))
        cpu0, started = cpu_seconds(proc.pid), time.perf_counter()
        hook_lat, hook_fail = asyncio.run(hammer(port, n, c, forged=False))
        wall, server_cpu = time.perf_counter() - started, cpu_seconds(proc.pid) - cpu0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    with Store.open(db) as store:
        stored = sum(delivery_counts(store).values())
    ms = 1000.0
    result = {
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
