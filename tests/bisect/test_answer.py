"""A stored bisection summarized for display: headlines and the confidence rules, on rows
written through the store's bisections repository (a real SQLite store)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from harness.bisect.answer import Answer, broken_since, finished_result, read_answer
from harness.bisect.commits import Commit, pr_number
from harness.results.model import Outcome, TestResult
from harness.store import Store
from harness.store.bisections import bisections_t

CELL = "demo/cpu/host"
T = "tests.test_app::test_regress"
GOOD, BAD, MID, CULPRIT = "a" * 40, "f" * 40, "c" * 40, "d" * 40
FAIL3 = {T: ["failed", "failed", "failed"]}
PASS = {T: ["passed"]}


def commit(sha: str, subject: str) -> Commit:
    return Commit(
        sha, subject, "Ada Lovelace <ada@example.org>", "2026-12-01", (), pr_number(subject)
    )


COMMITS = [
    commit(GOOD, "good one"),
    commit(BAD, "later"),
    commit(MID, "middle (#7)"),
    commit(CULPRIT, "break the parser (#123)"),
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as s:
        yield s


def bisection(
    store: Store,
    probes: list[tuple[str, str, str, dict[str, list[str]], list[int]]],
    *,
    outcome: str | None = "found",
    status: str = "done",
    first_bad: str | None = CULPRIT,
    suspects: list[str] | None = None,
    repeats: int = 3,
    flaked_before: dict[str, str] | None = None,
    flaky: dict[str, Any] | None = None,
    tests: list[str] | None = None,
    kind: str = "commits",
    result: dict[str, Any] | None = None,
    cell: str = CELL,
) -> int:
    """A bisection with ``probes`` (role, sha, verdict, outcomes, runs) as the CLI would
    store it."""
    with store.transaction("a bisection") as tx:
        bid = tx.bisections.create(
            job_id=None, cell=cell, suite="demo", tests=tests or [T], good_sha=GOOD,
            bad_sha=BAD, candidates=8, max_probes=6, repeats=repeats, kind=kind,
            repository="example/demo",
        )  # fmt: skip
        for role, sha, verdict, outcomes, runs in probes:
            tx.bisections.add_probe(
                bid, sha=sha, role=role, verdict=verdict, run_ids=runs,
                reused=bool(runs) and role != "probe", outcomes=outcomes, reason=verdict,
                pins={"torch": sha[:3]} if kind == "stack" else None,
            )  # fmt: skip
        if status in ("done", "error"):
            tx.bisections.finish(
                bid, status=status, outcome=outcome, reason=f"{outcome} because",
                first_bad=first_bad, suspects=suspects if suspects is not None else (
                    [first_bad] if first_bad else []
                ), flaky=flaky,
                result=result if result is not None else finished_result(
                    COMMITS, "example/demo", followed=[T], dropped={},
                    flaked_before=flaked_before or {},
                ),
            )  # fmt: skip
        elif status == "queued":
            tx.connection.execute(
                update(bisections_t).where(bisections_t.c.id == bid).values(status="queued")
            )
    return bid


def answer(store: Store, bid: int) -> Answer:
    with store.reading("t") as r:
        record = r.bisections.get(bid)
        assert record is not None
        return read_answer(r, record)


CLEAN = [
    ("bad", BAD, "bad", FAIL3, [1]),
    ("good", GOOD, "good", PASS, [2]),
    ("probe", MID, "good", PASS, [3]),
    ("probe", CULPRIT, "bad", FAIL3, [4]),
]


def test_found_with_every_probe_decided_is_high_and_names_the_commit(store: Store) -> None:
    a = answer(store, bisection(store, CLEAN))
    assert a.headline == ("first bad commit dddddddddddd “break the parser” (#123) by Ada Lovelace")
    assert a.confidence == "high"
    assert "every probe decided" in a.confidence_reason
    assert a.culprit is not None
    assert a.culprit.pr_url == "https://github.com/example/demo/pull/123"
    assert a.probes == 2
    assert [s.role for s in a.steps] == ["bad", "good", "probe", "probe"]
    assert a.steps[2].commit is not None
    assert a.steps[2].commit.subject == "middle (#7)"
    assert a.short().endswith(", confidence high")


def test_a_skipped_commit_makes_it_medium(store: Store) -> None:
    skipped = [*CLEAN[:2], ("probe", "e" * 40, "skip", {}, [5]), *CLEAN[2:]]
    a = answer(store, bisection(store, skipped))
    assert a.confidence == "medium"
    assert "1 commit(s) skipped (eeeeeeeeeeee)" in a.confidence_reason


def test_a_test_that_flaked_before_makes_it_medium(store: Store) -> None:
    a = answer(store, bisection(store, CLEAN, repeats=6, flaked_before={T: MID}))
    assert a.confidence == "medium"
    assert f"flaked before ({T} at cccccccccccc): attempts doubled to 6" in a.confidence_reason


def test_a_test_failing_on_fewer_attempts_than_asked_makes_it_medium(store: Store) -> None:
    short = [("bad", BAD, "bad", {T: ["failed"]}, [1]), *CLEAN[1:]]
    a = answer(store, bisection(store, short))
    assert a.confidence == "medium"
    assert f"{T} failed 1 of 3 attempt(s) at ffffffffffff" in a.confidence_reason


def test_a_good_end_reused_from_an_old_run_makes_it_medium(store: Store) -> None:
    run_id = store.start_run(
        job_id=None, cell=CELL, suite="demo", backend="cpu", variant="host",
        upstream="example/demo", ref=None, sha=GOOD, executor="local", log_dir=None,
        out_dir=None,
    )  # fmt: skip
    counts = store.add_results(run_id, [TestResult(T, Outcome.PASSED, 0.1)])
    store.finish_run(run_id, status="passed", reason=None, counts=counts, duration_s=1.0)
    recent = [CLEAN[0], ("good", GOOD, "good", PASS, [run_id]), *CLEAN[2:]]
    assert answer(store, bisection(store, recent)).confidence == "high"
    with store.transaction("t") as tx:  # the run was ten days before the bisection
        from harness.store.bisections import runs_t

        tx.connection.execute(
            update(runs_t)
            .where(runs_t.c.id == run_id)
            .values(started_at=datetime.now(UTC) - timedelta(days=10))
        )
    a = answer(store, bisection(store, recent))
    assert a.confidence == "medium"
    assert "the good end reuses a run from 10 day(s) before" in a.confidence_reason


def test_range_and_spent_budget_are_low(store: Store) -> None:
    ranged = answer(
        store, bisection(store, CLEAN, outcome="range", first_bad=None, suspects=[MID, CULPRIT])
    )
    assert ranged.headline == "first bad is one of cccccccccccc, dddddddddddd"
    assert ranged.confidence == "low"
    spent = answer(
        store, bisection(store, CLEAN, outcome="exhausted", first_bad=None, suspects=[MID])
    )
    assert spent.headline.endswith("(probe budget spent)")
    assert spent.confidence == "low"
    assert "probe budget (6)" in spent.confidence_reason


def test_flaky_is_not_a_regression_with_its_evidence(store: Store) -> None:
    evidence = {T: {"sha": BAD, "outcomes": ["failed", "passed"]}}
    a = answer(store, bisection(store, CLEAN[:1], outcome="flaky", first_bad=None, flaky=evidence))
    assert a.headline == "flaky, not a regression"
    assert a.confidence == "high"
    assert f"{T} passed and failed at ffffffffffff" in a.confidence_reason


def test_queued_and_running_have_no_confidence_yet(store: Store) -> None:
    queued = answer(store, bisection(store, [], status="queued"))
    assert (queued.headline, queued.confidence) == ("queued", None)
    running = answer(store, bisection(store, CLEAN, status="running"))
    assert running.headline == "running: 2/6 probes"
    assert running.confidence is None


def test_a_stack_answer_names_the_component_and_version(store: Store) -> None:
    # as ``harness bisect --stack`` stores it: the answer in result, the probes with pins
    stack = {"component": "fakelib", "version": "1.2", "suspects": ["1.2"], "probes": 2}
    probes = [*CLEAN[:2], ("probe", GOOD, "good", PASS, [3]), ("probe", GOOD, "bad", FAIL3, [4])]
    found = bisection(store, probes, kind="stack", first_bad=None, suspects=[], result=stack)
    a = answer(store, found)
    assert a.headline == "stack: fakelib 1.2 flips the tests"
    assert (a.confidence, a.confidence_reason) == (
        "high",
        "found in 2 probe(s), every probe decided",
    )
    assert a.steps[0].pins == {"torch": "fff"}
    assert a.culprit is None
    named = answer(
        store,
        bisection(
            store, probes, kind="stack", outcome="component", first_bad=None, suspects=[],
            result=stack | {"version": None, "suspects": ["1.1", "1.2"]},
        ),
    )  # fmt: skip
    assert named.headline == "stack: fakelib flips the tests (version one of 1.1, 1.2)"
    assert named.confidence == "medium"


def test_broken_since_is_the_newest_found_bisection_following_the_test(store: Store) -> None:
    older = bisection(store, CLEAN)
    newer = bisection(store, CLEAN)
    bisection(store, CLEAN, outcome="range", first_bad=None, suspects=[MID, CULPRIT])
    bisection(store, CLEAN, cell="demo/npu/host")
    other = "tests.test_app::test_other"
    with store.reading("t") as r:
        since = broken_since(r, CELL, [T, other])
    assert set(since) == {T}
    assert since[T].bisection_id == newer != older
    assert since[T].commit.sha == CULPRIT
    assert since[T].confidence == "high"


def test_the_bisections_about_a_run_and_of_a_cell(store: Store) -> None:
    run_id = store.start_run(
        job_id=None, cell=CELL, suite="demo", backend="cpu", variant="host",
        upstream="example/demo", ref=None, sha=MID, executor="local", log_dir=None,
        out_dir=None,
    )  # fmt: skip
    probed = bisection(store, CLEAN)  # probed MID in this cell
    elsewhere = bisection(store, CLEAN, cell="demo/npu/host")  # MID, another cell
    unrelated = bisection(store, CLEAN[:2])  # only the ends of this cell
    with store.transaction("a scheduled one whose bad end is the run") as tx:
        scheduled = tx.bisections.create(
            job_id=None, cell="demo/cpu/other", suite="demo", tests=[T], good_sha=GOOD,
            bad_sha=BAD, candidates=2, max_probes=3, repeats=3, bad_run_id=run_id,
        )  # fmt: skip
    with store.reading("t") as r:
        about = [b.id for b in r.bisections.about_run(run_id, CELL, MID)]
        of_cell = [b.id for b in r.bisections.of_cell(CELL)]
    assert about == [scheduled, probed]
    assert elsewhere not in about
    assert unrelated not in about
    assert of_cell == [unrelated, probed]
