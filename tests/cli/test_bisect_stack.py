"""``harness run --stack`` and ``harness bisect CELL --stack`` with real runs.

A fixture upstream whose tests import two local "torch"-like packages, ``fakelib`` and
``otherlib``, installed from a wheel folder holding several versions of each: fakelib
1.2 breaks ``test_feature``; otherlib's versions all work. Two runs at the same commit
with different stacks, then the stack bisection names the component and version, is
stored (``harness bisect show``, ``GET /api/bisections/ID``) and reuses runs.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rich.console import Console

from harness.backends.target import BackendDetector
from harness.bisect.probe import Prober
from harness.bisect.stack_bisection import run_stack_bisection
from harness.config.loader import load_suites
from harness.executors.registry import make_executor
from harness.matrix import select
from harness.planner import all_cells
from harness.reporting.console import ConsoleDisplay
from harness.runner import RunOptions
from harness.service.app import create_app
from harness.store import Store
from harness.store.bisections import BisectionRecord
from tests.cli.conftest import Result
from tests.gitrepos import UpstreamRepo
from tests.simple_index import build_wheel

TESTS = """\
import fakelib
import otherlib


def test_feature():
    assert fakelib.feature() == 42


def test_other():
    assert otherlib.VALUE == "ok"
"""

GOOD_FEATURE = "def feature():\n    return 42\n"
BROKEN_FEATURE = "def feature():\n    return 0\n"
#: passes on every third call only, counted in a file the suite names: flaky, not broken
FLAKY_FEATURE = """\
import os, pathlib
def feature():
    counter = pathlib.Path(os.environ["FAKELIB_COUNTER"])
    n = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(n + 1))
    return 42 if n % 3 == 2 else 0
"""


def stack_wheels(dest: Path, pytest_wheels: Path, *, flaky: bool = False) -> Path:
    """pytest's wheels plus fakelib 1.0-1.3 (1.2 on broken; ``flaky``: 1.3 flaky, the
    others good) and otherlib 2.0, 2.1."""
    dest.mkdir(parents=True, exist_ok=True)
    for whl in pytest_wheels.glob("*.whl"):
        shutil.copy(whl, dest)
    for version in ("1.0", "1.1", "1.2", "1.3"):
        body = BROKEN_FEATURE if version >= "1.2" else GOOD_FEATURE
        if flaky:
            body = FLAKY_FEATURE if version == "1.3" else GOOD_FEATURE
        build_wheel(dest, "fakelib", version, body)
    for version in ("2.0", "2.1"):
        build_wheel(dest, "otherlib", version, 'VALUE = "ok"\n')
    return dest


def stack_suite(url: str, wheels: Path, counter: Path) -> str:
    return textwrap.dedent(
        f"""\
        name: stk
        upstream:
          repo: example/stk
          url: {url}
          default_branch: main
        env:
          PIP_NO_INDEX: "1"
          PIP_FIND_LINKS: {wheels}
          FAKELIB_COUNTER: {counter}
        env_pinned: [PIP_NO_INDEX, PIP_FIND_LINKS, FAKELIB_COUNTER]
        default_args: tests
        stack:
          fakelib:
            variable: HARNESS_FAKELIB_PACKAGES
            default: fakelib
            versions:
              wheels: {wheels}
          otherlib:
            variable: HARNESS_OTHERLIB_PACKAGES
            default: otherlib
            versions:
              wheels: {wheels}
        backends:
          cpu:
            setup:
              - name: deps
                run: >-
                  {{pip}} install -q pytest ${{HARNESS_FAKELIB_PACKAGES:-fakelib}}
                  ${{HARNESS_OTHERLIB_PACKAGES:-otherlib}}
                timeout: 5m
            test:
              - name: unit
                run: python -m pytest -q --junitxml={{results_dir}}/unit.xml {{args}}
                timeout: 2m
                results:
                  - path: unit.xml
                    format: junit
        """
    )


def make_stack_upstream(
    tmp_path: Path, suites_dir: Path, wheels: Path, flaky: bool
) -> UpstreamRepo:
    repo = UpstreamRepo(tmp_path / "stk-upstream", name="stk")
    repo.commit({"tests/test_stack.py": TESTS}, message="tests using fakelib and otherlib")
    folder = stack_wheels(tmp_path / "stack-wheels", wheels, flaky=flaky)
    (suites_dir / "stk.yaml").write_text(stack_suite(repo.url, folder, tmp_path / "counter"))
    return repo


@pytest.fixture
def stack_setup(tmp_path: Path, suites_dir: Path, wheels: Path) -> UpstreamRepo:
    return make_stack_upstream(tmp_path, suites_dir, wheels, flaky=False)


@pytest.fixture
def flaky_stack_setup(tmp_path: Path, suites_dir: Path, wheels: Path) -> UpstreamRepo:
    return make_stack_upstream(tmp_path, suites_dir, wheels, flaky=True)


def run_with(harness: Callable[..., Result], *pins: str, ref: str | None = None) -> int:
    args = [a for pin in pins for a in ("--stack", pin)] + (["--ref", ref] if ref else [])
    res = harness("run", "stk/cpu", *args, "--json")
    assert res.code in (0, 1), res.err[-3000:]
    return int(res.json()["runs"][0]["run_id"])


def fingerprint(db_url: str, run_id: int) -> dict[str, object]:
    store = Store.open(db_url)
    try:
        env_id = store.get_run(run_id).environment_id
        assert env_id is not None
        return store.get_environment(env_id)
    finally:
        store.close()


def test_pins_are_installed_recorded_and_key_the_environment(
    stack_setup: None, harness: Callable[..., Result], db_url: str
) -> None:
    old = run_with(harness, "fakelib=1.0")
    new = run_with(harness, "fakelib=1.3")
    fp_old, fp_new = fingerprint(db_url, old), fingerprint(db_url, new)
    assert fp_old["stack"] == {"fakelib": "1.0"}
    assert fp_new["stack"] == {"fakelib": "1.3"}
    # a pin is its own environment: 1.3 was installed, not the 1.0 environment reused
    assert fp_old["python"]["packages"]["fakelib"] == "1.0"  # type: ignore[index]
    assert fp_new["python"]["packages"]["fakelib"] == "1.3"  # type: ignore[index]
    store = Store.open(db_url)
    try:
        assert store.get_run(old).status == "passed"
        assert store.get_run(new).status == "failed"
    finally:
        store.close()


def test_unknown_component_is_refused(stack_setup: None, harness: Callable[..., Result]) -> None:
    res = harness("run", "stk/cpu", "--stack", "torch=2.9.1")
    assert res.code == 2
    assert "declares no stack component 'torch'" in res.err


def run_count(db_url: str) -> int:
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        return int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])


def bisect_stack(harness: Callable[..., Result], good: int, bad: int, *extra: str) -> Result:
    return harness(
        "bisect",
        "stk/cpu/host",
        "--stack",
        "--good",
        str(good),
        "--bad",
        str(bad),
        *extra,
        timeout=600,
    )


def shown(harness: Callable[..., Result], bisection_id: int) -> dict[str, Any]:
    res = harness("bisect", "show", str(bisection_id), "--json")
    assert res.code == 0, res.err
    doc: dict[str, Any] = json.loads(res.out)
    return doc


def test_stack_bisection_names_the_version_is_stored_and_reuses_runs(
    stack_setup: UpstreamRepo, harness: Callable[..., Result], db_url: str
) -> None:
    # two components changed between the runs; only fakelib matters
    good = run_with(harness, "fakelib=1.0", "otherlib=2.0")
    bad = run_with(harness, "fakelib=1.3", "otherlib=2.1")
    res = bisect_stack(harness, good, bad, "--json")
    assert res.code == 0, res.err[-3000:]
    doc = res.json()
    assert doc["kind"] == "stack"
    assert doc["outcome"] == "found"
    assert (doc["component"], doc["version"]) == ("fakelib", "1.2")
    (test_id,) = doc["tests"]
    assert test_id.endswith("test_feature")
    assert {c["component"]: (c["good"], c["bad"]) for c in doc["changes"]} == {
        "fakelib": ("1.0", "1.3"),
        "otherlib": ("2.0", "2.1"),
    }
    tried = [(s["role"], s["component"], s["version"], s["verdict"]) for s in doc["steps"]]
    # the ends (the runs themselves, the bad one repeated), then each changed component
    # alone on the good stack: fakelib 1.3 breaks it, otherlib 2.1 does not; then
    # fakelib's versions after 1.0 up to 1.3 are searched: 1.1 good, 1.2 bad
    assert tried == [
        ("bad", None, None, "bad"),
        ("good", None, None, "good"),
        ("probe", "fakelib", "1.3", "bad"),
        ("probe", "otherlib", "2.1", "good"),
        ("probe", "fakelib", "1.1", "good"),
        ("probe", "fakelib", "1.2", "bad"),
    ]
    assert doc["probes"] == 4
    bad_end, good_end = doc["steps"][:2]
    assert bad_end["reused_runs"] == [bad]
    assert bad_end["outcomes"][test_id] == ["failed"] * 3  # the run, then one with 2 reruns
    assert (good_end["reused_runs"], good_end["new_runs"]) == ([good], [])
    # every probe is a real run of the cell, pinned as it says, recorded with its outcome
    for step in doc["steps"][2:]:
        (run_id,) = step["new_runs"]
        fp = fingerprint(db_url, run_id)
        assert fp["stack"] == step["pins"]
        assert fp["python"]["packages"]["fakelib"] == step["pins"]["fakelib"]  # type: ignore[index]
        assert fp["python"]["packages"]["otherlib"] == step["pins"]["otherlib"]  # type: ignore[index]

    # stored: a bisections row of kind stack with its answer, probes with their pins
    stored = shown(harness, doc["id"])
    assert (stored["kind"], stored["status"], stored["outcome"]) == ("stack", "done", "found")
    assert (stored["good_run_id"], stored["bad_run_id"]) == (good, bad)
    assert stored["good_sha"] == stored["bad_sha"] == fingerprint_sha(db_url, good)
    assert stored["repository"] == "example/stk"
    assert (stored["result"]["component"], stored["result"]["version"]) == ("fakelib", "1.2")
    assert [(p["role"], p["pins"], p["verdict"]) for p in stored["probes"]] == [
        (s["role"], s["pins"], s["verdict"]) for s in doc["steps"]
    ]
    assert stored["probes"][2]["run_ids"] == doc["steps"][2]["new_runs"]
    text = harness("bisect", "show", str(doc["id"]))
    assert "culprit: fakelib 1.2" in text.out
    assert "fakelib=1.2, otherlib=2.0" in text.out
    listed = harness("bisect", "list")
    assert f"runs {good}..{bad}" in listed.out
    # the service serves the same
    with Store.open(db_url) as store:
        client = TestClient(create_app(store, None))
        api = client.get(f"/api/bisections/{doc['id']}").json()
        assert api["kind"] == "stack"
        assert api["result"]["component"] == "fakelib"
        assert [p["pins"] for p in api["probes"]] == [p["pins"] for p in stored["probes"]]
        (row,) = client.get("/api/bisections").json()["bisections"]
        assert (row["kind"], row["outcome"]) == ("stack", "found")

    # the same bisection again: every stack it looks at has a stored run, nothing runs
    before = run_count(db_url)
    again = bisect_stack(harness, good, bad, "--json")
    assert again.code == 0, again.err[-3000:]
    redo = again.json()
    assert (redo["component"], redo["version"]) == ("fakelib", "1.2")
    assert run_count(db_url) == before
    assert redo["runs"]["new"] == []
    assert all(s["new_runs"] == [] and s["reused_runs"] for s in redo["steps"])


def fingerprint_sha(db_url: str, run_id: int) -> str | None:
    with Store.open(db_url) as store:
        return store.get_run(run_id).sha


def test_a_flaky_package_is_flaky_not_a_regression(
    flaky_stack_setup: UpstreamRepo, harness: Callable[..., Result], db_url: str
) -> None:
    good = run_with(harness, "fakelib=1.0")
    bad = run_with(harness, "fakelib=1.3")  # the first call fails
    res = bisect_stack(harness, good, bad, "--json")
    assert res.code == 1, res.err[-3000:]
    doc = res.json()
    assert doc["outcome"] == "flaky"
    assert doc["reason"].startswith("flaky, not a regression")
    # the bad end: the bad run failed, the harness ran it again: failed, then passed
    (test_id,) = doc["flaky"]
    assert doc["flaky"][test_id] == {
        "pins": {"fakelib": "1.3"},
        "outcomes": ["failed", "failed", "passed"],
    }
    assert [(s["role"], s["verdict"]) for s in doc["steps"]] == [("bad", "flaky")]
    assert doc["probes"] == 0
    assert doc["repeats"] == 3
    assert shown(harness, doc["id"])["outcome"] == "flaky"
    # the store has now seen it pass and fail with fakelib 1.3: a second stack bisection
    # takes twice the attempts, and the stored runs already say flaky (nothing runs)
    before = run_count(db_url)
    again = bisect_stack(harness, good, bad, "--json")
    assert again.code == 1, again.err[-3000:]
    redo = again.json()
    assert (redo["outcome"], redo["repeats"]) == ("flaky", 6)
    assert "flaked before" in again.err
    assert run_count(db_url) == before


def test_runs_at_different_commits_and_stacks_are_refused_with_a_way_forward(
    stack_setup: UpstreamRepo, harness: Callable[..., Result], db_url: str
) -> None:
    old = run_with(harness, "fakelib=1.0")
    later = stack_setup.commit({"README": "later\n"}, message="a later commit")
    new = run_with(harness, "fakelib=1.3", ref=later)
    res = bisect_stack(harness, old, new)
    assert res.code == 2
    assert "differ in both the upstream commit" in res.err
    assert "bisect the commits with the stack pinned" in res.err
    same_stack = run_with(harness, "fakelib=1.0", ref=later)
    res = bisect_stack(harness, old, same_stack)
    assert res.code == 2
    assert "no declared stack component differs" in res.err
    assert f"harness bisect stk/cpu/host --good {fingerprint_sha(db_url, old)[:12]}" in res.err  # type: ignore[index]
    assert harness("bisect", "list", "--json").json()["bisections"] == []


def test_no_declared_change_is_no_change(
    stack_setup: UpstreamRepo, harness: Callable[..., Result]
) -> None:
    one = run_with(harness, "fakelib=1.3")
    two = run_with(harness, "fakelib=1.3")
    res = bisect_stack(harness, one, two, "--json")
    assert res.code == 1, res.err[-3000:]
    doc = res.json()
    assert doc["outcome"] == "no-change"
    assert doc["steps"] == []
    assert "no declared stack component differs" in doc["reason"]
    assert shown(harness, doc["id"])["outcome"] == "no-change"


def test_a_queued_stack_bisection_is_run_by_the_library_entry_point(
    stack_setup: UpstreamRepo,
    harness: Callable[..., Result],
    db_url: str,
    suites_dir: Path,
    shared_cache: Path,
    tmp_path: Path,
) -> None:
    """What the service does with a stack bisection it queued (``schedule(kind="stack")``)
    and leased: ``run_stack_bisection`` fills that row (in this process, real runs)."""
    good = run_with(harness, "fakelib=1.1")
    bad = run_with(harness, "fakelib=1.2")
    suites = load_suites(suites_dir)
    (cell,) = select(all_cells(suites, None), ["stk/cpu/host"], [])
    with Store.open(db_url) as store:
        sha = store.get_run(good).sha
        assert sha is not None
        with store.transaction("queueing a stack bisection") as tx:
            bid = tx.bisections.schedule(
                repository="example/stk",
                cell=cell.id,
                suite="stk",
                tests=[],
                good_sha=sha,
                bad_sha=sha,
                good_run_id=good,
                bad_run_id=bad,
                repeats=3,
                kind="stack",
            )
            assert bid is not None
            assert tx.bisections.claim(bid, "worker-1", 600)
        with store.reading("the queued row") as r:
            queued = r.bisections.get(bid)
        assert queued is not None
        assert (queued.kind, queued.status, queued.lease_owner) == ("stack", "running", "worker-1")
        job_id = store.create_job("bisect", cell.id, "stack")
        with ConsoleDisplay(Console(stderr=True)) as display:

            def make_prober(record: BisectionRecord) -> Prober:
                assert record.id == bid
                return Prober(
                    cell=cell,
                    suite=suites[cell.suite],
                    tests=[],
                    target=BackendDetector().target(cell.backend, None),
                    store=store,
                    executor=make_executor("local", shared_cache),
                    options=RunOptions(cache_dir=shared_cache, suites_dir=suites_dir),
                    job_id=job_id,
                    out_dir=tmp_path / "out",
                    display=display,
                )

            report = run_stack_bisection(store, bid, make_prober, lease_owner="worker-1")
        assert (report.outcome, report.component, report.version) == ("found", "fakelib", "1.2")
        with store.reading("the filled row") as r:
            done = r.bisections.get(bid)
            probes = r.bisections.probes(bid)
    assert done is not None
    assert (done.status, done.outcome, done.job_id) == ("done", "found", job_id)
    assert done.lease_owner is None
    assert done.tests == report.tests
    assert done.result is not None
    assert done.result["version"] == "1.2"
    # 1.1 → 1.2, one component: the ends say it all (alone at its bad version, fakelib is
    # the bad end, not probed again)
    assert [(p.role, p.pins) for p in probes] == [
        ("bad", {"fakelib": "1.2"}),
        ("good", {"fakelib": "1.1"}),
    ]
    assert probes[0].run_ids[0] == bad
    assert probes[1].run_ids == [good]
    assert report.probe_count == 0


def test_help_documents_the_exit_codes_and_the_stack_flag(
    harness: Callable[..., Result],
) -> None:
    for args in (("bisect", "--help"), ("bisect", "start", "--help")):
        res = harness(*args)
        assert res.code == 0, res.err
        text = " ".join(res.out.split())
        assert "Exit codes: 0 a culprit found" in text
        assert "2 configuration error" in text
    assert "--stack" in harness("bisect", "start", "--help").out
    assert harness("bisect-stack", "--help").code == 2  # the old command is gone


def test_a_commit_bisection_does_not_reuse_a_run_pinned_to_another_stack(
    stack_setup: UpstreamRepo, harness: Callable[..., Result]
) -> None:
    """At the bad commit the store has a run pinned to fakelib 1.0 (passes) and a plain one
    (the default, fakelib 1.3: fails). A commit bisection's probes run unpinned, so the
    pinned run is not theirs: reusing it would call the test flaky, and counting it as
    flake history would double the attempts. Unpinned, the test fails at both commits
    (the stack broke it, not a commit): nothing regressed between."""
    old_sha = stack_setup.commit({"README": "one\n"}, message="one")
    run_with(harness, "fakelib=1.0", ref=old_sha)
    new_sha = stack_setup.commit({"README": "two\n"}, message="two")
    pinned = run_with(harness, "fakelib=1.0", ref=new_sha)
    plain = run_with(harness, ref=new_sha)
    res = harness(
        "bisect",
        "stk/cpu",
        "tests.test_stack::test_feature",
        "--good",
        old_sha,
        "--bad",
        new_sha,
        "--json",
        timeout=600,
    )
    assert res.code == 1, res.err[-3000:]
    doc = res.json()
    assert doc["outcome"] == "none", doc["reason"]
    assert "failing at the good end" in doc["reason"]
    # passing on one stack and failing on another at one commit is no flake history:
    # the attempts per probe are not doubled
    assert doc["repeats"] == 3
    assert "flaked before" not in res.err
    bad_end = doc["steps"][0]
    assert bad_end["role"] == "bad"
    assert plain in bad_end["reused_runs"]
    assert pinned not in bad_end["reused_runs"]
