"""``harness bisect`` end to end: real fixture upstreams, real runs with the local executor
(one shared cache: the environments are built once and reused by key), a real database.

One module-scoped 32-commit upstream (tests/bisect_upstream.py): commit 19 breaks
``test_regress``; ``test_flaky`` fails 30% of the time (deterministic per commit and
attempt), and a plain run of each end makes it look newly failing too.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bisect_upstream import Fixture, make_linear, make_merge, make_skip, suite_yaml
from tests.cli.conftest import Result

REGRESS = "tests.test_app::test_regress"
FLAKY = "tests.test_app::test_flaky"


@pytest.fixture(scope="module")
def linear(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return make_linear(tmp_path_factory.mktemp("linear"))


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return make_merge(tmp_path_factory.mktemp("merged"))


@pytest.fixture(scope="module")
def skipping(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return make_skip(tmp_path_factory.mktemp("skipping"))


@pytest.fixture
def suites_dir(
    tmp_path: Path, linear: Fixture, merged: Fixture, skipping: Fixture, wheels: Path
) -> Path:
    """Overrides the CLI conftest's: the bisection fixtures' suites, with a flake state
    (attempt counters) of this test's own."""
    d = tmp_path / "suites"
    d.mkdir()
    state = tmp_path / "flaky-state"
    for name, fx in (("linear", linear), ("merged", merged), ("skipping", skipping)):
        (d / f"{name}.yaml").write_text(
            suite_yaml(name, fx.repo.url, wheels=wheels, flaky_state=state)
        )
    return d


def _runs(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])


def _bisect(harness: Callable[..., Result], *args: str, code: int = 0) -> dict:
    """``harness bisect ... --json``; exit code 0 when it names the first bad commit, 1
    when it does not (flaky, a range, the budget spent)."""
    res = harness("bisect", *args, "--json", timeout=600)
    assert res.code == code, res.err[-3000:]
    return json.loads(res.out)


def test_finds_commit_19_and_names_the_flaky_test(
    harness: Callable[..., Result], linear: Fixture, tmp_path: Path
) -> None:
    good, bad = linear.shas[0], linear.shas[31]
    for sha in (good, bad):  # the push runs a maintainer would have: full selection
        harness("run", "linear/cpu", "--ref", sha)
    doc = _bisect(harness, "linear/cpu", "--good", good, "--bad", bad)
    assert doc["outcome"] == "found", doc["reason"]
    assert doc["first_bad"]["sha"] == linear.shas[19]
    assert doc["first_bad"]["subject"] == "change 19 (#119)"
    assert doc["first_bad"]["pr_url"] == "https://github.com/example/linear/pull/119"
    assert doc["first_bad"]["author"].startswith("Fixture Author")
    assert doc["probes"] <= 6
    assert doc["candidates"] == 31
    # both looked newly failing; the repeats at the bad end showed test_flaky both ways
    assert doc["tests"] == [REGRESS]
    assert set(doc["flaky"]) == {FLAKY}
    assert doc["flaky"][FLAKY]["sha"] == bad
    assert {"failed", "passed"} <= set(doc["flaky"][FLAKY]["outcomes"])
    # the stored ends' runs were reused; every probe's runs are in the DB, of a bisect job
    assert doc["runs"]["reused"]
    assert doc["runs"]["new"]
    with sqlite3.connect(tmp_path / "harness.db") as conn:
        triggers = {
            t
            for (t,) in conn.execute(
                "SELECT jobs.trigger FROM runs JOIN jobs ON jobs.id = runs.job_id "
                f"WHERE runs.id IN ({','.join(map(str, doc['runs']['new']))})"
            )
        }
        assert triggers == {"bisect"}
        (stored,) = conn.execute("SELECT outcome, first_bad FROM bisections").fetchall()
    assert stored == ("found", linear.shas[19])
    shown = harness("bisect", "show", str(doc["id"]), "--json")
    assert shown.code == 0, shown.err
    assert [p["role"] for p in json.loads(shown.out)["probes"]][:2] == ["bad", "good"]
    # the store has now seen test_flaky pass and fail at the bad commit: following it
    # again takes twice the attempts, and it is called flaky again
    again = _bisect(harness, "linear/cpu", FLAKY, "--good", good, "--bad", bad, code=1)
    assert again["repeats"] == 6
    assert again["outcome"] == "flaky"
    listed = harness("bisect", "list", "--json")
    assert listed.code == 0
    first, second = listed.json()["bisections"]  # newest first: the flaky one
    assert (second["id"], second["outcome"]) == (doc["id"], "found")
    assert second["headline"].startswith(f"first bad commit {linear.shas[19][:12]}")
    assert second["confidence"] in ("high", "medium")
    assert first["headline"].startswith("flaky")
    table = harness("bisect", "list")
    assert f"first bad commit {linear.shas[19][:12]}" in table.out
    assert f"confidence {second['confidence']}" in table.out


def test_a_flaky_test_alone_is_flaky_not_a_regression(
    harness: Callable[..., Result], linear: Fixture
) -> None:
    doc = _bisect(
        harness, "linear/cpu", FLAKY, "--good", linear.shas[0], "--bad", linear.shas[31], code=1
    )
    assert doc["outcome"] == "flaky"
    assert doc["reason"].startswith("flaky, not a regression")
    assert doc["first_bad"] is None
    assert doc["probes"] == 0


def test_reuses_the_runs_it_has(
    harness: Callable[..., Result], linear: Fixture, tmp_path: Path
) -> None:
    db = tmp_path / "harness.db"
    args = ("linear/cpu", REGRESS, "--good", linear.shas[0], "--bad", linear.shas[31])
    first = _bisect(harness, *args)
    before = _runs(db)
    assert first["first_bad"]["sha"] == linear.shas[19]
    assert first["runs"]["new"]
    again = _bisect(harness, *args)
    assert again["first_bad"]["sha"] == linear.shas[19]
    assert again["runs"]["new"] == []
    assert _runs(db) == before
    assert len(again["runs"]["reused"]) == len(first["runs"]["new"])


def test_a_break_through_a_merge_names_the_merge(
    harness: Callable[..., Result], merged: Fixture, tmp_path: Path
) -> None:
    """Also: no tests named and no runs in the database: both ends are run first (the
    suite's selection, in the bisection's job) and the newly failing test followed."""
    c0, _c1, _c2, m = merged.shas
    doc = _bisect(harness, "merged/cpu", "--good", c0, "--bad", m)
    assert doc["tests"] == [REGRESS]
    with sqlite3.connect(tmp_path / "harness.db") as conn:
        rows = conn.execute(
            "SELECT runs.sha, runs.args, jobs.trigger FROM runs JOIN jobs ON jobs.id = runs.job_id"
            " ORDER BY runs.id"
        ).fetchall()
    assert [(sha, args) for sha, args, _t in rows[:2]] == [(c0, "tests"), (m, "tests")]
    assert {t for _s, _a, t in rows} == {"bisect"}
    assert len(rows) == len(doc["runs"]["new"]) + len(doc["runs"]["reused"])
    assert doc["outcome"] == "found"
    assert doc["candidates"] == 3  # first parent: c1, c2, M (the branch's commits are not)
    assert doc["first_bad"]["sha"] == m
    assert doc["first_bad"]["merge"] is True
    assert doc["first_bad"]["pr_url"] == "https://github.com/example/merged/pull/7"


def test_an_unbuildable_commit_is_skipped_and_gives_a_range(
    harness: Callable[..., Result], skipping: Fixture
) -> None:
    c0, _c1, c2, c3, c4 = skipping.shas
    doc = _bisect(harness, "skipping/cpu", REGRESS, "--good", c0, "--bad", c4, code=1)
    assert doc["outcome"] == "range"
    assert [s["sha"] for s in doc["suspects"]] == [c2, c3]
    skipped = [s for s in doc["steps"] if s["verdict"] == "skip"]
    assert [s["sha"] for s in skipped] == [c2]
    assert "error" in skipped[0]["reason"]
