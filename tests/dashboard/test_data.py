"""Dashboard queries on SQLite and PostgreSQL: overview (latest, trend, coverage, stale,
missing), grid ordering, filters and paging, runs at a commit, badges."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from harness.dashboard import data
from harness.dashboard.pages import Pages
from harness.results.model import Outcome, TestResult
from harness.store import Store

P, F, S = Outcome.PASSED, Outcome.FAILED, Outcome.SKIPPED


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store.open(db_url) as s:
        yield s


def record(
    store: Store, cell: str, outcomes: dict[str, Outcome], sha: str = "a" * 40, ref: str = "main"
) -> int:
    suite, backend, variant = cell.split("/")
    run_id = store.start_run(
        job_id=None, cell=cell, suite=suite, backend=backend, variant=variant,
        upstream="example/demo", ref=ref, sha=sha, executor="local", log_dir=None, out_dir=None,
    )  # fmt: skip
    counts = store.add_results(
        run_id, [TestResult(t, o, 0.1, "boom" if o is F else None) for t, o in outcomes.items()]
    )
    status = "failed" if counts["failed"] else "passed"
    store.finish_run(run_id, status=status, reason=None, counts=counts, duration_s=1.0)
    return run_id


def test_overview(store: Store) -> None:
    for i in range(3):
        record(
            store, "demo/cpu/host", {"t::a": P, "t::b": P, "t::c": F if i == 2 else P, "t::d": S}
        )
    record(store, "demo/npu/host", {"t::a": P, "t::b": F})
    cells = {c.cell: c for c in data.overview(store, expected=["demo/npu/img", "demo/cpu/host"])}
    cpu, npu, missing = cells["demo/cpu/host"], cells["demo/npu/host"], cells["demo/npu/img"]
    assert cpu.state == "fail"
    assert cpu.rate == pytest.approx(2 / 3)
    assert cpu.trend == [1.0, 1.0, pytest.approx(2 / 3)]
    assert cpu.coverage is None  # cpu is the reference
    assert npu.coverage == pytest.approx(2 / 3)  # 2 tests ran on npu, 3 on cpu
    assert missing.state == "missing"
    assert missing.stale
    assert not cpu.stale
    later = datetime.now(UTC) + timedelta(days=4)
    assert all(c.stale for c in data.overview(store, now=later))


def test_grid_orders_failing_first_and_filters(store: Store) -> None:
    old = record(store, "demo/cpu/host", {"t::a": P, "t::flaky": F, "t::z": P})
    new = record(store, "demo/cpu/host", {"t::a": P, "t::flaky": P, "t::z": F, "t::new": P})
    g = data.grid(store, "demo/cpu/host")
    assert [r.id for r in g.runs] == [new, old]
    assert [t for t, _ in g.rows] == ["t::flaky", "t::z", "t::a", "t::new"]
    assert dict(g.rows)["t::new"] == ["passed", None]
    assert [t for t, _ in data.grid(store, "demo/cpu/host", query="FLA").rows] == ["t::flaky"]
    # flaky here: failed and passed among the shown runs
    assert [t for t, _ in data.grid(store, "demo/cpu/host", status="flaky").rows] == [
        "t::flaky",
        "t::z",
    ]
    assert [t for t, _ in data.grid(store, "demo/cpu/host", status="passing").rows] == [
        "t::a",
        "t::new",
    ]
    paged = data.grid(store, "demo/cpu/host", tests_per_page=3, page=2)
    assert (paged.pages, [t for t, _ in paged.rows]) == (2, ["t::new"])
    older = data.grid(store, "demo/cpu/host", runs_per_page=1)
    assert older.older == old + 1
    assert [r.id for r in data.grid(store, "demo/cpu/host", before_id=older.older).runs] == [old]


def test_runs_at_a_commit_and_badges(store: Store) -> None:
    head = "b" * 40
    record(store, "demo/cpu/host", {"t::a": P}, sha=head, ref="refs/pull/3/head")
    record(store, "demo/npu/host", {"t::a": F}, sha=head, ref="refs/pull/3/head")
    view = data.runs_at(store, head)
    assert [r.cell for r in view.runs] == ["demo/cpu/host", "demo/npu/host"]
    (pr_head,) = data.pr_heads(store)
    assert pr_head[:3] == (head, "refs/pull/3/head", 2)
    pages = Pages(store)
    assert "100% passing" in pages.badge("demo", "cpu")
    assert "#cf222e" in pages.badge("demo", "npu")
    assert "no result" in pages.badge("demo", "cuda")


def test_op_matrix_from_each_backends_newest_run(store: Store) -> None:
    from harness.results.backend_ops import OpRecord
    from harness.store.coverage import add_op_records

    cpu = record(store, "llama.cpp/cpu/host", {"ops::ADD": P})
    npu = record(store, "llama.cpp/npu/host", {"ops::ADD": P})
    add_op_records(
        store,
        cpu,
        [
            OpRecord("CPU", "ADD", "type=f32", "test", True, True, None),
            OpRecord("CPU", "MUL_MAT", "type=q4_0", "test", True, True, None),
        ],
    )
    add_op_records(
        store,
        npu,
        [
            OpRecord("CANN0", "ADD", "type=f32", "test", True, False, "NMSE 0.2 > 1e-7"),
            OpRecord("CANN0", "MUL_MAT", "type=q4_0", "support", False, None, None),
            OpRecord("CANN1", "ADD", "type=f32", "test", True, True, None),  # second device
        ],
    )
    m = data.op_matrix(store)
    assert m.backends == ["cpu", "npu"]
    assert (m.cells["ADD"]["npu"].failed, m.cells["ADD"]["npu"].device) == (1, "CANN0")
    assert m.cells["MUL_MAT"]["npu"].status == "unsupported"
    html = Pages(store).ops()
    # failing ops first
    assert html.index("<code>ADD</code>") < html.index("<code>MUL_MAT</code>")
    assert "1 failing" in html
    assert f'href="runs/{npu}.html"' in html


def test_upstream_grid_has_a_column_per_cell(store: Store) -> None:
    record(store, "demo/cpu/host", {"t::a": P, "t::b": P})
    newest_cpu = record(store, "demo/cpu/host", {"t::a": P, "t::b": P})
    npu = record(store, "demo/npu/host", {"t::a": P, "t::b": F})
    record(store, "other/cpu/host", {"t::z": F})
    g = data.upstream_grid(store, "demo")
    assert [r.id for r in g.runs] == [newest_cpu, npu]  # the newest run of each cell
    assert g.rows == [("t::b", ["passed", "failed"]), ("t::a", ["passed", "passed"])]
    html = Pages(store).upstream("demo")
    assert "cpu/host" in html
    assert "npu/host" in html
    assert "one column per cell" in html
