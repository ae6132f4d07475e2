"""Files cut short by a crash, malformed, empty or of the wrong kind: never an exception.

The truncated files are the real golden files cut at chosen byte offsets; what the
parser must keep is worked out independently from the complete file: every test case
whose element ends before the cut.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from lxml import etree

from harness.results import parse
from harness.results.model import TestResult
from tests.results.conftest import Golden

CASE_END = re.compile(rb"</testcase>|<testcase\b[^>]*/>")
ENDS_EARLY = re.compile(r"^cut\.xml: file ends early \(line \d+, column \d+\): \S")


@pytest.fixture(params=["golden_xunit1", "golden_xunit2", "golden_ctest", "golden_gtest"])
def golden(request: pytest.FixtureRequest) -> Golden:
    value: Golden = request.getfixturevalue(request.param)
    return value


def _test_id(case: etree._Element, fmt: str) -> str:
    """The id each format must give, written out here independently of the parsers."""
    name, classname = case.get("name") or "", case.get("classname") or ""
    if fmt == "junit":
        return f"{classname}::{name}" if classname else name
    if fmt == "gtest-xml":
        return f"{classname}.{name}" if name else case.getparent().get("name")
    return name


def _record_ids(golden: Golden) -> list[str]:
    """Ids of the <testcase> records in document order (duplicates included)."""
    tree = etree.parse(str(golden.path))
    return [_test_id(case, golden.fmt) for case in tree.iter("testcase")]


def _collapse_adjacent(ids: list[str]) -> list[str]:
    return [x for i, x in enumerate(ids) if i == 0 or ids[i - 1] != x]


def _cuts(data: bytes) -> list[int]:
    """Byte offsets to cut at: between test cases, inside tags and text, at fractions."""
    root_open = re.search(rb"<testsuites?\b[^>]*>", data)
    assert root_open is not None
    ends = [m.end() for m in CASE_END.finditer(data)]
    starts = [m.start() for m in re.finditer(rb"<testcase\b", data)]
    problems = [m.start() for m in re.finditer(rb"<(failure|error|skipped)\b", data)]
    cuts = {root_open.end(), len(data.rstrip()) - 3}  # nothing yet; inside the last end tag
    cuts.update(ends[:-1])  # exactly between two test cases
    cuts.update(s + 12 for s in starts[1:])  # inside a start tag's attributes
    cuts.update(p + 40 for p in problems)  # inside a failure/skip's attributes or text
    cuts.update(int(len(data) * f) for f in (0.33, 0.5, 0.9))
    return sorted(c for c in cuts if root_open.end() <= c < len(data.rstrip()))


def test_truncated_files_keep_every_complete_case(golden: Golden, tmp_path: Path) -> None:
    data = golden.path.read_bytes()
    ends = [m.end() for m in CASE_END.finditer(data)]
    record_ids = _record_ids(golden)
    assert len(record_ids) == len(ends)  # the byte scan found every record
    full = {r.test_id: r for r in parse(golden.path, golden.fmt)}
    cuts = _cuts(data)
    assert len(cuts) >= 10
    path = tmp_path / "cut.xml"
    for cut in cuts:
        path.write_bytes(data[:cut])
        stream = parse(path, golden.fmt)
        results: list[TestResult] = list(stream)
        complete = sum(1 for end in ends if end <= cut)
        kept = record_ids[:complete]
        where = f"cut at byte {cut} of {len(data)}"
        assert [r.test_id for r in results] == _collapse_adjacent(kept), where
        for result in results:
            if kept.count(result.test_id) == record_ids.count(result.test_id):
                assert result == full[result.test_id], where
        assert stream.report.cases == len(results)
        assert stream.report.crashed, where
        assert ENDS_EARLY.match(stream.report.crash_reason or ""), stream.report.crash_reason


def test_cut_before_the_root_element(golden: Golden, tmp_path: Path) -> None:
    path = tmp_path / "cut.xml"
    path.write_bytes(golden.path.read_bytes()[:30])
    stream = parse(path, golden.fmt)
    assert list(stream) == []
    assert (stream.report.crash_reason or "").startswith(
        "cut.xml: file ends before the root element (line 1, column"
    )


def test_nul_bytes_after_a_crash(golden_gtest: Golden, tmp_path: Path) -> None:
    """A preallocated file a killed process never finished: the data ends in NUL bytes."""
    data = golden_gtest.path.read_bytes()
    cut = data.index(b"</testcase>") + len(b"</testcase>")
    path = tmp_path / "cut.xml"
    path.write_bytes(data[:cut] + b"\0" * 4096)
    stream = parse(path, "gtest-xml")
    assert [r.test_id for r in stream] == ["Arith.Adds", "Arith.FailsTwice"]
    assert stream.report.crashed
    assert "Char 0x0" in (stream.report.crash_reason or "")


def test_junk_after_a_complete_document(golden_ctest: Golden, tmp_path: Path) -> None:
    path = tmp_path / "x.xml"
    path.write_bytes(golden_ctest.path.read_bytes() + b"<testsuite>")
    stream = parse(path, "ctest-junit")
    assert len(list(stream)) == len(golden_ctest.expected)
    assert (stream.report.crash_reason or "").startswith("x.xml: malformed XML (line ")
    assert "Extra content at the end of the document" in (stream.report.crash_reason or "")


def test_corruption_in_the_middle(golden_xunit2: Golden, tmp_path: Path) -> None:
    data = golden_xunit2.path.read_bytes()
    ends = [m.end() for m in CASE_END.finditer(data)]
    bad = ends[3]  # the 4th record's end tag gets mangled
    path = tmp_path / "x.xml"
    path.write_bytes(data[: bad - 3] + b"sX>" + data[bad:])
    stream = parse(path, "junit")
    assert len(list(stream)) == 3
    reason = stream.report.crash_reason or ""
    assert reason.startswith("x.xml: malformed XML (line ")
    assert "mismatch" in reason


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "x.xml: empty file"),
        (b"  \n\n ", "x.xml: file ends before the root element (line "),
        (
            b"Segmentation fault (core dumped)\n",
            "x.xml: malformed XML (line 1, column 1): Start tag expected, '<' not found",
        ),
        (b"<html><body>502 Bad Gateway</body></html>", "x.xml: root element is <html>"),
        (
            b"<report><testsuite><testcase name='a'/></testsuite></report>",
            "x.xml: root element is <report>, expected <testsuites> or <testsuite>",
        ),
        (gzip.compress(b"<testsuite/>"), "x.xml: malformed XML (line 1, column 1)"),
        (b"\xef\xbb\xbf<testsuite><testcase name='\xff'/>", "x.xml: malformed XML (line 1"),
    ],
    ids=["empty", "blank", "not-xml", "html", "wrapped", "gzip", "bad-utf8"],
)
@pytest.mark.parametrize("fmt", ["junit", "ctest-junit", "gtest-xml"])
def test_unusable_files_are_crashed_not_raised(
    content: bytes, reason: str, fmt: str, tmp_path: Path
) -> None:
    path = tmp_path / "x.xml"
    path.write_bytes(content)
    stream = parse(path, fmt)
    assert list(stream) == []
    assert stream.report.crashed
    assert (stream.report.crash_reason or "").startswith(reason), stream.report.crash_reason
    assert stream.report.cases == 0


@pytest.mark.parametrize("root", ["testsuites", "testsuite"])
def test_empty_suites_are_complete(root: str, tmp_path: Path) -> None:
    path = tmp_path / "x.xml"
    path.write_text(f'<?xml version="1.0"?>\n<{root} tests="0"></{root}>\n')
    stream = parse(path, "junit")
    assert list(stream) == []
    assert not stream.report.crashed
