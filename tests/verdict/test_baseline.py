"""Which run a verdict compares with."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from harness.store.models import RunRecord
from harness.verdict.baseline import choose_baseline

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def rec(
    run_id: int,
    sha: str,
    *,
    default: bool | None = True,
    ref: str | None = None,
    status: str = "passed",
    cell: str = "demo/npu/host",
    base: str | None = None,
    args: str | None = "tests",
    subset: str | None = None,
) -> RunRecord:
    return RunRecord(
        id=run_id, job_id=None, cell=cell, suite="demo", backend="npu", variant="host",
        upstream="o/demo", ref=ref, sha=sha, status=status, reason=None, executor="local",
        started_at=T0 + timedelta(minutes=run_id), finished_at=None, duration_s=None,
        counts={}, environment_id=None, log_dir=None, out_dir=None, base_sha=base,
        is_default_branch=default, args=args, subset=subset,
    )  # fmt: skip


def pr(run_id: int, base: str | None, **kw: str | None) -> RunRecord:
    return rec(run_id, "f" * 40, default=False, ref="refs/pull/7/head", base=base, **kw)  # type: ignore[arg-type]


def test_the_latest_complete_run_at_the_merge_base() -> None:
    runs = [rec(1, "a"), rec(2, "b"), rec(3, "b"), rec(4, "b", status="crashed"), rec(5, "c")]
    choice = choose_baseline(pr(9, "b"), runs)
    assert choice.run is not None
    assert (choice.run.id, choice.exact, choice.missing) == (3, True, None)
    assert choice.note == "run 3 at the merge base b"


def test_other_cells_and_pr_runs_are_never_baselines() -> None:
    runs = [rec(1, "b", cell="demo/cpu/host"), rec(2, "b", default=False, ref="pr/3")]
    choice = choose_baseline(pr(9, "b"), runs)
    assert choice.run is None
    assert choice.missing is not None
    assert choice.missing.sha == "b"


def test_a_stand_in_is_said_so_and_the_missing_run_is_named() -> None:
    runs = [rec(1, "a"), rec(2, "c"), rec(12, "d")]
    choice = choose_baseline(pr(9, "b"), runs)
    assert choice.run is not None
    assert (choice.run.id, choice.exact) == (2, False)  # not run 12: it started later
    assert choice.missing is not None
    assert choice.missing.sha == "b"
    assert "no baseline at merge base b; compared with run 2" in choice.note
    nearest = choose_baseline(pr(9, "b"), runs, ancestry=["x", "a", "c"])
    assert nearest.run is not None
    assert nearest.run.id == 1
    assert "nearest earlier default-branch commit" in nearest.note


def test_a_default_branch_run_compares_with_the_previous_one() -> None:
    runs = [rec(1, "a"), rec(2, "b", status="error"), rec(3, "c")]
    choice = choose_baseline(rec(4, "d"), runs)
    assert choice.run is not None
    assert (choice.run.id, choice.exact) == (3, True)
    assert choose_baseline(rec(1, "a"), runs).run is None


def test_runs_from_before_the_base_was_recorded() -> None:
    old = [replace(rec(1, "a"), is_default_branch=None)]  # no ref: a default-branch run
    choice = choose_baseline(replace(pr(5, None), is_default_branch=None), old)
    assert choice.run is not None
    assert choice.run.id == 1
    assert "merge base not recorded" in choice.note


def test_a_run_of_another_selection_is_no_baseline() -> None:
    """Runs with other --test-args or another subset are neither the baseline nor a
    stand-in; the note names the selection that is missing."""
    narrowed = rec(1, "b", args="tests -k foo")
    smoke = rec(2, "b", args="tests", subset="smoke")
    same = rec(3, "b")
    choice = choose_baseline(pr(9, "b"), [narrowed, smoke, same])
    assert choice.run is not None
    assert (choice.run.id, choice.exact) == (3, True)

    alone = choose_baseline(pr(9, "b"), [narrowed, smoke])
    assert alone.run is None
    assert alone.missing is not None
    assert (alone.missing.sha, alone.missing.args, alone.missing.subset) == ("b", "tests", None)
    assert alone.note == (
        "no baseline at merge base b and no default-branch run of demo/npu/host with args "
        "'tests' to compare with (runs 2, 1 made another selection: subset 'smoke' "
        "(args 'tests'); args 'tests -k foo')"
    )
    assert str(alone.missing) == "no baseline at merge base b for demo/npu/host with args 'tests'"

    # a stand-in must have made the same selection too
    stand_in = choose_baseline(pr(9, "c", args="tests -k foo"), [narrowed, smoke, same])
    assert stand_in.run is not None
    assert (stand_in.run.id, stand_in.exact) == (1, False)
    # the previous default-branch run, likewise
    assert choose_baseline(rec(8, "d", args="tests -k foo"), [smoke, same]).run is None
