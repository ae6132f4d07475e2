"""Adversarial result files: time per MB stays flat from 1 MB to 100 MB, memory bounded.

For each shape, files of 1, 10 and 100 MB (``--sizes``) are generated and ingested into
a fresh SQLite database by a separate ``python -c`` process (parse + store, exactly as
``harness run`` does), which reports its own wall time and peak RSS. Shapes:

  many-failures  one JUnit <testcase> with as many <failure> children as fit
  long-ids       JUnit test cases whose names are 20 KB each (stored capped)
  huge-id        one JUnit test case whose name is the whole file (over 10 MB: refused
                 by libxml2's limit, a crash mark)
  long-lines     test-backend-ops console output: op lines of 50 KB each
  control-chars  JUnit names and messages full of characters that do not print
  gtest-many-failures  one googletest case with as many <failure> children as fit
  ctest-huge-output    one failed ctest test whose <system-out> is the whole file
  ctest-many-cases     ctest "not run" tests with 2 KB reasons and outputs
  stray-elements       a suite of millions of elements that are not test cases
  nested-stray         one case whose <system-out> holds millions of elements

The baseline, measured in the same run, is the shape's 1 MB file: the figure is seconds
per MB at each size, and the ratio of the largest size's to the 1 MB one's (flat: ~1;
quadratic: ~100 at 100 MB). Usage: python bench/adversarial.py [--sizes 1,10,100]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MB = 1 << 20

INGEST = """
import json, resource, sys, time
from pathlib import Path
from harness.results.ingest import ingest_file
from harness.store import Store
store = Store.open("sqlite:///" + sys.argv[1])
run = store.start_run(job_id=None, cell="b/cpu/x", suite="b", backend="cpu", variant="x",
    upstream="o/r", ref=None, sha=None, executor="local", log_dir=None, out_dir=None)
t = time.perf_counter()
report = ingest_file(store, run, Path(sys.argv[2]), sys.argv[3])
dt = time.perf_counter() - t
rss = max(resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF,
          resource.RUSAGE_CHILDREN)) / 1024  # big files are parsed in a child process
print(json.dumps({"s": dt, "rss_mb": rss, "cases": report.cases, "crashed": report.crashed}))
"""


def _write(path: Path, size: int, head: str, piece: Callable[[int], str], tail: str) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write(head)
        written, i = len(head), 0
        while written < size:
            chunk = piece(i)
            f.write(chunk)
            written += len(chunk)
            i += 1
        f.write(tail)


JUNIT_HEAD = '<?xml version="1.0"?><testsuites><testsuite name="s">'
JUNIT_TAIL = "</testsuite></testsuites>"


def many_failures(path: Path, size: int) -> str:
    _write(
        path,
        size,
        JUNIT_HEAD + '<testcase classname="c" name="t">',
        lambda i: f'<failure message="m{i}">t{i}</failure>',
        "</testcase>" + JUNIT_TAIL,
    )
    return "junit"


def long_ids(path: Path, size: int) -> str:
    _write(
        path,
        size,
        JUNIT_HEAD,
        lambda i: f'<testcase classname="c" name="{i}-{"n" * 20_000}"/>',
        JUNIT_TAIL,
    )
    return "junit"


def huge_id(path: Path, size: int) -> str:
    with path.open("w") as f:
        f.write(JUNIT_HEAD + '<testcase classname="c" name="')
        for _ in range(size // MB):
            f.write("h" * MB)
        f.write('"/>' + JUNIT_TAIL)
    return "junit"


def long_lines(path: Path, size: int) -> str:
    _write(
        path,
        size,
        "Testing 1 devices\n\nBackend 1/1: CPU\n",
        lambda i: f"  ADD(type=f32,ne=[{i},{'9,' * 25_000}1]): OK\n",
        "1/1 backends passed\nOK\n",
    )
    return "test-backend-ops"


def control_chars(path: Path, size: int) -> str:
    _write(
        path,
        size,
        JUNIT_HEAD,
        lambda i: (
            f'<testcase classname="c" name="t{i}&#x85;&#x2028;&#xFEFF;"><failure message="&#x85;">'
            f"{'&#x2029;x' * 200}</failure></testcase>"
        ),
        JUNIT_TAIL,
    )
    return "junit"


GTEST_HEAD = '<?xml version="1.0"?><testsuites tests="1"><testsuite name="S" tests="1">'


def gtest_many_failures(path: Path, size: int) -> str:
    _write(
        path,
        size,
        GTEST_HEAD + '<testcase name="t" classname="S" status="run" result="completed">',
        lambda i: f'<failure message="m{i}" type="">x.cpp:{i}\nExpected: {i}</failure>',
        "</testcase>" + JUNIT_TAIL,
    )
    return "gtest-xml"


def ctest_huge_output(path: Path, size: int) -> str:
    """One failed ctest test whose output is the whole file, in one text node."""
    with path.open("w") as f:
        f.write(JUNIT_HEAD + '<testcase name="t" classname="t" status="fail">')
        f.write('<failure message="Failed"/><system-out>')
        for _ in range(size // MB):
            f.write(("o" * 1023 + "\n") * 1024)
        f.write("</system-out></testcase>" + JUNIT_TAIL)
    return "ctest-junit"


def ctest_many_cases(path: Path, size: int) -> str:
    _write(
        path,
        size,
        JUNIT_HEAD,
        lambda i: (
            f'<testcase name="t{i}" classname="t{i}" status="notrun">'
            f'<skipped message="{"n" * 2000}"/><system-out>{"o" * 2000}</system-out></testcase>'
        ),
        JUNIT_TAIL,
    )
    return "ctest-junit"


def stray_elements(path: Path, size: int) -> str:
    """A suite of nothing but elements that are not test cases."""
    _write(path, size, JUNIT_HEAD, lambda i: "<p/>" * 64, JUNIT_TAIL)
    return "junit"


def nested_stray(path: Path, size: int) -> str:
    """One case whose <system-out> holds nothing but stray elements."""
    _write(
        path,
        size,
        JUNIT_HEAD + '<testcase classname="c" name="t"><failure/><system-out>',
        lambda i: "<a/>" * 64,
        "</system-out></testcase>" + JUNIT_TAIL,
    )
    return "junit"


SHAPES = {
    "many-failures": many_failures,
    "long-ids": long_ids,
    "huge-id": huge_id,
    "long-lines": long_lines,
    "control-chars": control_chars,
    "gtest-many-failures": gtest_many_failures,
    "ctest-huge-output": ctest_huge_output,
    "ctest-many-cases": ctest_many_cases,
    "stray-elements": stray_elements,
    "nested-stray": nested_stray,
}


def measure(shape: str, size_mb: int, tmp: Path) -> dict[str, float]:
    path = tmp / f"{shape}-{size_mb}.txt"
    fmt = SHAPES[shape](path, size_mb * MB)
    db = tmp / f"{shape}-{size_mb}.db"
    out = subprocess.run(
        [sys.executable, "-c", INGEST, str(db), str(path), fmt],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{shape} at {size_mb} MB: ingest failed:\n{out.stderr[-3000:]}")
    figures = json.loads(out.stdout)
    figures["mb"] = path.stat().st_size / MB
    path.unlink()
    db.unlink()
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,10,100", help="file sizes in MB, smallest first")
    ap.add_argument("--shapes", default=",".join(SHAPES))
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shapes.split(","):
            rows = [measure(shape, size, Path(tmp)) for size in sizes]
            per_mb = [r["s"] / r["mb"] for r in rows]
            cells = ", ".join(
                f"{r['mb']:.0f} MB {r['s']:.2f} s ({p * 1000:.0f} ms/MB, RSS {r['rss_mb']:.0f} MB,"
                f" {r['cases']} cases{', crashed' if r['crashed'] else ''})"
                for r, p in zip(rows, per_mb, strict=True)
            )
            print(f"{shape}: {cells}; ms/MB ratio largest/smallest {per_mb[-1] / per_mb[0]:.2f}")


if __name__ == "__main__":
    main()
