"""CLI start-up: ``harness --version`` and ``harness --help`` against ``python -c pass``.

Each is started ``--repeat`` times (interleaved, so that a busy moment hits all alike);
prints the median wall time of each and its ratio to ``python -c pass`` measured in the
same run, and, for reference, ``harness run --help`` (which imports its command).
Target (issue 18): ``--version`` and ``--help`` under 0.3 s on a 2-core machine.

Usage: python bench/cli_startup.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HARNESS = [sys.executable, "-m", "harness"]
CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "harness --version": [*HARNESS, "--version"],
    "harness --help": [*HARNESS, "--help"],
    "harness run --help": [*HARNESS, "run", "--help"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    took: dict[str, list[float]] = {name: [] for name in CASES}
    root = Path(__file__).resolve().parents[1]
    for _ in range(args.repeat):
        for name, argv in CASES.items():
            t0 = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, cwd=root)
            took[name].append(time.perf_counter() - t0)
    base = statistics.median(took["python -c pass"])
    for name, times in took.items():
        median = statistics.median(times)
        print(f"{name:20} {median * 1000:7.1f} ms  ({median / base:5.1f}x python -c pass)")


if __name__ == "__main__":
    main()
