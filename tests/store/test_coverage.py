"""Op coverage and CPU fallbacks stored per run (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from harness.results.backend_ops import OpRecord, iter_op_records
from harness.store import Store
from harness.store.coverage import add_fallbacks, add_op_records, fallbacks, op_coverage


def _run(store: Store) -> int:
    return store.start_run(
        job_id=None, cell="llama.cpp/npu/host", suite="llama.cpp", backend="npu",
        variant="host", upstream="ggml-org/llama.cpp", ref=None, sha=None, executor="local",
        log_dir=None, out_dir=None,
    )  # fmt: skip


def test_aggregates_per_device_and_op(db_url: str) -> None:
    with Store.open(db_url) as store:
        run_id = _run(store)
        records = [
            OpRecord("CANN0", "ADD", "type=f32", "test", True, True, None),
            OpRecord("CANN0", "ADD", "type=f16", "test", True, True, None),
            OpRecord("CANN0", "ROPE", "type=f16", "test", True, False, "compare failed"),
            OpRecord("CANN0", "ROPE", "type=f32", "test", True, True, None),
            OpRecord("CANN0", "CONV_3D", "k=3", "test", False, None, "not supported [CANN0]"),
            OpRecord("CANN0", "SCALE", "s=2", "support", True, None, None),
            OpRecord("CANN0", "SCALE", "s=3", "support", False, None, None),
            OpRecord("CANN0", "ADD", "x", "perf", True, None, "10 runs"),  # not coverage
        ] * 3000  # several insert batches
        assert add_op_records(store, run_id, iter(records)) == len(records)
        cov = {o.op: o for o in op_coverage(store, run_id)}
        assert next(o.op for o in op_coverage(store, run_id)) == "ROPE"  # failing first
        assert cov["ADD"].cases == 6000
        assert (cov["ADD"].passed, cov["ADD"].status) == (6000, "passing")
        assert (cov["ROPE"].failed, cov["ROPE"].status) == (3000, "failing")
        assert cov["CONV_3D"].status == "unsupported"
        # support mode only: counted as such, not as tested cases
        assert (cov["SCALE"].cases, cov["SCALE"].supported) == (0, 0)
        assert (cov["SCALE"].support_cases, cov["SCALE"].support_supported) == (6000, 3000)
        assert cov["SCALE"].status == cov["SCALE"].support_status == "partial"


def test_test_mode_and_support_mode_are_counted_apart(db_url: str) -> None:
    # one run with both modes (the cpu cell: test, then support): each parameter set is
    # there once per mode, so adding the modes up counted cases and unsupported ones twice
    with Store.open(db_url) as store:
        run_id = _run(store)
        params = [f"type_a=f32,m={m}" for m in range(5)]
        records = [
            *(OpRecord("CPU", "MUL_MAT", p, "test", True, True, None) for p in params[:3]),
            OpRecord("CPU", "MUL_MAT", params[3], "test", True, False, "NMSE = 1.0 > 5e-4"),
            OpRecord("CPU", "MUL_MAT", params[4], "test", False, None, "not supported [CPU]"),
            *(OpRecord("CPU", "MUL_MAT", p, "support", True, None, None) for p in params[:4]),
            OpRecord("CPU", "MUL_MAT", params[4], "support", False, None, None),
            OpRecord("CPU", "MUL_MAT", params[0], "grad", True, True, None),  # not coverage
        ]
        add_op_records(store, run_id, records)
        (mm,) = op_coverage(store, run_id)
        assert (mm.cases, mm.supported, mm.passed, mm.failed, mm.unsupported) == (5, 4, 3, 1, 1)
        assert (mm.support_cases, mm.support_supported, mm.support_unsupported) == (5, 4, 1)
        assert (mm.status, mm.support_status) == ("failing", "partial")


def test_support_mode_marks_ops_as_upstreams_ops_md_does(db_url: str, llama_source: Path) -> None:
    # upstream's own data: docs/ops/CANN.csv (test-backend-ops support --output csv on a
    # CANN device) and the docs/ops.md table generated from it and the other backends'
    table = (llama_source / "docs" / "ops.md").read_text(encoding="utf-8").splitlines()
    header = next(line for line in table if line.startswith("| Operation |"))
    column = [c.strip() for c in header.strip("|").split("|")].index("CANN")
    symbols = {"\u2705": "supported", "\U0001f7e1": "partial", "\u274c": "unsupported"}
    upstream: dict[str, str] = {}
    for line in table[table.index(header) + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        upstream[cells[0]] = symbols[cells[column]]
    with Store.open(db_url) as store:
        run_id = _run(store)
        path = llama_source / "docs" / "ops" / "CANN.csv"
        stored = add_op_records(store, run_id, iter_op_records(path, "test-backend-ops-csv"))
        assert stored == sum(1 for _ in path.open()) - 1  # every row, the header aside
        cov = {o.op: o for o in op_coverage(store, run_id)}
    assert {o.device for o in cov.values()} == {"CANN0"}
    assert sum(o.support_cases for o in cov.values()) == stored
    assert all(o.cases == 0 for o in cov.values())  # nothing was tested, only asked
    ours = {op: o.support_status for op, o in cov.items()}
    # an op the CSV does not have is "not supported" in the table
    assert ours == {op: s for op, s in upstream.items() if op in ours}
    assert all(upstream[op] == "unsupported" for op in set(upstream) - set(ours))


def test_fallbacks(db_url: str) -> None:
    with Store.open(db_url) as store:
        run_id = _run(store)
        add_fallbacks(store, run_id, Counter())
        assert fallbacks(store, run_id) == []
        add_fallbacks(
            store, run_id, Counter({("npu", "aten::isin.Tensor_Tensor_out"): 4, ("npu", "x"): 1})
        )
        assert fallbacks(store, run_id) == [
            ("npu", "aten::isin.Tensor_Tensor_out", 4),
            ("npu", "x", 1),
        ]
