"""Randomized test order (pytest-randomly) kept and explained, end to end.

A small upstream installs pytest-randomly (as DeepSpeed's dev requirements do) and has
two tests where one fails only when it runs after the other. Through the real CLI: the
run records the seed pytest-randomly chose (in the database, ``summary.json`` and result
bundles), its failure is re-run with the same seed after the same tests (and fails
again) and then in a fixed order (and passes), and the verdict calls it
*order-dependent*, not flaky, with the seeds; the printed reproduction, run as printed,
fails the same way.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Result
from tests.gitrepos import UpstreamRepo

Harness = Callable[..., Result]

#: ``test_needs_clean`` fails when ``test_pollutes`` ran before it in the same process
#: (collection order: it runs first, and passes)
TEST_STATE = """\
import os


def test_needs_clean():
    assert "ODEMO_POLLUTED" not in os.environ, "state left by test_pollutes"


def test_pollutes():
    os.environ["ODEMO_POLLUTED"] = "1"


def test_independent():
    assert True
"""
VICTIM = "tests.test_state::test_needs_clean"
PYTEST_INI = "[pytest]\naddopts = -p no:cacheprovider\npythonpath = .\n"


@pytest.fixture(scope="module")
def randomly_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pytest-randomly's wheel (the cell's environment installs it, as upstream's does)."""
    dest = tmp_path_factory.mktemp("randomly-wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
         "-d", str(dest), "pytest-randomly"],
        check=True,
    )  # fmt: skip
    return dest


@pytest.fixture(scope="module")
def odemo(tmp_path_factory: pytest.TempPathFactory) -> UpstreamRepo:
    repo = UpstreamRepo(tmp_path_factory.mktemp("odemo"), name="odemo")
    repo.commit(
        {
            "requirements.txt": "pytest\npytest-randomly\n",
            "pytest.ini": PYTEST_INI,
            "tests/__init__.py": "",
            "tests/test_state.py": TEST_STATE,
        },
        message="tests that share process state",
    )
    repo.pull_request(1, {"README.md": "a change that touches no test\n"})
    return repo


def direct_outcome(tmp: Path, seed: int) -> bool:
    """Whether a direct pytest run of the same files with ``seed`` passes (this
    environment has pytest-randomly, as the test extra installs it)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "randomly", f"--randomly-seed={seed}",
         "tests"],
        cwd=tmp, capture_output=True, text=True, check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"},
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc.returncode == 0


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, int]:
    """A seed whose order passes and one whose order fails, found by direct runs."""
    tmp = tmp_path_factory.mktemp("direct")
    (tmp / "tests").mkdir()
    (tmp / "pytest.ini").write_text(PYTEST_INI)
    (tmp / "tests" / "__init__.py").write_text("")
    (tmp / "tests" / "test_state.py").write_text(TEST_STATE)
    passing = failing = None
    for seed in range(1, 40):
        ok = direct_outcome(tmp, seed)
        if ok and passing is None:
            passing = seed
        if not ok and failing is None:
            failing = seed
        if passing is not None and failing is not None:
            return passing, failing
    raise AssertionError("no seed ordered test_pollutes first in 39 tries")


@pytest.fixture
def osuite(suites_dir: Path, odemo: UpstreamRepo, wheels: Path, randomly_wheels: Path) -> Path:
    text = textwrap.dedent(
        f"""\
        name: odemo
        upstream:
          repo: example/odemo
          url: {odemo.url}
          default_branch: main
        dependency_files: [requirements.txt]
        env:
          PIP_NO_INDEX: "1"
          PIP_FIND_LINKS: {wheels} {randomly_wheels}
        env_pinned: [PIP_NO_INDEX, PIP_FIND_LINKS]
        default_args: tests
        subsets:
          state:
            args: tests/test_state.py
        backends:
          cpu:
            setup:
              - name: deps
                run: python -m pip install -q -r requirements.txt
                timeout: 5m
            test:
              - name: unit
                run: >-
                  python -m pytest -q -p harness_junit_stream
                  --harness-junit={{results_dir}}/unit.xml {{args}}
                timeout: 2m
                results:
                  - path: unit.xml
                    format: junit
        """
    )
    path = suites_dir / "odemo.yaml"
    path.write_text(text)
    return path


def run(harness: Harness, *args: str, seed: int | None = None) -> dict[str, object]:
    """One ``harness run`` of odemo (pytest-randomly's seed forced from outside with
    ``seed``, else its own choice); its ``--json`` run entry."""
    env = {"PYTEST_ADDOPTS": f"--randomly-seed={seed}"} if seed is not None else {}
    extra = ["--pass-env", "PYTEST_ADDOPTS"] if seed is not None else []
    res = harness("run", "odemo/cpu", *args, *extra, "--json", env=env)
    assert res.code in (0, 1), res.err
    (entry,) = res.json()["runs"]
    return dict(entry)


def test_seed_recorded_failure_reproduced_and_called_order_dependent(
    harness: Harness, osuite: Path, seeds: tuple[int, int], tmp_path: Path
) -> None:
    good, bad = seeds
    base = run(harness, seed=good)
    assert base["status"] == "passed", base
    assert base["seeds"] == {"unit": good}  # recorded from pytest-randomly, not from us

    pr = run(harness, "--ref", "pr/1", "--reruns", "2", seed=bad)
    assert pr["status"] == "failed"
    assert pr["counts"]["failed"] == 1  # type: ignore[index]
    assert pr["seeds"] == {"unit": bad}
    summary = json.loads((Path(str(pr["reports"])) / "summary.json").read_text())
    assert summary["runs"][0]["seeds"] == {"unit": bad}

    data = harness("verdict", str(pr["run_id"]), "--json").json()
    assert data["run"]["seeds"] == {"unit": bad}
    assert [t["test_id"] for t in data["tests"]["order_dependent"]] == [VICTIM]
    assert data["tests"]["flaky"] == []
    (entry,) = data["tests"]["order_dependent"]
    # failed in the run with the seed, failed again with it after the same tests,
    # passed alone in collection order
    assert entry["reruns"] == ["failed", "passed"]
    assert entry["order"] == {"failed": [f"seed={bad}"], "passed": ["fixed"]}
    assert data["conclusion"] == "success"
    assert data["reason"] == "no new failures (1 order-dependent)"
    hint = entry["reproduce"]
    words = shlex.split(hint)
    # the run's whole selection (the tests before it matter) and its seed
    assert words[-2:] == ["--test-args", f"tests -p randomly --randomly-seed={bad}"], hint

    text = harness("verdict", str(pr["run_id"])).out
    assert f"test order: pytest-randomly, unit seed {bad}" in text, text
    assert f"fails with seed {bad}; passes with fixed order" in text, text
    comment = harness("verdict", str(pr["run_id"]), "--markdown").out
    assert "ORDER-DEPENDENT (1)" in comment, comment
    assert f"<code>unit</code>: seed {bad}" in comment
    assert f"fails with seed {bad}; passes with fixed order" in comment

    # the printed reproduction, run as printed (without the seed forced from outside),
    # fails the same way with the same seed
    assert words[:3] == ["harness", "run", "odemo/cpu/host"], hint
    again = harness(*words[1:], "--json")
    assert again.code == 1, again.err
    (rerun,) = again.json()["runs"]
    assert rerun["seeds"] == {"unit": bad}
    assert rerun["counts"]["failed"] == 1
    shown = harness("runs", "show", str(rerun["run_id"]), "--json").json()
    assert [r["test_id"] for r in shown["results"]] == [VICTIM]
    assert shown["seeds"] == {"unit": bad}
    assert shown["args"] == f"tests -p randomly --randomly-seed={bad}"


def test_bundle_carries_seed_selection_and_rerun_orders(
    harness: Harness, osuite: Path, seeds: tuple[int, int], tmp_path: Path
) -> None:
    _, bad = seeds
    out = tmp_path / "bundle"
    pr = run(harness, "--ref", "pr/1", "--reruns", "1", "--subset", "state", "--bundle", str(out),
             seed=bad)  # fmt: skip
    assert pr["status"] == "failed"
    (doc_path,) = out.glob("*/run.json")
    doc = json.loads(doc_path.read_text())
    assert doc["run"]["seeds"] == {"unit": bad}
    assert (doc["run"]["subset"], doc["run"]["args"]) == ("state", "tests/test_state.py")
    assert doc["rerun_orderings"] == {VICTIM: [f"seed={bad}", "fixed"]}
    other_db = {"HARNESS_DB": f"sqlite:///{tmp_path}/other.db"}
    loaded = harness("ingest", str(out), "--json", env=other_db)
    assert loaded.code == 0, loaded.err
    (row,) = harness("runs", "list", "--json", env=other_db).json()["runs"]
    assert (row["seeds"], row["subset"], row["args"]) == (
        {"unit": bad},
        "state",
        "tests/test_state.py",
    )
    data = harness("verdict", str(row["id"]), "--json", env=other_db).json()
    (entry,) = data["tests"]["order_dependent"]
    assert entry["order"] == {"failed": [f"seed={bad}"], "passed": ["fixed"]}
