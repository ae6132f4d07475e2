"""The intake stays responsive while ``POST /api/results`` refuses hostile uploads.

Starts ``harness serve --workers 0`` (SQLite, the embedded default) on loopback and
measures ``GET /healthz`` one request after another: first idle (the baseline), then
while two clients keep sending hostile uploads, round robin:

* a tar.gz whose one member claims 4 GiB (a bomb refused by its header);
* a real 2 GiB file of zeros, gzipped to ~2 MB (refused by the ratio cap);
* 64 MB of random bytes with a wrong signature (streamed to disk, HMAC, 401);
* a chunked body without a length, 300 MB (refused at the size cap while it streams).

Prints p50/p99 of ``/healthz`` idle and under attack, their ratio, the uploads refused
per kind, and the server's peak RSS. Target (issue 17): p99 under attack < 100 ms.

Usage: python bench/results_intake.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.codehost.github.signature import sign  # noqa: E402

SECRET = b"bench-results-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def header_bomb() -> bytes:
    info = tarfile.TarInfo("bundle/results.jsonl.gz")
    info.size = 4 << 30
    return gzip.compress(info.tobuf() + b"\0" * 1024)


def ratio_bomb() -> bytes:
    """A real tar.gz of one 2 GiB file of zeros, written without holding it."""

    class Zeros(io.RawIOBase):
        def __init__(self, size: int) -> None:
            self.left = size

        def readable(self) -> bool:
            return True

        def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
            n = min(len(buf), self.left)
            buf[:n] = bytes(n)
            self.left -= n
            return n

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=9) as tar:
        info = tarfile.TarInfo("bundle/results.jsonl.gz")
        info.size = 2 << 30
        tar.addfile(info, io.BufferedReader(Zeros(info.size), 1 << 20))
    return out.getvalue()


def rss(pid: int, field: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return line.split(":", 1)[1].strip()
    return "?"


def chunks(total: int) -> Iterator[bytes]:
    block = os.urandom(1 << 20)
    for _ in range(total >> 20):
        yield block


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="Attack this long.")
    args = parser.parse_args()

    print("making the uploads (a 2 GiB ratio bomb takes a while) ...", flush=True)
    bombs = {"header bomb": header_bomb(), "ratio bomb": ratio_bomb()}
    noise = os.urandom(64 << 20)
    with tempfile.TemporaryDirectory(prefix="bench-results-") as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        (Path(tmp) / "suites").mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
        env |= {"HARNESS_RESULTS_SECRET": SECRET.decode(), "HARNESS_CACHE": tmp}
        server = subprocess.Popen(
            [
                sys.executable, "-m", "harness", "serve", "--port", str(port), "--workers", "0",
                "--db", f"sqlite:///{tmp}/h.db", "--suites", f"{tmp}/suites",
                "--reports-dir", f"{tmp}/reports",
            ],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            with httpx.Client(base_url=url, timeout=120) as client:
                for _ in range(600):
                    try:
                        if client.get("/healthz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.1)

                def probe(seconds: float) -> list[float]:
                    took, end = [], time.monotonic() + seconds
                    while time.monotonic() < end:
                        t0 = time.perf_counter()
                        assert client.get("/healthz").status_code == 200
                        took.append((time.perf_counter() - t0) * 1000)
                        time.sleep(0.01)
                    return took

                idle = probe(min(10.0, args.seconds))
                at_rest = rss(server.pid, "VmRSS")
                refused: Counter[str] = Counter()
                stop = threading.Event()

                def attack(offset: int) -> None:
                    kinds = ["header bomb", "ratio bomb", "bad signature", "chunked 300 MB"]
                    with httpx.Client(base_url=url, timeout=600) as c:
                        n = offset
                        while not stop.is_set():
                            kind = kinds[n % len(kinds)]
                            n += 1
                            body: bytes | Iterator[bytes]
                            if kind in bombs:
                                body = bombs[kind]
                                sig = sign(SECRET, body)
                            else:
                                body = noise if kind == "bad signature" else chunks(300 << 20)
                                sig = "sha256=00"
                            r = c.post(
                                "/api/results",
                                content=body,
                                headers={"X-Harness-Signature-256": sig},
                            )
                            refused[f"{kind}: {r.status_code}"] += 1

                attackers = [threading.Thread(target=attack, args=(i,)) for i in range(2)]
                for t in attackers:
                    t.start()
                time.sleep(1.0)
                busy = probe(args.seconds)
                stop.set()
                for t in attackers:
                    t.join()
            peak = rss(server.pid, "VmHWM")
        finally:
            server.terminate()
            server.wait(60)

    p99_idle, p99_busy = percentile(idle, 99), percentile(busy, 99)
    print(f"/healthz idle:         p50 {statistics.median(idle):.1f} ms  p99 {p99_idle:.1f} ms"
          f"  ({len(idle)} requests)")  # fmt: skip
    print(f"/healthz under attack: p50 {statistics.median(busy):.1f} ms  p99 {p99_busy:.1f} ms"
          f"  ({len(busy)} requests)")  # fmt: skip
    print(f"ratio p99 under attack / idle: {p99_busy / p99_idle:.2f}")
    for what, n in sorted(refused.items()):
        print(f"  refused {what}: {n}")
    print(f"server RSS: {at_rest} idle, {peak} at peak")


if __name__ == "__main__":
    main()
