"""A stored run with every outcome and reruns (flaky and failing on every attempt), for
the export tests."""

from __future__ import annotations

from harness.results.model import Outcome, TestResult
from harness.store import Store

FIRST = [
    TestResult("tests/test_a.py::test_pass", Outcome.PASSED, 0.0123),
    TestResult(
        "tests/test_a.py::TestK::test_fail", Outcome.FAILED, 0.5, "AssertionError: 1 != 2\nE  more"
    ),
    TestResult("tests/test_a.py::test_flaky", Outcome.FAILED, 0.25, "boom"),
    TestResult("tests/test_a.py::test_err", Outcome.ERROR, 0.125, "fixture broke"),
    TestResult("tests/test_b.py::test_skip", Outcome.SKIPPED, 0.0, "no npu"),
    TestResult("tests/test_b.py::test_xf", Outcome.XFAILED, 0.01, "known"),
    TestResult("tests/test_b.py::test_xp", Outcome.XPASSED, 0.02),
    TestResult("MatMul.Fp16", Outcome.PASSED, 1.5),
    TestResult(
        "tests/test_c.py::test_ctrl",
        Outcome.FAILED,
        0.003,
        "bad \x1b[31mred\x1b[0m \x07 \U0001f600",
    ),
]
#: (test id, attempt, outcome, duration, message)
RERUNS = [
    ("tests/test_a.py::TestK::test_fail", 1, "failed", 0.4, "AssertionError: 1 != 3"),
    ("tests/test_a.py::TestK::test_fail", 2, "failed", 0.3, "AssertionError: 1 != 4"),
    ("tests/test_a.py::test_flaky", 1, "passed", 0.2, None),
    ("tests/test_a.py::test_err", 1, "error", 0.1, "fixture broke again"),
    ("tests/test_a.py::test_err", 2, "passed", 0.05, None),
]


def make_run(store: Store) -> int:
    run_id = store.start_run(
        job_id=None, cell="demo/npu/host", suite="demo", backend="npu", variant="host",
        upstream="example/demo", ref="main", sha="a" * 40, executor="local",
        log_dir=None, out_dir=None,
    )  # fmt: skip
    store.add_results(run_id, FIRST)
    store.add_reruns(run_id, RERUNS)
    counts = {o.value: sum(r.outcome is o for r in FIRST) for o in Outcome}
    store.finish_run(
        run_id, status="failed", reason="2 test(s) failed", counts=counts, duration_s=4.5
    )
    return run_id
