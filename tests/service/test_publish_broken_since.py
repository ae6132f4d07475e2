"""A pre-existing failure that a finished bisection of its cell found the first bad commit
of says "broken since" in the PR comment and the check run's summary: real runs and a
real queue item in a SQLite store, the head's cells read by ``publish.cell_states``
inside a unit of work, the reports planned from them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.bisect.answer import BrokenSince, CommitInfo, broken_since, finished_result
from harness.bisect.commits import Commit, pr_number
from harness.config.service import Level, ServiceConfig, UpstreamService
from harness.reporting.pr_comment import CellState
from harness.results.model import Outcome, TestResult
from harness.service.publish import VerdictCache, cell_states, judged_transaction
from harness.service.report import plan_reports
from harness.store import Store, Transaction
from harness.store.queue import NewItem
from harness.verdict.categories import Category
from harness.verdict.render_markdown import broken_since_text

REPO, CELL, HEAD = "example/demo", "demo/cpu/host", "e" * 40
OLD, OTHER, OK = "tests.test_app::test_old", "tests.test_app::test_other", "tests.test_app::test_ok"
GOOD, CULPRIT, BAD = "a" * 40, "c" * 40, "b" * 40
CONFIG = ServiceConfig(vendor="acme", contact="https://acme.example/ci")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as s:
        yield s


def run(store: Store, ref: str | None, sha: str, outcomes: dict[str, Outcome]) -> int:
    run_id = store.start_run(
        job_id=None, cell=CELL, suite="demo", backend="cpu", variant="host", upstream=REPO,
        ref=ref, sha=sha, executor="local", log_dir=None, out_dir=None,
    )  # fmt: skip
    counts = store.add_results(
        run_id,
        [
            TestResult(t, o, 0.1, "boom" if o is Outcome.FAILED else None)
            for t, o in outcomes.items()
        ],
    )
    status = "failed" if counts["failed"] else "passed"
    store.finish_run(run_id, status=status, reason=None, counts=counts, duration_s=1.0)
    return run_id


def found_bisection(store: Store, cell: str, test: str) -> int:
    commits = [
        Commit(GOOD, "fine", "Ada <ada@example.org>", "2026-12-01", ()),
        Commit(BAD, "later", "Ada <ada@example.org>", "2026-12-03", ()),
        Commit(
            CULPRIT, "drop the old path (#42)", "Bob <bob@example.org>", "2026-12-02", (),
            pr_number("drop the old path (#42)"),
        ),
    ]  # fmt: skip
    failing = {test: ["failed", "failed", "failed"]}
    with store.transaction("a bisection") as tx:
        bid = tx.bisections.create(
            job_id=None, cell=cell, suite="demo", tests=[test], good_sha=GOOD, bad_sha=BAD,
            candidates=2, max_probes=4, repeats=3, repository=REPO,
        )  # fmt: skip
        for role, sha, verdict, outcomes in (
            ("bad", BAD, "bad", failing),
            ("good", GOOD, "good", {test: ["passed"]}),
            ("probe", CULPRIT, "bad", failing),
        ):
            tx.bisections.add_probe(
                bid, sha=sha, role=role, verdict=verdict, run_ids=[], reused=False,
                outcomes=outcomes,
            )  # fmt: skip
        tx.bisections.finish(
            bid, status="done", outcome="found", reason="first bad commit", first_bad=CULPRIT,
            suspects=[CULPRIT],
            result=finished_result(commits, REPO, followed=[test], dropped={}, flaked_before={}),
        )  # fmt: skip
    return bid


def head_cells(store: Store) -> list[CellState]:
    """A pull request whose run fails ``OLD`` and ``OTHER`` as the default branch does."""
    run(store, None, BAD, {OLD: Outcome.FAILED, OTHER: Outcome.FAILED, OK: Outcome.PASSED})
    pr_run = run(
        store,
        "refs/pull/5/head",
        HEAD,
        {OLD: Outcome.FAILED, OTHER: Outcome.FAILED, OK: Outcome.PASSED},
    )
    with store.transaction("the head's cell ran") as tx:
        tx.queue.enqueue(
            [NewItem(REPO, HEAD, "refs/pull/5/head", CELL, "pull_request", pr_number=5)]
        )
        item = tx.queue.claim("w", 60)
        assert item is not None
        assert tx.queue.finish(item.id, "w", state="done", run_id=pr_run)

    def body(tx: Transaction, judged: object) -> list[CellState]:
        return cell_states(tx, CONFIG, judged, REPO, HEAD)  # type: ignore[arg-type]

    return judged_transaction(store, VerdictCache(store, None), "cells", body, [pr_run])


def reports(cells: list[CellState], level: Level) -> dict[str, dict[str, object]]:
    planned = plan_reports(
        CONFIG, UpstreamService(level=level), pr_number=5, head_sha=HEAD, installation=1,
        cells=cells,
    )  # fmt: skip
    return {r.key: r.payload for r in planned}


def test_a_pre_existing_failure_says_broken_since_the_bisected_commit(store: Store) -> None:
    bid = found_bisection(store, CELL, OLD)
    found_bisection(store, "demo/npu/host", OTHER)  # another cell's: not this cell's answer
    cells = head_cells(store)
    (cell,) = cells
    assert cell.verdict is not None
    pre_existing = cell.verdict.classification.tests(Category.PRE_EXISTING)
    assert {t.test_id for t in pre_existing} == {OLD, OTHER}
    assert set(cell.broken_since) == {OLD}
    body = str(reports(cells, Level.COMMENT)["comment:5"]["body"])
    line = next(x for x in body.splitlines() if f"<code>{OLD}</code>" in x)
    assert (
        'broken since <code>cccccccccccc</code> (<a href="https://github.com/example/demo/pull/42">'
        "#42</a> / <code>drop the old path (#42)</code>), confidence high"
    ) in line
    assert f"(bisection {bid})" in line
    other = next(x for x in body.splitlines() if f"<code>{OTHER}</code>" in x)
    assert "broken since" not in other
    # inside the collapsed BROKEN TRUNK section
    trunk = body.index("BROKEN TRUNK (2)")
    assert trunk < body.index("broken since")
    # the check run's summary renders the same lists
    checks = reports(cells, Level.CHECK)
    summaries = [str(p.get("summary", "")) for p in checks.values()]
    assert any("broken since <code>cccccccccccc</code>" in s for s in summaries), checks.keys()


def test_without_a_bisection_nothing_is_said(store: Store) -> None:
    cells = head_cells(store)
    assert cells[0].broken_since == {}
    assert "broken since" not in str(reports(cells, Level.COMMENT)["comment:5"]["body"])


def test_a_hostile_subject_stays_text() -> None:
    subject = "<script>alert(1)</script> @admin #12 </li></ul>"
    text = broken_since_text(
        BrokenSince(3, CommitInfo(CULPRIT, subject, pr=7, pr_url="javascript:alert(1)"), "low")
    )
    assert "<script>" not in text
    assert "</li>" not in text
    assert "javascript:" not in text  # not an https link: the number only
    assert f"<code>{subject.replace('<', '&lt;').replace('>', '&gt;')}</code>" in text
    assert text.startswith("broken since <code>cccccccccccc</code> (#7 / <code>")


def stack_bisection(store: Store, test: str, *, version: str | None) -> int:
    """A finished stack bisection of CELL at BAD: fakelib 1.0 → 1.3, 1.2 first bad
    (``version`` None: the component named, its first bad version not pinned down)."""
    failing = {test: ["failed", "failed", "failed"]}
    with store.transaction("a stack bisection") as tx:
        bid = tx.bisections.create(
            job_id=None, cell=CELL, suite="demo", tests=[test], good_sha=BAD, bad_sha=BAD,
            candidates=1, max_probes=4, repeats=3, kind="stack", repository=REPO,
        )  # fmt: skip
        for role, pins, verdict, outcomes in (
            ("bad", {"fakelib": "1.3"}, "bad", failing),
            ("good", {"fakelib": "1.0"}, "good", {test: ["passed"]}),
            ("probe", {"fakelib": "1.2"}, "bad", failing),
        ):
            tx.bisections.add_probe(
                bid, sha=BAD, role=role, verdict=verdict, run_ids=[], reused=False,
                outcomes=outcomes, pins=pins,
            )  # fmt: skip
        tx.bisections.finish(
            bid, status="done", outcome="found" if version else "component", reason="x",
            result={"component": "fakelib", "version": version, "suspects": ["1.1", "1.2"]},
        )  # fmt: skip
    return bid


def test_a_stack_bisections_answer_is_broken_since_the_component(store: Store) -> None:
    named = stack_bisection(store, OLD, version="1.2")
    unsure = stack_bisection(store, OTHER, version=None)
    cells = head_cells(store)
    (cell,) = cells
    assert set(cell.broken_since) == {OLD, OTHER}
    body = str(reports(cells, Level.COMMENT)["comment:5"]["body"])
    line = next(x for x in body.splitlines() if f"<code>{OLD}</code>" in x)
    assert (
        f"broken since <code>fakelib 1.2</code> (the stack, not the code), confidence high "
        f"(bisection {named})"
    ) in line
    other = next(x for x in body.splitlines() if f"<code>{OTHER}</code>" in x)
    assert (
        "broken since <code>fakelib</code> (the stack, not the code), first bad version not"
        in other
    )
    assert f"(bisection {unsure})" in other
    # a newer commit bisection of the test answers instead
    newer = found_bisection(store, CELL, OLD)
    with store.reading("r") as r:
        since = broken_since(r, CELL, [OLD, OTHER])
    assert since[OLD].bisection_id == newer
    assert since[OLD].commit is not None
    assert since[OTHER].component == "fakelib"
