"""llama.cpp test-backend-ops parsers on output of the real binary (built from upstream
source, see tests/llama_cpp.py), in console, csv and sql forms, test and support modes."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from harness.results import parse
from harness.results.backend_ops import iter_op_records, parse_console_line
from harness.results.model import Outcome

OPS = "ADD,SOFT_MAX"


@pytest.fixture(scope="session")
def outputs(backend_ops: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each output form once per session (a few seconds each on the CPU)."""
    out = tmp_path_factory.mktemp("backend-ops")
    runs = {
        "test.txt": ["test", "-b", "CPU", "-o", OPS],
        "test.csv": ["test", "-b", "CPU", "-o", OPS, "--output", "csv"],
        "test.sql": ["test", "-b", "CPU", "-o", "ADD", "--output", "sql"],
        "support.txt": ["support", "-b", "CPU", "-o", OPS],
        "support.csv": ["support", "-b", "CPU", "-o", OPS, "--output", "csv"],
        "nob.txt": ["test", "-o", "ADD"],  # no -b: the CPU device is skipped
    }
    files = {}
    for name, args in runs.items():
        path = out / name
        with path.open("w") as f:
            proc = subprocess.run(
                [str(backend_ops), *args], stdout=f, stderr=subprocess.PIPE, check=False
            )
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
        files[name] = path
    return files


def test_console_test_mode_counts_match_the_tools_summary(outputs: dict[str, Path]) -> None:
    text = outputs["test.txt"].read_text()
    passed, total = map(int, re.search(r"(\d+)/(\d+) tests passed", text).groups())  # type: ignore[union-attr]
    stream = parse(outputs["test.txt"], "test-backend-ops")
    results = list(stream)
    assert not stream.report.crashed
    assert len(results) == total
    assert sum(r.outcome is Outcome.PASSED for r in results) == passed
    assert {r.test_id.split("(", 1)[0] for r in results} == {"ADD", "SOFT_MAX"}
    assert results[0].test_id.startswith("ADD(type=")
    assert "\x1b" not in "".join(r.test_id for r in results)


def test_csv_and_sql_give_the_same_results_as_the_console(outputs: dict[str, Path]) -> None:
    console = {r.test_id: r.outcome for r in parse(outputs["test.txt"], "test-backend-ops")}
    from_csv = {r.test_id: r.outcome for r in parse(outputs["test.csv"], "test-backend-ops-csv")}
    assert from_csv == console
    from_sql = {r.test_id: r.outcome for r in parse(outputs["test.sql"], "test-backend-ops-sql")}
    assert from_sql == {k: v for k, v in console.items() if k.startswith("ADD(")}


def test_support_mode_is_coverage_not_tests(outputs: dict[str, Path]) -> None:
    text = outputs["support.txt"].read_text()
    n_lines = text.count("SUPPORTED")
    stream = parse(outputs["support.txt"], "test-backend-ops")
    assert list(stream) == []
    assert not stream.report.crashed
    records = list(iter_op_records(outputs["support.txt"], "test-backend-ops"))
    assert len(records) == n_lines
    assert {(r.backend, r.mode) for r in records} == {("CPU", "support")}
    assert all(r.supported for r in records)  # the CPU supports every op it is asked
    csv_records = list(iter_op_records(outputs["support.csv"], "test-backend-ops-csv"))
    assert Counter((r.op, r.params, r.supported) for r in csv_records) == Counter(
        (r.op, r.params, r.supported) for r in records
    )


def test_without_a_backend_the_cpu_is_skipped_and_nothing_is_a_test(
    outputs: dict[str, Path],
) -> None:
    stream = parse(outputs["nob.txt"], "test-backend-ops")
    assert list(stream) == []
    assert not stream.report.crashed


def test_cut_short_console_keeps_results_and_is_crashed(
    outputs: dict[str, Path], tmp_path: Path
) -> None:
    lines = outputs["test.txt"].read_text().splitlines(keepends=True)
    first_op = next(i for i, line in enumerate(lines) if line.startswith("  ADD("))
    cut = tmp_path / "cut.txt"
    # 10 complete op lines, then one whose status never printed (the process died)
    cut.write_text("".join(lines[: first_op + 10]) + lines[first_op + 10].split(": ")[0] + ": ")
    stream = parse(cut, "test-backend-ops")
    assert len(list(stream)) == 10
    assert stream.report.crashed
    assert "stopped early after 'ADD(" in (stream.report.crash_reason or "")


def test_cut_short_csv_is_crashed(outputs: dict[str, Path], tmp_path: Path) -> None:
    text = outputs["test.csv"].read_text()
    cut = tmp_path / "cut.csv"
    cut.write_text(text[: len(text) // 2].rsplit(",", 1)[0])
    stream = parse(cut, "test-backend-ops-csv")
    results = list(stream)
    assert results
    assert stream.report.crashed


@pytest.mark.parametrize(
    ("line", "outcome", "message"),
    [
        # the console printer's formats (test-backend-ops.cpp: print_test_console,
        # print_operation) for outcomes a CPU-only machine cannot produce
        ("  ADD(type=f32,ne=[10,5,4,3]): not supported [CANN0] ", Outcome.SKIPPED,
         "not supported [CANN0]"),
        ("  ROPE(type=f16,ne=[2,3]): \x1b[1;31mFAIL\x1b[0m", Outcome.FAILED, "FAIL"),
        ("  MUL_MAT(type_a=q4_0): [MUL_MAT] MAA = 0.123456789 > 0.000500000 "
         "compare failed \x1b[1;31mFAIL\x1b[0m", Outcome.FAILED,
         "[MUL_MAT] MAA = 0.123456789 > 0.000500000 compare failed"),
        ("  CPY(type_src=f32): skipping large tensors for speed ", Outcome.SKIPPED,
         "skipped: large tensors"),
    ],
)  # fmt: skip
def test_console_statuses(line: str, outcome: Outcome, message: str) -> None:
    rec = parse_console_line(line, "CANN0")
    assert rec is not None
    from harness.results.backend_ops import _as_test_result

    result = _as_test_result(rec)
    assert result is not None
    assert result.outcome is outcome
    assert result.message == message


def test_each_device_of_a_run_has_its_own_ids() -> None:
    """The npu recipe writes one console file per CANN device; their rows must not
    collide, and device 0 keeps the ids a cpu run has (comparable coverage)."""
    from harness.results.backend_ops import _as_test_result

    line = "  ADD(type=f32,ne=[10,5,4,3]): \x1b[1;32mOK\x1b[0m"
    ids = []
    for device in ("CPU", "CANN0", "CANN1", "CANN12", "CUDA0"):
        rec = parse_console_line(line, device)
        assert rec is not None
        result = _as_test_result(rec)
        assert result is not None
        ids.append(result.test_id)
    plain = "ADD(type=f32,ne=[10,5,4,3])"
    assert ids == [plain, plain, f"CANN1:{plain}", f"CANN12:{plain}", plain]


@pytest.mark.parametrize(
    "body",
    [
        "  ADD(type=f32): \r\x08FAIL\n",  # a status overwritten in place
        "  ADD(type=f32): \nwarning: something else printed\nFAIL\n",  # interleaved
        "  ADD(type=f32): [WARN] a log line\nFAIL\n",
    ],
    ids=["carriage-return", "interleaved", "status-after-a-log"],
)
def test_a_status_not_on_its_op_line_is_still_read(tmp_path: Path, body: str) -> None:
    """Each of these FAILs vanished: 0 cases and a complete file."""
    path = tmp_path / "out.txt"
    path.write_text("Backend 1/1: CPU\n" + body + "1/1 backends passed\nOK\n", newline="")
    stream = parse(path, "test-backend-ops")
    (result,) = list(stream)
    assert result.test_id == "ADD(type=f32)"
    assert result.outcome is Outcome.FAILED
    assert not stream.report.crashed


def test_an_op_whose_status_never_printed_is_a_failure_not_dropped(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_text(
        "Backend 1/1: CPU\n  ADD(type=f32): \nsome log\n  MUL(type=f32): OK\n"
        "1/1 backends passed\nOK\n"
    )
    stream = parse(path, "test-backend-ops")
    results = {r.test_id: r for r in stream}
    assert results["ADD(type=f32)"].outcome is Outcome.FAILED
    assert "no status printed" in (results["ADD(type=f32)"].message or "")
    assert results["MUL(type=f32)"].outcome is Outcome.PASSED


def test_an_sql_row_whose_values_shifted_is_a_crash_mark_not_dropped(tmp_path: Path) -> None:
    cols = "(op_name, op_params, supported, passed, error_message, test_mode, backend_name)"
    path = tmp_path / "out.sql"
    path.write_text(
        f"INSERT INTO test_backend_ops {cols} VALUES "
        "('ADD', 'a', '1', '1', '', 'test', 'CPU');\n"
        f"INSERT INTO test_backend_ops {cols} VALUES "
        "('A''DD', 't'''', '1', '0', 'x', 'test', 'CPU');\n"
    )
    stream = parse(path, "test-backend-ops-sql")
    assert [r.test_id for r in stream] == ["ADD(a)"]
    assert stream.report.crashed
    assert "out.sql:2: an INSERT with" in (stream.report.crash_reason or "")


def test_a_line_of_hundreds_of_megabytes_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """One 300 MB console line took 1.5 GB: it is read as its head and tail now (here 64
    MB; the peak RSS of a child process that parses it grows by less than 32 MB)."""
    import json
    import sys
    import textwrap

    path = tmp_path / "out.txt"
    with path.open("w") as f:
        f.write("Backend 1/1: CPU\n  ADD(type=f32,ne=[")
        for _ in range(64):
            f.write("9," * (1 << 19))
        f.write("1]): OK\n1/1 backends passed\nOK\n")
    probe = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        from harness.results import parse

        def peak():
            with open("/proc/self/status") as f:
                return next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024

        before = peak()
        stream = parse(Path(sys.argv[1]), "test-backend-ops")
        results = [(r.test_id[:9], r.outcome.value, len(r.test_id)) for r in stream]
        print(json.dumps({"results": results, "growth": peak() - before,
                          "crashed": stream.report.crashed}))
        """
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(path)],
        cwd=root, capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    found = json.loads(proc.stdout)
    assert found["results"] == [["ADD(type=", "passed", 1000]]
    assert not found["crashed"]
    assert found["growth"] < 32, found


def test_a_case_whose_name_repeats_keeps_a_stable_id_of_its_own(
    backend_ops: Path, tmp_path: Path
) -> None:
    # LEAKY_RELU has a case printed twice under one name in this tree (the FFN-width
    # case repeats type=f32,ne_a=[10,5,4,3]): the tool counts 7 tests, 6 distinct names
    ids = []
    for attempt in (1, 2):
        path = tmp_path / f"leaky{attempt}.txt"
        with path.open("w") as f:
            subprocess.run(
                [str(backend_ops), "test", "-b", "CPU", "-o", "LEAKY_RELU"], stdout=f, check=True
            )
        text = path.read_text()
        total = int(re.search(r"\d+/(\d+) tests passed", text).group(1))  # type: ignore[union-attr]
        names = [m.group(1) for m in re.finditer(r"^  (LEAKY_RELU\(.*\)): ", text, re.M)]
        assert len(names) == total > len(set(names))  # a name repeats in the real output
        ids.append([r.test_id for r in parse(path, "test-backend-ops")])
    first, again = ids
    assert first == again  # the same output gives the same ids
    assert len(first) == len(set(first)) == total
    (repeated,) = [n for n, k in Counter(names).items() if k > 1]
    assert first.count(repeated) == 1
    assert first.index(repeated) < first.index(f"{repeated} #2")
