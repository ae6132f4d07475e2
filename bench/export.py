"""Export benchmark: a stored run of N cases (default 1M; a mix of outcomes, messages and
100 re-run tests, 60 of them flaky) exported as CTRF JSON and as JUnit XML with
``harness runs export``'s writers, each in a fresh process.

Prints, per format: cases/s, the ratio to reading the results alone (the baseline, in
the same run), the file's size and the peak RSS of the exporting process
before and after the export (``VmHWM``): the growth shows the export streams (bounded
memory) rather than building the document. Usage:
python -m bench.export [--cases N] [--db-dir DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.results.model import Outcome, TestResult
from harness.store import Store

#: how many tests are re-run (the harness re-runs at most 100 failed tests per step)
RERUN_TESTS = 100

PROBE = """
import json, sys, time
from pathlib import Path
from harness.store import Store

def peak_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024

db_url, fmt, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
store = Store.open(db_url)
run_id = store.list_runs(limit=1)[0].id
if fmt == "read":  # the baseline: every result read from the store, nothing written
    def write(f, store, run_id):
        return sum(1 for _ in store.iter_results(run_id))
    mode = "w"
elif fmt == "ctrf":
    from harness.reporting.ctrf import write_ctrf as write
    mode = "w"
else:
    from harness.reporting.junit_run import write_junit as write
    mode = "wb"
before = peak_mb()
started = time.perf_counter()
with out.open(mode) as f:
    n = write(f, store, run_id)
took = time.perf_counter() - started
print(json.dumps({"format": fmt, "tests": n, "seconds": took, "mb": out.stat().st_size / 1e6,
                  "peak_before_mb": before, "peak_after_mb": peak_mb()}))
"""


def _cases(n: int) -> Iterator[TestResult]:
    for i in range(n):
        test_id = f"tests/models/m{i // 1000}/test_mod{i // 100}.py::TestThing::test_{i}[p{i % 7}]"
        if i < RERUN_TESTS:
            yield TestResult(test_id, Outcome.FAILED, 0.2, f"AssertionError: case {i}\n" * 3)
        elif i % 50 == 0:
            yield TestResult(test_id, Outcome.SKIPPED, 0.0, "needs an NPU")
        else:
            yield TestResult(test_id, Outcome.PASSED, (i % 97) / 1000)


def make_store(db_url: str, cases: int) -> int:
    """A finished run of ``cases`` cases whose first :data:`RERUN_TESTS` failed and were
    re-run twice (60 pass on a rerun: flaky)."""
    with Store.open(db_url) as store:
        run_id = store.start_run(
            job_id=None, cell="bench/cpu/host", suite="bench", backend="cpu", variant="host",
            upstream="example/bench", ref=None, sha="b" * 40, executor="local",
            log_dir=None, out_dir=None,
        )  # fmt: skip
        counts = store.add_results(run_id, _cases(cases))
        reruns = []
        for i in range(RERUN_TESTS):
            test_id = f"tests/models/m0/test_mod{i // 100}.py::TestThing::test_{i}[p{i % 7}]"
            reruns.append((test_id, 1, "failed", 0.2, f"AssertionError: again {i}"))
            reruns.append((test_id, 2, "passed" if i < 60 else "failed", 0.2, None))
        store.add_reruns(run_id, reruns)
        store.finish_run(run_id, status="failed", reason=None, counts=counts, duration_s=60.0)
        return run_id


def export_in_process(db_url: str, fmt: str, out: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, db_url, fmt, str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, Any] = json.loads(proc.stdout)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--db-dir", type=Path, default=None)
    parser.add_argument("--json", action="store_true", help="Print the measurements as JSON.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.db_dir) as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        started = time.perf_counter()
        make_store(db_url, args.cases)
        stored_s = time.perf_counter() - started
        found = [
            export_in_process(db_url, fmt, Path(tmp) / f"out.{fmt}")
            for fmt in ("read", "ctrf", "junit")
        ]
    if args.json:
        print(json.dumps({"cases": args.cases, "store_seconds": stored_s, "exports": found}))
        return
    print(f"{args.cases} cases stored in {stored_s:.1f}s")
    floor = found[0]["seconds"]
    for f in found:
        growth = f["peak_after_mb"] - f["peak_before_mb"]
        print(
            f"{f['format']:6} {f['tests']} tests, {f['mb']:.0f} MB in {f['seconds']:.1f}s "
            f"({f['tests'] / f['seconds']:.0f} cases/s, {f['seconds'] / floor:.1f}x reading); "
            f"peak RSS {f['peak_before_mb']:.0f} MB "
            f"→ {f['peak_after_mb']:.0f} MB (+{growth:.1f} MB)"
        )


if __name__ == "__main__":
    main()
