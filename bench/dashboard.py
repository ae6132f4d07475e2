"""Dashboard benchmark: a history of 2k runs and 1M results.

Fills a SQLite database with RUNS runs spread over CELLS cells (RESULTS results each, a
few failing, some flipping), then, in the same run:

  build     `harness dashboard build` (overview, every grid page, a page per run shown
            in a grid, pull-request pages, badges)
  overview  GET /index.html from `harness serve` (median of 7)
  grid      GET /cells/<cell>.html, the busiest cell (median of 7)
  baseline  GET /healthz from the same server (one database read): the floor

Targets: build < 30 s; overview and grid < 200 ms. Prints the figures and their ratios to
the baseline.

Usage: python bench/dashboard.py [--runs 2000] [--results 500] [--cells 20]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.results.model import Outcome, TestResult  # noqa: E402
from harness.store import Store  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fill(db_url: str, runs: int, results: int, cells: int) -> None:
    rng = random.Random(7)
    names = [
        f"tests/test_mod{m}.py::test_case_{i}" for m in range(10) for i in range(results // 10)
    ]
    backends = ["npu", "cpu", "cuda", "npu"]
    with Store.open(db_url) as store:
        for n in range(runs):
            c = n % cells
            suite, backend = f"suite{c // 4}", backends[c % 4]
            cell = f"{suite}/{backend}/variant{c % 3}"
            ref = f"refs/pull/{n}/head" if n % 5 == 0 else "main"
            run_id = store.start_run(
                job_id=None, cell=cell, suite=suite, backend=backend, variant=f"variant{c % 3}",
                upstream=f"example/{suite}", ref=ref, sha=f"{n:040x}", executor="local",
                log_dir=None, out_dir=None,
            )  # fmt: skip
            broken = set(rng.sample(range(len(names)), 5))
            flaky = {i for i in range(0, len(names), 97) if rng.random() < 0.3}
            rows = []
            for i, name in enumerate(names):
                if i in broken or i in flaky:
                    rows.append(TestResult(name, Outcome.FAILED, 0.01, "AssertionError: x != y"))
                elif i % 50 == 0:
                    rows.append(TestResult(name, Outcome.SKIPPED, 0.0, None))
                else:
                    rows.append(TestResult(name, Outcome.PASSED, 0.01, None))
            counts = store.add_results(run_id, rows, batch_size=5000)
            store.finish_run(run_id, status="failed", reason=None, counts=counts, duration_s=60.0)


def timed_get(url: str, n: int = 7) -> float:
    times = []
    with httpx.Client(timeout=60) as client:
        for _ in range(n):
            start = time.perf_counter()
            r = client.get(url)
            times.append(time.perf_counter() - start)
            assert r.status_code == 200, (url, r.status_code)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--results", type=int, default=500)
    ap.add_argument("--cells", type=int, default=20)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dashboard-bench-"))
    db = f"sqlite:///{tmp / 'harness.db'}"
    started = time.perf_counter()
    fill(db, args.runs, args.results, args.cells)
    fill_s = time.perf_counter() - started
    env = {**os.environ, "HARNESS_DB": db, "HARNESS_SUITES": str(tmp / "no-suites")}

    started = time.perf_counter()
    cmd = [sys.executable, "-m", "harness", "dashboard", "build", "--out", str(tmp / "site")]
    subprocess.run([*cmd, "--json"], env=env, check=True, capture_output=True)
    build_s = time.perf_counter() - started
    pages = sum(1 for _ in (tmp / "site").rglob("*.*"))

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "serve", "--port", str(port), "--workers", "0"],
        env=env | {"HARNESS_WEBHOOK_SECRET": "x"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        healthz = timed_get(f"{base}/healthz")
        overview = timed_get(f"{base}/index.html")
        grid = timed_get(f"{base}/cells/suite0__npu__variant0.html")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    result = {
        "runs": args.runs,
        "results": args.runs * args.results,
        "fill_s": round(fill_s, 1),
        "build_s": round(build_s, 2),
        "site_files": pages,
        "overview_ms": round(overview * 1000, 1),
        "grid_ms": round(grid * 1000, 1),
        "healthz_ms": round(healthz * 1000, 2),
    }
    result["overview_vs_healthz"] = round(overview / healthz, 1)
    result["grid_vs_healthz"] = round(grid / healthz, 1)
    print(
        f"{args.runs} runs, {args.runs * args.results} results: site build {build_s:.1f} s "
        f"({pages} files; target < 30 s); overview {overview * 1000:.0f} ms, grid "
        f"{grid * 1000:.0f} ms (target < 200 ms); baseline /healthz {healthz * 1000:.1f} ms"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
