"""Big result files are streamed: peak memory does not grow with the file.

Runs in a subprocess and reads its peak RSS from ``VmHWM`` in /proc/self/status, which
belongs to that process image alone (``ru_maxrss`` survives fork+exec on Linux, so a
child of a big pytest worker would start with the worker's peak and show no growth at
all). The files are written case by case first (that takes no memory), the peak is read,
then every file is parsed to the end and the peak read again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: cases per format: 200k pytest cases (the file is ~50 MB), 100k for the others
CASES = {"junit": 200_000, "gtest-xml": 100_000, "ctest-junit": 100_000}
GROWTH_LIMIT_MB = 15  # measured: 0-2 MB

PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from harness.results import parse
    from tests.results.bigxml import write_big

    def peak_mb():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024

    out, cases = Path(sys.argv[1]), json.loads(sys.argv[2])
    files = {}
    for fmt, n in cases.items():
        path = out / (fmt + ".xml")
        files[fmt] = (path, write_big(path, fmt, n))
    before = peak_mb()
    report = {}
    for fmt, (path, expected) in files.items():
        stream = parse(path, fmt)
        got = sum(1 for _ in stream)
        report[fmt] = {"expected": expected, "got": got, "crashed": stream.report.crashed,
                       "mb": path.stat().st_size / 1e6, "peak_growth_mb": peak_mb() - before}
    print(json.dumps({"before_mb": before, "after_mb": peak_mb(), "formats": report}))
    """
)


def test_big_files_parse_in_bounded_memory(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path), json.dumps(CASES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    for fmt, info in found["formats"].items():
        assert info["got"] == info["expected"] == CASES[fmt], (fmt, info)
        assert not info["crashed"], fmt
        # an lxml tree takes several times the file's size (the whole 19 MB gtest file:
        # ~220 MB), so even the file's own size is more than the growth allowed
        assert info["mb"] > GROWTH_LIMIT_MB, (fmt, info)
    growth = found["after_mb"] - found["before_mb"]
    assert growth < GROWTH_LIMIT_MB, f"peak RSS grew by {growth:.1f} MB: {found}"
    assert found["after_mb"] < 200, found


INGEST_PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from harness.results.ingest import ingest_file
    from harness.store import Store
    from tests.results.bigxml import write_big

    def peak_mb():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024

    out, n = Path(sys.argv[1]), int(sys.argv[2])
    path = out / "big.xml"
    expected = write_big(path, "junit", n)
    store = Store.open(f"sqlite:///{out / 'h.db'}")
    run = store.start_run(job_id=None, cell="m/cpu/host", suite="m", backend="cpu",
                          variant="host", upstream="o/m", ref=None, sha=None,
                          executor="local", log_dir=None, out_dir=None)
    before = peak_mb()
    report = ingest_file(store, run, path, "junit")
    print(json.dumps({"expected": expected, "cases": report.cases,
                      "stored": store.count_results(run), "mb": path.stat().st_size / 1e6,
                      "before_mb": before, "after_mb": peak_mb()}))
    """
)


def test_big_file_is_parsed_and_stored_in_bounded_memory(tmp_path: Path) -> None:
    """The whole ingest path of `harness run` (parser worker + SQLite store)."""
    proc = subprocess.run(
        [sys.executable, "-c", INGEST_PROBE, str(tmp_path), "200000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found["expected"] == found["cases"] == found["stored"] == 200_000
    assert found["mb"] > 2 * GROWTH_LIMIT_MB
    growth = found["after_mb"] - found["before_mb"]
    assert growth < 2 * GROWTH_LIMIT_MB, f"peak RSS grew by {growth:.1f} MB: {found}"
    assert found["after_mb"] < 200, found


SHAPES_PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from bench import adversarial
    from harness.results import parse

    def peak_mb():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024

    out, shapes, size = Path(sys.argv[1]), sys.argv[2].split(","), int(sys.argv[3])
    found = {}
    for shape in shapes:
        path = out / shape
        fmt = adversarial.SHAPES[shape](path, size)
        before = peak_mb()
        stream = parse(path, fmt)
        cases = sum(1 for _ in stream)
        found[shape] = {"cases": cases, "crashed": stream.report.crashed,
                        "growth_mb": peak_mb() - before}
        path.unlink()
    print(json.dumps(found))
    """
)

#: adversarial shapes (bench/adversarial.py) that once held the whole file: one case with
#: a million <failure> children (40 MB of file took 600 MB), one 40 MB attribute or text
SHAPES = {
    "many-failures": (1, False), "gtest-many-failures": (1, False),
    "stray-elements": (0, False),  # 10M <p/> in a suite took 1.25 GB
    "nested-stray": (1, False),  # 5M <a/> in a case's <system-out>: 630 MB per 20 MB
    # one 24 MB attribute or text of plain content: cut to its head and tail
    "huge-id": (1, False), "ctest-huge-output": (1, False),
}  # fmt: skip


def test_adversarial_xml_shapes_parse_in_bounded_memory(tmp_path: Path) -> None:
    size = 24 << 20
    proc = subprocess.run(
        [sys.executable, "-c", SHAPES_PROBE, str(tmp_path), ",".join(SHAPES), str(size)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    for shape, info in found.items():
        assert (info["cases"], info["crashed"]) == SHAPES[shape], (shape, info)
        assert info["growth_mb"] < 30, f"{shape}: a 24 MB file grew the peak RSS by {info}"
