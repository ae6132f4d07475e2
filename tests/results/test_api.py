"""``parse``/``FORMATS``/``register_format``: the contract other modules code against."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import ConfigError, ResultFileError
from harness.results import FORMATS, ParseReport, ResultStream, parse, register_format
from harness.results.model import OUTCOMES, Outcome, TestResult
from tests.results.conftest import Golden


def test_builtin_formats() -> None:
    assert {"junit", "ctest-junit", "gtest-xml"} <= set(FORMATS)
    assert all(callable(fn) for fn in FORMATS.values())


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ResultFileError, match="does not exist"):
        parse(tmp_path / "nope.xml", "junit")
    with pytest.raises(ResultFileError, match="not a regular file"):
        parse(tmp_path, "junit")


def test_unknown_format_lists_the_known_ones(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text("<testsuites/>")
    with pytest.raises(ConfigError) as info:
        parse(tmp_path / "a.xml", "tap")
    for name in FORMATS:
        assert name in info.value.message


def test_stream_is_lazy_and_single_use(golden_ctest: Golden) -> None:
    stream = parse(golden_ctest.path, "ctest-junit")
    assert isinstance(stream, ResultStream)
    assert stream.report.cases == 0  # nothing read yet
    iterator = iter(stream)
    first = next(iterator)
    assert isinstance(first, TestResult)
    assert stream.report.cases == 1  # one at a time
    rest = list(iterator)
    assert stream.report.cases == 1 + len(rest)
    with pytest.raises(RuntimeError, match="only once"):
        iter(stream)


def test_counts_have_every_outcome(golden_gtest: Golden) -> None:
    stream = parse(golden_gtest.path, "gtest-xml")
    list(stream)
    assert list(stream.report.counts) == [o.value for o in OUTCOMES]
    assert all(type(key) is str for key in stream.report.counts)
    assert sum(stream.report.counts.values()) == stream.report.cases


def test_register_format(tmp_path: Path) -> None:
    def lines(path: Path, report: ParseReport) -> Iterator[TestResult]:
        for line in path.read_text().splitlines():
            if line == "<crash>":
                report.crashed, report.crash_reason = True, "lines: crashed"
                return
            yield TestResult(line, Outcome.PASSED)

    register_format("lines", lines)
    try:
        (tmp_path / "r.txt").write_text("a\nb\n<crash>\nc\n")
        stream = parse(tmp_path / "r.txt", "lines")
        assert [r.test_id for r in stream] == ["a", "b"]
        assert stream.report.counts["passed"] == 2
        assert stream.report.crashed
        assert stream.report.format == "lines"
    finally:
        del FORMATS["lines"]
    with pytest.raises(ValueError, match="non-empty name"):
        register_format("", lines)


def test_time_attribute(golden_xunit2: Golden, tmp_path: Path) -> None:
    data = golden_xunit2.path.read_text(encoding="utf-8")
    data, n = re.subn(
        r'(<testcase classname="test_golden" name="test_pass") time="[^"]*"', r'\1 time="n/a"', data
    )
    assert n == 1
    data, n = re.subn(r'(name="test_fail") time="[^"]*"', r"\1", data)
    assert n == 1
    data = data.replace('name="test_skip" time="', 'name="test_skip" time="-', 1)
    # a fast test may really take "0.000": give one case a known time
    data, n = re.subn(r'(name="test_huge_message") time="[^"]*"', r'\1 time="1.250"', data)
    assert n == 1
    path = tmp_path / "x.xml"
    path.write_text(data, encoding="utf-8")
    res = {r.test_id: r for r in parse(path, "junit")}
    assert res["test_golden::test_pass"].duration_s == 0.0  # invalid
    assert res["test_golden::test_fail"].duration_s == 0.0  # missing
    assert res["test_golden::test_skip"].duration_s == 0.0  # negative
    assert res["test_golden::test_huge_message"].duration_s == 1.25


def test_entities_are_not_resolved(tmp_path: Path) -> None:
    path = tmp_path / "xxe.xml"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<testsuite><testcase classname="c" name="n"><failure message="m">&x;</failure>'
        "</testcase></testsuite>"
    )
    results = list(parse(path, "junit"))
    assert all("root:" not in (r.message or "") for r in results)
