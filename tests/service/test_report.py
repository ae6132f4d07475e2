"""What the service posts for a head, per participation level (pure)."""

from __future__ import annotations

from dataclasses import replace

from harness.config.service import Level, ServiceConfig, UpstreamService
from harness.reporting.pr_comment import CellState, comment_marker
from harness.results.model import Outcome
from harness.service.report import plan_reports
from harness.verdict.baseline import BaselineChoice
from harness.verdict.classify import RunOutcomes
from harness.verdict.report import Verdict, build_verdict
from tests.verdict.test_baseline import pr, rec

P, F = Outcome.PASSED, Outcome.FAILED
HEAD = "f" * 40
CONFIG = ServiceConfig(vendor="acme", contact="https://acme.example/ci")


def verdict(cell: str, current: dict[str, Outcome], base: dict[str, Outcome]) -> Verdict:
    run = replace(pr(9, "b" * 40), cell=cell)
    choice = BaselineChoice(rec(3, "b" * 40), True, "run 3 at the merge base")
    return build_verdict(run, RunOutcomes(current), choice, RunOutcomes(base))


REGRESSED = verdict("demo/npu/a", {"t::x": F, "t::y": P}, {"t::x": P, "t::y": P})
CLEAN = verdict("demo/npu/b", {"t::x": P}, {"t::x": P})
CPU_CLEAN = verdict("demo/cpu/host", {"t::x": P}, {"t::x": P})


def plan(level: Level, cells: list[CellState]) -> dict[str, dict[str, object]]:
    reports = plan_reports(
        CONFIG,
        UpstreamService(level=level),
        pr_number=5,
        head_sha=HEAD,
        installation=77,
        cells=cells,
    )
    return {r.key: r.payload | {"kind": r.kind} for r in reports}


def test_one_status_per_suite_and_backend_with_the_worst_cell() -> None:
    cells = [
        CellState("demo/npu/a", "done", REGRESSED),
        CellState("demo/npu/b", "done", CLEAN),
        CellState("demo/cpu/host", "done", CPU_CLEAN),
    ]
    out = plan(Level.STATUS, cells)
    assert set(out) == {f"status:{HEAD}:acme/demo/npu", f"status:{HEAD}:acme/demo/cpu"}
    npu = out[f"status:{HEAD}:acme/demo/npu"]
    assert npu["state"] == "failure"
    assert npu["description"] == "a: 1 new failure"
    assert npu["installation"] == 77
    assert out[f"status:{HEAD}:acme/demo/cpu"]["state"] == "success"


def test_pending_while_any_cell_runs_and_waiting_when_held() -> None:
    out = plan(
        Level.STATUS,
        [CellState("demo/npu/a", "done", REGRESSED), CellState("demo/npu/b", "leased")],
    )
    assert out[f"status:{HEAD}:acme/demo/npu"]["state"] == "pending"
    assert out[f"status:{HEAD}:acme/demo/npu"]["description"] == "1 of 2 cell(s) done"
    out = plan(Level.STATUS, [CellState("demo/npu/a", "held")])
    assert "/harness ok-to-test" in str(out[f"status:{HEAD}:acme/demo/npu"]["description"])


def test_an_infrastructure_failure_is_an_error_not_a_success() -> None:
    out = plan(Level.STATUS, [CellState("demo/npu/a", "failed", None, "worker lost 3 times")])
    status = out[f"status:{HEAD}:acme/demo/npu"]
    assert status["state"] == "error"
    assert "worker lost 3 times" in str(status["description"])


def test_levels() -> None:
    cells = [CellState("demo/npu/a", "done", REGRESSED)]
    assert plan(Level.DASHBOARD, cells) == {}
    assert [v["kind"] for v in plan(Level.COMMENT, cells).values()] == ["status", "comment"]
    check = plan(Level.CHECK, cells)[f"check:{HEAD}:acme/demo/npu"]
    assert (check["kind"], check["status"], check["conclusion"]) == (
        "check_run",
        "completed",
        "neutral",
    )
    blocking = plan(Level.BLOCKING, cells)[f"check:{HEAD}:acme/demo/npu"]
    assert blocking["conclusion"] == "failure"
    assert "t::x" in str(blocking["summary"])
    running = plan(Level.BLOCKING, [CellState("demo/npu/a", "queued")])[
        f"check:{HEAD}:acme/demo/npu"
    ]
    assert running["status"] == "in_progress"
    assert "conclusion" not in running


def test_the_comment_puts_new_failures_first_and_says_how_to_rerun() -> None:
    cells = [
        CellState("demo/cpu/host", "done", CPU_CLEAN),
        CellState("demo/npu/b", "done", CLEAN),
        CellState("demo/npu/a", "done", REGRESSED, details_url="https://ci/runs/9"),
    ]
    body = str(plan(Level.COMMENT, cells)["comment:5"]["body"])
    assert body.startswith(
        comment_marker("acme") + "\n## ❌ acme CI: new failures on this pull request"
    )
    assert body.index("demo/npu/a") < body.index("demo/cpu/host")
    assert "[demo\\/npu\\/a](https://ci/runs/9)" in body
    assert "t::x" in body
    # passing cells are collapsed
    assert "<details><summary>demo/cpu/host" in body
    assert "<code>recheck</code>" in body
    assert "/harness retest demo/npu/*" in body
    assert "https://acme.example/ci" in body
    assert len(body) < 65536
