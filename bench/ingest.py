"""Ingest benchmark: parse + store a large JUnit file vs junitparser's parse alone.

Generates a pytest-style JUnit file with N test cases (default 100k; a mix of outcomes
and messages), then in the same process and run:

  baseline  junitparser parses the file and walks every case (parse only)
  harness   harness.results.ingest.ingest_file parses it (in a worker process for large
            files) and Store.add_results writes every case into a fresh SQLite database
            (parse + store), exactly as `harness run` ingests result files

Prints cases/s for both and the ratio (target: harness >= baseline, i.e. ratio >= 1.0),
plus the peak RSS of a separate process that ingests the file, to show memory stays
bounded. Usage: python bench/ingest.py [--cases N] [--repeat R]
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def generate(path: Path, cases: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites name="pytest tests">')
        f.write(f'<testsuite name="pytest" errors="0" failures="0" skipped="0" tests="{cases}">')
        for i in range(cases):
            mod = f"tests.models.m{i // 1000}.test_mod{i // 100}"
            name = f"test_case_{i}[param-{i % 7}]"
            t = rng.random() / 10
            r = rng.random()
            f.write(f'<testcase classname="{mod}.TestThing" name="{name}" time="{t:.4f}"')
            if r < 0.90:
                f.write(" />")
            elif r < 0.95:
                f.write('><failure message="AssertionError: expected 1 got 2">')
                f.write("Traceback (most recent call last):\n  File x.py line 3\n" * 5)
                f.write("</failure></testcase>")
            elif r < 0.98:
                f.write(
                    '><skipped type="pytest.skip" message="needs npu">skip</skipped></testcase>'
                )
            else:
                f.write('><skipped type="pytest.xfail" message="known bug" /></testcase>')
        f.write("</testsuite></testsuites>\n")


def bench_junitparser(path: Path) -> tuple[float, int]:
    from junitparser import JUnitXml

    start = time.perf_counter()
    xml = JUnitXml.fromfile(str(path))
    n = 0
    for suite in xml:
        for case in suite:
            _ = (case.classname, case.name, case.time, case.result)
            n += 1
    return time.perf_counter() - start, n


def bench_harness(path: Path, db: Path) -> tuple[float, int]:
    from harness.results.ingest import ingest_file
    from harness.store import Store

    store = Store.open(f"sqlite:///{db}")
    try:
        run_id = store.start_run(
            job_id=None,
            cell="bench/cpu/host",
            suite="bench",
            backend="cpu",
            variant="host",
            upstream="bench/bench",
            ref=None,
            sha=None,
            executor="local",
            log_dir=None,
            out_dir=None,
        )
        start = time.perf_counter()
        report = ingest_file(store, run_id, path, "junit")
        elapsed = time.perf_counter() - start
        stored = store.count_results(run_id)
        assert stored == report.cases, (stored, report.cases)
    finally:
        store.close()
    return elapsed, stored


def peak_rss_mb_of_ingest(path: Path, db: Path) -> tuple[float, float]:
    """Peak RSS (MB) of a fresh process ingesting ``path``, and of its parser worker."""
    code = (
        "import resource, sys; from pathlib import Path; import bench.ingest as b;"
        "b.bench_harness(Path(sys.argv[1]), Path(sys.argv[2]));"
        # VmHWM belongs to this process image; ru_maxrss survives fork+exec on Linux and
        # would report the peak of the benchmark process that started this one
        "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0];"
        "print(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), str(db)],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    own, worker = out.stdout.split()
    return int(own) / 1024, int(worker) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rss", action="store_true", help="also measure peak RSS in a subprocess")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "big.xml"
        generate(junit, args.cases)
        size_mb = junit.stat().st_size / 1e6
        print(f"file: {args.cases} cases, {size_mb:.1f} MB")
        base_best = ours_best = float("inf")
        for i in range(args.repeat):  # interleaved so machine noise hits both alike
            t, n = bench_junitparser(junit)
            assert n == args.cases, n
            base_best = min(base_best, t)
            t, n = bench_harness(junit, Path(tmp) / f"bench-{i}.db")
            assert n == args.cases, n
            ours_best = min(ours_best, t)
        print(
            f"junitparser parse only : {args.cases / base_best:12,.0f} cases/s ({base_best:.2f} s)"
        )
        print(
            f"harness parse + store  : {args.cases / ours_best:12,.0f} cases/s ({ours_best:.2f} s)"
        )
        print(f"ratio harness/junitparser throughput: {base_best / ours_best:.2f} (target >= 1.0)")
        if args.rss:
            own, worker = peak_rss_mb_of_ingest(junit, Path(tmp) / "rss.db")
            print(f"peak RSS ingesting the file: {own:.0f} MB (store), {worker:.0f} MB (parser)")
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"(this process, which also ran junitparser, peaked at {own:.0f} MB)")


if __name__ == "__main__":
    main()
