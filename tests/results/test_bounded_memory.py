"""Big result files are streamed: peak memory does not grow with the file.

Runs in a subprocess so the peak RSS (``ru_maxrss``, a high-water mark) belongs to this
check alone. The files are written case by case first (that takes no memory), the peak
is read, then every file is parsed to the end and the peak read again.
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
    import json, resource, sys
    from pathlib import Path
    from harness.results import parse
    from tests.results.bigxml import write_big

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux

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
