"""Parsers on result files produced by really running pytest, ctest and googletest."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from harness.results import parse
from harness.results.model import MAX_MESSAGE_CHARS, TestResult
from tests.results.conftest import PYTEST_EXPECTED, Golden


def results_of(golden: Golden) -> dict[str, TestResult]:
    stream = parse(golden.path, golden.fmt)
    results = list(stream)
    assert not stream.report.crashed, stream.report.crash_reason
    ids = [r.test_id for r in results]
    assert len(ids) == len(set(ids)), "a test id was yielded twice"
    assert stream.report.cases == len(results)
    return {r.test_id: r for r in results}


def outcomes(results: dict[str, TestResult]) -> dict[str, str]:
    return {test_id: r.outcome.value for test_id, r in results.items()}


@pytest.fixture(params=["golden_xunit1", "golden_xunit2", "golden_ctest", "golden_gtest"])
def golden(request: pytest.FixtureRequest) -> Golden:
    value: Golden = request.getfixturevalue(request.param)
    return value


def test_exact_outcomes(golden: Golden) -> None:
    assert outcomes(results_of(golden)) == golden.expected


def test_report_counts_match_the_results(golden: Golden) -> None:
    stream = parse(golden.path, golden.fmt)
    results = list(stream)
    expected_counts = {o: 0 for o in stream.report.counts}
    for outcome in golden.expected.values():
        expected_counts[outcome] += 1
    assert stream.report.counts == expected_counts
    assert stream.report.cases == len(results) == len(golden.expected)
    assert stream.report.format == golden.fmt
    assert stream.report.path == str(golden.path)


def test_messages_only_for_problems_and_bounded(golden: Golden) -> None:
    for result in results_of(golden).values():
        if result.outcome.value == "passed":
            assert result.message is None, result
        elif result.outcome.value in {"failed", "error"}:
            assert result.message, result
        assert result.message is None or len(result.message) <= MAX_MESSAGE_CHARS
        assert result.duration_s >= 0.0


def test_xunit1_and_xunit2_agree(golden_xunit1: Golden, golden_xunit2: Golden) -> None:
    one, two = results_of(golden_xunit1), results_of(golden_xunit2)
    assert list(one) == list(two)  # same ids, same order
    assert outcomes(one) == outcomes(two)


def test_pytest_messages(golden_xunit1: Golden) -> None:
    res = results_of(golden_xunit1)
    fail = res["test_golden::test_fail"].message or ""
    assert fail.startswith("AssertionError: numbers differ")  # the message attribute first
    assert "test_golden.py:" in fail  # then the traceback (element text)
    assert "setup exploded" in (res["test_golden::test_setup_error"].message or "")
    assert "teardown exploded" in (res["test_golden::test_teardown_error"].message or "")
    assert "not on this backend" in (res["test_golden::test_skip"].message or "")
    assert "known bug" in (res["test_golden::test_xfail"].message or "")
    assert (res["test_golden::test_xpass_strict"].message or "").startswith("[XPASS(strict)]")
    assert "straße ≠ strasse ✓" in (res["test_golden::test_unicode_message"].message or "")
    skip_teardown = res["test_golden::test_skip_then_teardown_error"].message or ""
    assert skip_teardown.index("teardown exploded") < skip_teardown.index("skipped in the call")


def test_huge_message_is_truncated(golden_xunit2: Golden) -> None:
    raw = golden_xunit2.path.read_text(encoding="utf-8")
    assert raw.count("x" * 20000) >= 1  # the real file carries the whole message
    message = results_of(golden_xunit2)["test_golden::test_huge_message"].message or ""
    assert len(message) <= MAX_MESSAGE_CHARS
    assert message.startswith("AssertionError: xxxx")
    assert "characters cut]" in message
    assert "END-OF-HUGE" not in message


def _records(path: Path, test_id: str) -> list[etree._Element]:
    classname, _, name = test_id.partition("::")
    cases = etree.parse(str(path)).iter("testcase")
    return [c for c in cases if c.get("classname") == classname and c.get("name") == name]


def test_adjacent_duplicate_records_are_merged(golden_xunit1: Golden) -> None:
    test_id = "test_golden::test_fail_and_teardown_error"
    records = _records(golden_xunit1.path, test_id)
    # pytest really writes two adjacent records: the call's failure, the teardown's error
    assert [[c.tag for c in r if c.tag in {"failure", "error"}] for r in records] == [
        ["failure"],
        ["error"],
    ]
    merged = results_of(golden_xunit1)[test_id]
    assert merged.outcome.value == "error"  # the worse outcome
    message = merged.message or ""
    assert message.index("teardown exploded") < message.index("call failed first")
    total = sum(float(r.get("time")) for r in records)
    assert merged.duration_s == pytest.approx(total)


def test_non_strict_xpass_reads_as_passed_in_pytest_junit(golden_xunit2: Golden) -> None:
    records = _records(golden_xunit2.path, "test_golden::test_xpass_loose")
    assert len(records) == 1
    assert len(records[0]) == 0  # nothing tells it apart from a pass
    assert results_of(golden_xunit2)["test_golden::test_xpass_loose"].outcome.value == "passed"


#: Where harness_junit_stream decides differently from pytest's junitxml: it keeps the
#: first problem of a test (the call's failure or skip) and drops a later teardown error,
#: while pytest writes both and the parser takes the worse (error).
def test_harness_stream_plugin_file(golden_xunit2_and_stream: tuple[Path, Path]) -> None:
    """The harness's own incremental writer gives the same ids and outcomes (worst phase
    wins), and also knows xpassed."""
    junitxml, stream_file = golden_xunit2_and_stream
    got = results_of(Golden(stream_file, "junit", {}))
    assert list(got) == list(results_of(Golden(junitxml, "junit", {})))  # same ids and order
    assert outcomes(got) == {
        **PYTEST_EXPECTED,
        "test_golden::test_xpass_loose": "xpassed",
    }


def test_ctest_messages(golden_ctest: Golden) -> None:
    res = results_of(golden_ctest)
    assert "something broke on stdout" in (res["fails"].message or "")
    long = res["fails_long_output"].message or ""
    assert len(long) <= MAX_MESSAGE_CHARS
    assert long.endswith("the real cause")  # the end of the output is kept
    assert "characters of output cut" in long
    assert (res["skipped_by_code"].message or "").startswith("SKIP_RETURN_CODE=77")
    assert res["skipped_by_regex"].message == "SKIP_REGULAR_EXPRESSION_MATCHED"
    assert "Unable to find executable" in (res["missing_executable"].message or "")
    assert "fixture_setup" in (res["needs_fixture"].message or "")


def test_gtest_messages(golden_gtest: Golden) -> None:
    res = results_of(golden_gtest)
    twice = res["Arith.FailsTwice"].message or ""
    assert twice.index("first") < twice.index("second")
    assert twice.count("Expected equality") == 1  # message attribute and text not doubled
    assert 'a <b> & "c" ]]> d é' in (res["Odd.Markup"].message or "")
    assert "needs an NPU" in (res["Arith.Skips"].message or "")
    assert "device teardown failed" in (res["NonTestSuiteFailure"].message or "")
