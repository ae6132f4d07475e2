"""End to end, on an upstream laid out like DeepSpeed (pytest's rootdir ``tests``, the test
step in ``tests/unit``, tests that moved under ``v1``): the declared path's choice is
recorded and shown, a missing listed path is an error naming it, and the verdict's
reproduce hint runs as printed, selecting the one test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.store import Store
from tests.cli.conftest import Result
from tests.gitrepos import UpstreamRepo

Harness = Callable[..., Result]

TEST_ACCEL = """\
def test_ok():
    pass


def test_broken():
    assert 1 == 2, "broken on purpose"
"""


@pytest.fixture(scope="module")
def layered(tmp_path_factory: pytest.TempPathFactory) -> UpstreamRepo:
    repo = UpstreamRepo(tmp_path_factory.mktemp("layered"), name="layered")
    repo.commit(
        {
            "requirements.txt": "pytest\n",
            # the rootdir is tests/ (DeepSpeed: tests/pytest.ini); node ids start "unit/"
            "tests/pytest.ini": "[pytest]\naddopts = -p no:cacheprovider\n",
            "tests/unit/__init__.py": "",
            "tests/unit/v1/accelerator/test_accel.py": TEST_ACCEL,
            "tests/unit/utils/test_utils.py": "def test_util():\n    pass\n",
        },
        "accelerator tests under v1",
    )
    return repo


@pytest.fixture
def suite(suites_dir: Path, layered: UpstreamRepo, wheels: Path) -> Path:
    path = suites_dir / "layered.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            name: layered
            upstream: {{repo: example/layered, url: {layered.url}, default_branch: main}}
            dependency_files: [requirements.txt]
            env: {{PIP_NO_INDEX: "1", PIP_FIND_LINKS: {wheels}}}
            env_pinned: [PIP_NO_INDEX, PIP_FIND_LINKS]
            paths:
              accelerator:
                under: tests/unit
                alternatives: [v1/accelerator, accelerator]
            default_args: "{{path:accelerator}} utils"
            backends:
              cpu:
                setup:
                  - name: deps
                    run: python -m pip install -q -r requirements.txt
                test:
                  - name: unit
                    workdir: tests/unit
                    run: >-
                      python -m pytest -p harness_junit_stream
                      --harness-junit={{results_dir}}/unit.xml {{args}}
                    results: [{{path: unit.xml}}]
            """
        )
    )
    return path


def summary_run(res: Result) -> dict:  # type: ignore[type-arg]
    summary = json.loads((Path(res.json()["reports"]) / "summary.json").read_text())
    (run,) = summary["runs"]
    return run  # type: ignore[no-any-return]


def test_the_chosen_alternative_is_recorded_and_shown(
    harness: Harness, suite: Path, db_url: str
) -> None:
    res = harness("run", "layered/cpu", "--json")
    assert res.code == 1, res.err  # test_broken fails
    run = summary_run(res)
    assert run["counts"]["passed"] == 2
    assert run["counts"]["failed"] == 1
    assert run["args"] == "v1/accelerator utils"
    assert run["paths"] == {
        "accelerator": {
            "path": "v1/accelerator",
            "under": "tests/unit",
            "why": "tests/unit/v1/accelerator exists",
            "passed_over": [],
        }
    }
    assert "test path {path:accelerator} = v1/accelerator" in res.err + res.out
    md = (Path(res.json()["reports"]) / "summary.md").read_text()
    assert "test path {path:accelerator} = v1/accelerator" in md
    store = Store.open(db_url)
    try:
        env_id = store.get_run(run["run_id"]).environment_id
        assert env_id is not None
        assert store.get_environment(env_id)["paths"]["accelerator"]["path"] == "v1/accelerator"
    finally:
        store.close()


def test_no_alternative_present_fails_the_run_naming_them(harness: Harness, suite: Path) -> None:
    suite.write_text(suite.read_text().replace("[v1/accelerator, accelerator]", "[v2/acc, acc]"))
    res = harness("run", "layered/cpu", "--json")
    assert res.code == 3, res.err
    run = summary_run(res)
    assert run["status"] == "error"
    assert run["reason"].startswith(
        "{path:accelerator}: no alternative is at the tested commit: "
        "v2/acc (tests/unit/v2/acc does not exist); acc (tests/unit/acc does not exist)"
    )


def test_a_missing_listed_path_is_an_error_naming_it(harness: Harness, suite: Path) -> None:
    res = harness("run", "layered/cpu", "--test-args", "nowhere/test_x.py utils", "--json")
    assert res.code == 3, res.err
    run = summary_run(res)
    assert run["status"] == "error"
    assert run["reason"] == (
        "test step 'unit' exited with code 4 but its results show no failure: "
        "ERROR: file or directory not found: nowhere/test_x.py (see test-00-unit.log)"
    )


def test_the_reproduce_hint_runs_as_printed(
    harness: Harness,
    suite: Path,
    layered: UpstreamRepo,
    tmp_path: Path,
    db_url: str,
    shared_cache: Path,
) -> None:
    first = harness("run", "layered/cpu", "--json")
    run_id = summary_run(first)["run_id"]
    verdict = harness("verdict", str(run_id), "--json")
    assert verdict.code in (0, 1), verdict.err
    listed = [t for tests in verdict.json()["tests"].values() for t in tests]
    (broken,) = [t for t in listed if t["reproduce"]]
    hint = broken["reproduce"]
    # run it as a user would: in a shell, from where the suites are, nothing added
    env = {
        **os.environ,
        "HARNESS_DB": db_url,
        "HARNESS_SUITES": str(suite.parent),
        "HARNESS_CACHE": str(shared_cache),  # the environment the first run built
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    proc = subprocess.run(
        ["bash", "-c", f"{hint} --json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the one test, failing again
    rerun = Result(proc.returncode, proc.stdout, proc.stderr).json()["runs"][0]
    sha = layered.rev_parse("main")
    assert rerun["sha"] == sha
    assert rerun["counts"]["failed"] == 1
    assert sum(rerun["counts"].values()) == 1  # selected alone, and run
    # the node id is pytest's (rootdir tests/) made relative to the step's tests/unit
    assert hint == (
        f"harness run layered/cpu/host --ref {sha} "
        "--test-args v1/accelerator/test_accel.py::test_broken"
    )
