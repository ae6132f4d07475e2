"""Op coverage and CPU fallbacks stored per run (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections import Counter

from harness.results.backend_ops import OpRecord
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
        assert (cov["SCALE"].supported, cov["SCALE"].unsupported) == (3000, 3000)
        assert cov["SCALE"].status == "partial"


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
