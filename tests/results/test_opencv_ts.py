"""OpenCV ts results: skips told from the console log, missing test data as skips.

The console lines are the ones OpenCV's ts prints (``modules/ts/include/opencv2/ts/ts_ext.hpp``:
``printf("[     SKIP ] %s\\n", e.what())`` between googletest's ``[ RUN      ]`` and
``[       OK ]``); ``test_real_opencv_run`` checks the parser on the output of a real
``opencv_test_core`` run.
"""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import pytest

from harness.results import opencv_ts, parse
from harness.results.opencv_ts import console_log, read_skips

DATA = Path(__file__).parent / "data" / "opencv"

MISSING = (
    "unknown file&#x0A;C++ exception with description &quot;OpenCV(5.1.0) ts.cpp:1007: "
    "error: (-2:Unspecified error) OpenCV tests: Can&apos;t find required data file: "
    "cv/shared/lena.png in function &apos;findData&apos;&#x0A;&quot; thrown in the test body."
)
XML = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="4" failures="2" disabled="0" errors="0" name="AllTests">
  <testsuite name="Core_Data" tests="4" failures="2" disabled="0" skipped="0" errors="0">
    <testcase name="optional" status="run" result="completed" time="0" classname="Core_Data" />
    <testcase name="plain" status="run" result="completed" time="0.1" classname="Core_Data" />
    <testcase name="required" status="run" result="completed" time="0" classname="Core_Data">
      <failure message="{MISSING}" type=""/>
    </testcase>
    <testcase name="wrong" status="run" result="completed" time="0" classname="Core_Data">
      <failure message="test_mat.cpp:10&#x0A;Expected equality" type=""/>
    </testcase>
  </testsuite>
</testsuites>
""".replace("{MISSING}", MISSING)

LOG = """[==========] Running 4 tests from 1 test case.
[ RUN      ] Core_Data.optional, where GetParam() = (4, 1000, 127, true)
[     SKIP ] OpenCV tests: Can't find data file: cv/optional.png
[       OK ] Core_Data.optional (0 ms)
[ RUN      ] Core_Data.plain
[       OK ] Core_Data.plain (100 ms)
[ RUN      ] Core_Data.required
unknown file: Failure
[  FAILED  ] Core_Data.required (0 ms)
[ RUN      ] Core_Data.wrong
[  FAILED  ] Core_Data.wrong (0 ms)
[     SKIP ] printed after the test ended: belongs to no test
"""


def _write(tmp_path: Path, log: str | None) -> Path:
    xml = tmp_path / "core.xml"
    xml.write_text(XML)
    if log is not None:
        console_log(xml).write_text(log)
    return xml


def test_skips_from_the_console_and_missing_data(tmp_path: Path) -> None:
    stream = parse(_write(tmp_path, LOG), "opencv-ts")
    got = {r.test_id: (r.outcome.value, r.message) for r in stream}
    assert got["Core_Data.optional"] == (
        "skipped",
        "OpenCV tests: Can't find data file: cv/optional.png",
    )
    assert got["Core_Data.plain"] == ("passed", None)
    assert got["Core_Data.required"] == (
        "skipped",
        "needs test data cv/shared/lena.png (not found)",
    )
    assert got["Core_Data.wrong"][0] == "failed"
    assert stream.report.counts["skipped"] == 2
    assert stream.report.notes == []
    # the plain googletest reading of the same XML counts the ts skip as a pass
    plain = {r.test_id: r.outcome.value for r in parse(tmp_path / "core.xml", "gtest-xml")}
    assert plain["Core_Data.optional"] == "passed"


def test_without_the_console_log_the_file_says_so(tmp_path: Path) -> None:
    stream = parse(_write(tmp_path, None), "opencv-ts")
    got = {r.test_id: r.outcome.value for r in stream}
    assert got["Core_Data.optional"] == "passed"  # cannot be told without the log
    assert got["Core_Data.required"] == "skipped"  # the XML alone says this one
    assert stream.report.notes
    assert "core.log" in stream.report.notes[0]
    assert not stream.report.crashed


def test_console_log_as_a_link_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "host-file"
    secret.write_text(LOG)
    xml = _write(tmp_path, None)
    console_log(xml).symlink_to(secret)
    stream = parse(xml, "opencv-ts")
    got = {r.test_id: r.outcome.value for r in stream}
    assert got["Core_Data.optional"] == "passed"
    assert any("not read" in note for note in stream.report.notes)


def test_a_huge_console_line_is_read_in_pieces(tmp_path: Path) -> None:
    log = tmp_path / "core.log"
    with log.open("w") as f:
        f.write("[ RUN      ] A.b\n")
        f.write("x" * 5_000_000 + "[     SKIP ] not a tag\n")
        f.write("[     SKIP ] the reason\n[       OK ] A.b (0 ms)\n")
    skips, whole = read_skips(log)
    assert skips == {"A.b": "the reason"}
    assert whole


@pytest.mark.skipif(not (DATA / "core.xml.gz").is_file(), reason="no captured OpenCV output")
def test_real_opencv_run(tmp_path: Path) -> None:
    """A real ``opencv_test_core`` run (the opencv tree of opencv-contrib-python 5.1.0.95,
    without opencv_extra): the parser's counts match what the binary itself printed."""
    for name in ("core.xml", "core.log"):
        with gzip.open(DATA / f"{name}.gz", "rb") as src, (tmp_path / name).open("wb") as dst:
            shutil.copyfileobj(src, dst)
    log = (tmp_path / "core.log").read_text(errors="replace")
    ran = int(re.search(r"^\[==========\] (\d+) tests? from", log, re.M).group(1))  # type: ignore[union-attr]
    failed_m = re.search(r"^\[  FAILED  \] (\d+) tests?, listed below", log, re.M)
    failed = int(failed_m.group(1)) if failed_m else 0
    # every test that printed a SKIP line, once (ts's own SKIPSTAT counts skip events)
    skipped_ids = set(read_skips(tmp_path / "core.log")[0])
    stream = parse(tmp_path / "core.xml", "opencv-ts")
    results = list(stream)
    assert not stream.report.crashed
    assert stream.report.notes == []
    counts = stream.report.counts
    assert len(results) >= ran  # the XML also lists tests that were not run (DISABLED_)
    run_results = [r for r in results if r.message != "not run (disabled or filtered out)"]
    assert len(run_results) == ran
    data_skips = sum(1 for r in results if (r.message or "").startswith("needs test data"))
    assert counts["failed"] + counts["error"] + data_skips == failed
    assert sum(1 for r in run_results if r.test_id in skipped_ids) == len(skipped_ids)
    assert counts["passed"] == ran - failed - len(skipped_ids)


def test_the_skips_kept_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A log of endless long-named skipped tests is not kept whole in memory: the parser
    stops remembering and says so."""
    monkeypatch.setattr(opencv_ts, "MAX_SKIP_BYTES", 10_000)
    xml = tmp_path / "core.xml"
    xml.write_text(XML)
    with console_log(xml).open("w") as f:
        for i in range(100):
            f.write(f"[ RUN      ] T.{'n' * 500}{i}\n[     SKIP ] why\n[       OK ] T.x (0 ms)\n")
    skips, whole = read_skips(console_log(xml))
    assert not whole
    assert len(skips) < 20
    stream = parse(xml, "opencv-ts")
    list(stream)
    assert any("more skipped tests than are kept" in note for note in stream.report.notes)
