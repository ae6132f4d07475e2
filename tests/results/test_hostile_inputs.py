"""Parsers are total and what they yield is bounded: whatever a result file holds, the
results before the problem are kept and the file is marked crashed, never a traceback;
test ids are capped (distinct ids stay distinct) and control characters escaped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from harness.results import FORMATS, ParseReport, TestResult, parse, register_format
from harness.results.ingest import ingest_file
from harness.results.model import MAX_MESSAGE_CHARS, MAX_TEST_ID_CHARS, Outcome, clean_test_id
from harness.store import Store


def test_a_parser_that_raises_keeps_its_results_and_marks_the_file_crashed(
    tmp_path: Path,
) -> None:
    def buggy(path: Path, report: ParseReport) -> Iterator[TestResult]:
        yield TestResult("a", Outcome.PASSED)
        yield TestResult("b", Outcome.FAILED)
        raise IndexError("list index out of range")

    register_format("buggy-test-format", buggy)
    try:
        path = tmp_path / "r.txt"
        path.write_text("x")
        stream = parse(path, "buggy-test-format")
        assert [r.test_id for r in stream] == ["a", "b"]
        assert stream.report.crashed
        assert stream.report.crash_reason == (
            "r.txt: the buggy-test-format parser stopped after 2 result(s): IndexError: list "
            "index out of range"
        )
    finally:
        FORMATS.pop("buggy-test-format")


def test_an_sql_insert_without_a_column_list_is_a_crash_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "ops.sql"
    path.write_text("INSERT INTO test_backend_ops VALUES ('CPU', 'ADD');\n")
    stream = parse(path, "test-backend-ops-sql")
    assert list(stream) == []
    assert stream.report.crashed
    assert "without a column list" in (stream.report.crash_reason or "")


def junit(cases: list[tuple[str, str]]) -> str:
    body = "".join(
        f'<testcase classname="c" name="{name}">{inner}</testcase>' for name, inner in cases
    )
    return f'<?xml version="1.0"?><testsuites><testsuite name="s">{body}</testsuite></testsuites>'


def test_huge_test_ids_are_capped_and_stay_distinct(tmp_path: Path) -> None:
    long_a, long_b = "x" * 3_000_000 + "a", "x" * 3_000_000 + "b"  # share 3 MB of prefix
    path = tmp_path / "r.xml"
    path.write_text(junit([(long_a, ""), (long_b, ""), ("short", "")]))
    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as store:
        run_id = store.start_run(
            job_id=None, cell="demo/cpu/host", suite="demo", backend="cpu", variant="host",
            upstream="example/demo", ref=None, sha=None, executor="local",
            log_dir=str(tmp_path), out_dir=str(tmp_path),
        )  # fmt: skip
        report = ingest_file(store, run_id, path, "junit")
        ids = [r.test_id for r in store.iter_results(run_id)]
    assert report.cases == 3
    assert len(ids) == len(set(ids)) == 3
    assert ids[2] == "c::short"
    for capped in ids[:2]:
        assert len(capped) == MAX_TEST_ID_CHARS
        assert capped.startswith("c::xxx")
        assert "…#" in capped[-18:]


def test_control_characters_in_ids_are_escaped_and_the_merged_junit_is_written(
    tmp_path: Path,
) -> None:
    """test-backend-ops printing a control character in an op's parameters."""
    from harness.matrix import Cell
    from harness.reporting.outputs import write_merged_junit
    from harness.runner import RunStatus, RunSummary

    console = tmp_path / "ops.txt"
    console.write_text(
        "Testing 1 devices\n\nBackend 1/1: CPU\n"
        "  ADD(type=f32,ne=[1,\x01,3]): OK\n"
        "  MUL(type=f32,ne=[2]): not supported [CPU] " + "y" * 10_000 + "\n"
        "  1/1 tests passed\n  Backend CPU: OK\n\n1/1 backends passed\nOK\n"
    )
    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as store:
        run_id = store.start_run(
            job_id=None, cell="llama/cpu/host", suite="llama", backend="cpu", variant="host",
            upstream="ggml-org/llama.cpp", ref=None, sha=None, executor="local",
            log_dir=str(tmp_path), out_dir=str(tmp_path),
        )  # fmt: skip
        ingest_file(store, run_id, console, "test-backend-ops")
        results = list(store.iter_results(run_id))
        summary = RunSummary(cell=Cell("llama", "cpu", "host"), run_id=run_id, ref=None,
                             log_dir=tmp_path)  # fmt: skip
        summary.status = RunStatus.PASSED
        out = tmp_path / "merged.xml"
        write_merged_junit(out, store, [summary])
    ids = {r.test_id: r for r in results}
    escaped = clean_test_id("ADD(type=f32,ne=[1,\x01,3])")
    assert escaped.startswith("ADD(type=f32,ne=[1,\\x01,3]) [escaped #")
    assert escaped in ids
    (skipped,) = [r for r in results if r.outcome is Outcome.SKIPPED]
    assert skipped.message is not None
    assert len(skipped.message) <= MAX_MESSAGE_CHARS
    assert "characters cut" in skipped.message
    names = [e.get("name") for e in etree.parse(str(out)).iter("testcase")]
    assert escaped in names


def test_a_case_with_many_failure_children_is_one_result_with_a_capped_message(
    tmp_path: Path,
) -> None:
    """50k <failure> children in one <testcase> (a 2 MB file): one failed result whose
    message keeps the first ones and is cut (bench/ingest.py measures the time; this was
    quadratic in the number of children)."""
    kids = "".join(f'<failure message="m{i}">t{i}</failure>' for i in range(50_000))
    path = tmp_path / "r.xml"
    path.write_text(junit([("t", kids)]))
    (result,) = list(parse(path, "junit"))
    assert result.outcome is Outcome.FAILED
    assert result.message is not None
    assert result.message.startswith("m0\nt0\n\nm1\nt1")
    assert len(result.message) <= MAX_MESSAGE_CHARS


def test_escaped_ids_stay_distinct_from_ids_that_look_escaped(tmp_path: Path) -> None:
    """``a<newline>b`` escaped was ``a\\nb``, the id of another test literally named so:
    one failed and one passed test became one id."""
    path = tmp_path / "r.xml"
    path.write_text(junit([("a&#10;b", "<failure/>"), ("a\\nb", ""), ("a&#10;b [escaped", "")]))
    results = list(parse(path, "junit"))
    assert len({r.test_id for r in results}) == 3
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.PASSED, Outcome.PASSED]
    assert all(clean_test_id(r.test_id) == r.test_id for r in results)  # clean stays
