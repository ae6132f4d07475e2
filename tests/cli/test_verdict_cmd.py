"""``harness verdict`` and ``harness compare`` on real runs of a fixture upstream across
commits: a regression, a fix, new and removed tests, a flaky test (seeded flips, on a
rerun and in the default branch's history), a quarantined failure and an environment
change. Every test of each scenario must land in the right category, in JSON and Markdown.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Result
from tests.cli.test_run_backend import npu_host
from tests.gitrepos import UpstreamRepo

Harness = Callable[..., Result]

CALC = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b + 1\n"

TEST_CALC = """\
from calc import add, sub


def test_add():
    assert add(1, 2) == 3, "add is broken"


def test_sub():
    assert sub(3, 1) == 2, "sub is off by one"


def test_stable():
    assert True
"""

#: Fails or passes as a counter file says, so flips are seeded: with FLIP_DIR/flaky
#: holding n, it fails when n is even and stores n + 1. Without the file it passes.
TEST_FLAKY = """\
import os
import pathlib


def test_flaky():
    state = pathlib.Path(os.environ["FLIP_DIR"]) / "flaky"
    if not state.exists():
        return
    n = int(state.read_text())
    state.write_text(str(n + 1))
    assert n % 2 == 1, f"flipped (attempt {n})"
"""


@pytest.fixture(scope="module")
def vdemo(tmp_path_factory: pytest.TempPathFactory) -> UpstreamRepo:
    """main: add works, sub is broken (a pre-existing failure). PRs: 1 breaks add, 2 fixes
    sub, 3 adds a passing and a failing test and removes test_stable."""
    repo = UpstreamRepo(tmp_path_factory.mktemp("vdemo"), name="vdemo")
    repo.commit(
        {
            "requirements.txt": "pytest\n",
            "pytest.ini": "[pytest]\naddopts = -p no:cacheprovider\npythonpath = .\n",
            "calc.py": CALC,
            "tests/test_calc.py": TEST_CALC,
            "tests/test_flaky.py": TEST_FLAKY,
        },
        message="calc with tests",
    )
    repo.pull_request(1, {"calc.py": CALC.replace("return a + b", "return a + b + 1")})
    repo.pull_request(2, {"calc.py": CALC.replace("return a - b + 1", "return a - b")})
    new_tests = TEST_CALC.replace("def test_stable():\n    assert True\n", "") + (
        "\n\ndef test_new_ok():\n    assert add(2, 2) == 4\n"
        "\n\ndef test_new_bad():\n    assert add(2, 2) == 5, 'new test fails'\n"
    )
    repo.pull_request(3, {"tests/test_calc.py": new_tests})
    return repo


@pytest.fixture
def flip_dir(tmp_path: Path) -> Path:
    d = tmp_path / "flip"
    d.mkdir()
    return d


@pytest.fixture
def vsuite(suites_dir: Path, vdemo: UpstreamRepo, wheels: Path, flip_dir: Path) -> Path:
    recipe = """\
            setup:
              - name: deps
                run: python -m pip install -q -r requirements.txt
                timeout: 5m
            test:
              - name: unit
                run: >-
                  python -m pytest -q -p harness_junit_stream
                  --harness-junit={results_dir}/unit.xml {args}
                timeout: 2m
                results:
                  - path: unit.xml
                    format: junit
"""
    text = textwrap.dedent(
        f"""\
        name: vdemo
        upstream:
          repo: example/vdemo
          url: {vdemo.url}
          default_branch: main
        dependency_files: [requirements.txt]
        env:
          PIP_NO_INDEX: "1"
          PIP_FIND_LINKS: {wheels}
          FLIP_DIR: {flip_dir}
        env_pinned: [PIP_NO_INDEX, PIP_FIND_LINKS]
        default_args: tests
        backends:
          cpu:
        """
    )
    text += recipe + "  npu:\n" + recipe
    path = suites_dir / "vdemo.yaml"
    path.write_text(text)
    return path


def run(harness: Harness, *args: str, env: dict[str, str] | None = None) -> int:
    """One ``harness run`` of vdemo; returns the run id."""
    res = harness("run", *args, "--json", env=env)
    assert res.code in (0, 1), res.err
    runs = harness("runs", "list", "--json").json()["runs"]
    return max(int(r["id"]) for r in runs)


def verdict(harness: Harness, run_id: int, *args: str, env: dict[str, str] | None = None) -> Any:
    res = harness("verdict", str(run_id), "--json", *args, env=env)
    assert res.code in (0, 1), res.err
    data = res.json()
    assert res.code == (1 if data["conclusion"] == "failure" else 0)
    return data


def ids(data: dict[str, Any], category: str) -> list[str]:
    return [t["test_id"] for t in data["tests"][category]]


def test_regression_is_a_new_failure_and_old_breakage_is_pre_existing(
    harness: Harness, vsuite: Path, vdemo: UpstreamRepo
) -> None:
    base = run(harness, "vdemo/cpu")
    pr = run(harness, "vdemo/cpu", "--ref", "pr/1")
    data = verdict(harness, pr)
    assert data["baseline"]["run"]["id"] == base
    assert data["baseline"]["exact"] is True
    assert data["run"]["base_sha"] == vdemo.rev_parse("main")
    assert data["conclusion"] == "failure"
    assert ids(data, "new_failure") == ["tests.test_calc::test_add"]
    assert ids(data, "pre_existing_failure") == ["tests.test_calc::test_sub"]
    assert data["counts"]["passing"] == 2  # test_stable, test_flaky
    assert data["reason"] == "1 new failure: tests.test_calc::test_add"
    (entry,) = data["tests"]["new_failure"]
    assert "add is broken" in entry["message"]
    sha = data["run"]["sha"]
    assert entry["reproduce"] == (
        f"harness run vdemo/cpu/host --ref {sha} --test-args tests/test_calc.py::test_add"
    )

    md = harness("verdict", str(pr), "--markdown")
    assert md.code == 1
    text = md.out
    assert text.startswith("<!-- harness-verdict: vdemo/cpu/host -->")
    assert text.index("NEW FAILURES") < text.index("BROKEN TRUNK")
    assert "<code>tests.test_calc::test_add</code>" in text
    assert "add is broken" in text
    assert f"harness run vdemo/cpu/host --ref {sha}" in text

    # the baseline judged against itself: nothing new
    same = harness("verdict", str(pr), "--baseline", str(pr), "--json").json()
    assert same["counts"]["new_failure"] == 0
    assert same["conclusion"] == "success"


def test_fix_new_and_removed_tests(harness: Harness, vsuite: Path) -> None:
    run(harness, "vdemo/cpu")
    fixed = verdict(harness, run(harness, "vdemo/cpu", "--ref", "pr/2"))
    assert ids(fixed, "fixed") == ["tests.test_calc::test_sub"]
    assert fixed["conclusion"] == "success"
    assert fixed["reason"] == "no new failures"

    changed = verdict(harness, run(harness, "vdemo/cpu", "--ref", "pr/3"))
    assert ids(changed, "new_test_passing") == ["tests.test_calc::test_new_ok"]
    assert ids(changed, "new_test_failing") == ["tests.test_calc::test_new_bad"]
    assert ids(changed, "removed") == ["tests.test_calc::test_stable"]
    assert ids(changed, "pre_existing_failure") == ["tests.test_calc::test_sub"]
    assert changed["conclusion"] == "failure"
    assert changed["reason"] == "1 new failing test: tests.test_calc::test_new_bad"


def test_a_failure_that_passes_on_a_rerun_is_flaky(
    harness: Harness, vsuite: Path, flip_dir: Path
) -> None:
    run(harness, "vdemo/cpu")
    (flip_dir / "flaky").write_text("0")  # fails on the first attempt, passes on the rerun
    pr = run(harness, "vdemo/cpu", "--ref", "pr/2", "--reruns", "2")
    shown = harness("runs", "show", str(pr), "--json").json()
    assert shown["counts"]["failed"] == 1  # the first attempt is what the run recorded
    data = verdict(harness, pr)
    (entry,) = data["tests"]["flaky"]
    assert entry["test_id"] == "tests.test_flaky::test_flaky"
    assert entry["reruns"] == ["passed"]
    assert data["conclusion"] == "success"
    assert data["reason"] == "no new failures (1 flaky)"
    assert (flip_dir / "flaky").read_text() == "2"  # passed on rerun 1: not run again


def test_a_test_flipping_on_the_default_branch_is_flaky_not_a_regression(
    harness: Harness, vsuite: Path, flip_dir: Path
) -> None:
    state = flip_dir / "flaky"
    for seed in ("0", "1", "0", "1"):  # fail, pass, fail, pass on main
        state.write_text(seed)
        run(harness, "vdemo/cpu")
    state.write_text("0")
    pr = run(harness, "vdemo/cpu", "--ref", "pr/2")
    data = verdict(harness, pr)
    (entry,) = data["tests"]["flaky"]
    assert entry["test_id"] == "tests.test_flaky::test_flaky"
    assert entry["flake"] == {"runs": 4, "failures": 2, "flips": 3, "score": 1.0}
    assert data["conclusion"] == "success"
    strict = verdict(harness, pr, "--min-flips", "4")
    assert ids(strict, "new_failure") == ["tests.test_flaky::test_flaky"]


def test_a_quarantined_failure_is_not_blamed(
    harness: Harness, vsuite: Path, suites_dir: Path
) -> None:
    run(harness, "vdemo/cpu")
    pr = run(harness, "vdemo/cpu", "--ref", "pr/1")
    quarantine = suites_dir / "quarantine" / "vdemo.yaml"
    quarantine.parent.mkdir()
    quarantine.write_text(
        "quarantine:\n"
        "  - backend: cpu\n"
        '    test: "tests.test_calc::test_a*"\n'
        "    reason: add is being reworked\n"
        "    link: https://github.com/example/vdemo/issues/9\n"
    )
    data = verdict(harness, pr)
    (entry,) = data["tests"]["quarantined"]
    assert entry["test_id"] == "tests.test_calc::test_add"
    assert entry["quarantine"]["source"] == f"{quarantine}:2"
    assert data["conclusion"] == "success"
    assert harness("quarantine", "lint").code == 0
    # an entry for another backend does not apply
    quarantine.write_text(quarantine.read_text().replace("backend: cpu", "backend: npu"))
    assert ids(verdict(harness, pr), "new_failure") == ["tests.test_calc::test_add"]


def test_environment_drift_explains_a_new_failure(
    harness: Harness, vsuite: Path, host_bin: Path, tmp_path: Path
) -> None:
    run(harness, "vdemo/npu", env=npu_host(tmp_path, host_bin, cann="8.3.RC2"))
    upgraded = npu_host(tmp_path, host_bin, cann="8.5.0")
    pr = run(harness, "vdemo/npu", "--ref", "pr/1", env=upgraded)
    data = verdict(harness, pr, env=upgraded)
    assert ids(data, "new_failure_env_drift") == ["tests.test_calc::test_add"]
    assert data["counts"]["new_failure"] == 0
    assert data["environment"]["drift"] == [
        {"key": "sdk", "before": "CANN 8.3.RC2", "after": "CANN 8.5.0", "explains_failures": True}
    ]
    assert data["conclusion"] == "neutral"
    assert "explained by environment drift (sdk CANN 8.3.RC2 → CANN 8.5.0)" in data["reason"]
    md = harness("verdict", str(pr), "--markdown", env=upgraded).out
    assert "Environment drift" in md
    assert "NEW FAILURES, EXPLAINED BY ENVIRONMENT DRIFT" in md


def test_coverage_against_the_cpu_run_at_the_same_commit(
    harness: Harness, vsuite: Path, host_bin: Path, tmp_path: Path
) -> None:
    env = npu_host(tmp_path, host_bin)
    cpu = run(harness, "vdemo/cpu", "--ref", "pr/2")
    npu = run(harness, "vdemo/npu", "--ref", "pr/1", env=env)  # add broken: "npu only"
    data = verdict(harness, npu, "--baseline", str(npu))
    assert data["coverage"]["reference"] is None  # not the same commit
    npu2 = run(harness, "vdemo/npu", "--ref", "pr/2", env=env)
    cov = verdict(harness, npu2, "--baseline", str(npu2))["coverage"]
    assert cov["reference"]["run_id"] == cpu
    assert cov["reference"]["relative_pass_rate"] == 1.0
    compared = harness("compare", str(cpu), str(npu), "--json").json()
    assert compared["schema"] == "harness.compare/1"
    # npu at pr/1 (add broken, sub not fixed) against cpu at pr/2 (both work); the
    # backend is part of the stack, so the change of backend explains them
    both = ["tests.test_calc::test_add", "tests.test_calc::test_sub"]
    assert ids(compared, "new_failure_env_drift") == both
    assert compared["environment"]["drift"][0]["key"] == "backend"
    assert compared["coverage"]["b"]["reference"]["fail_only_here"] == both
    # two runs of one backend: no "cpu passes 100.0% of what cpu passes"
    cpu2 = run(harness, "vdemo/cpu", "--ref", "pr/2")
    said = harness("compare", str(cpu), str(cpu2)).out.replace("\n", " ")
    assert "of what cpu passes" not in said
    assert "of what run" in said, said
    assert "counts: " in said
    assert "passing 2" not in said  # "2 passing": the number first


def test_no_baseline_is_neutral_and_says_what_to_run(harness: Harness, vsuite: Path) -> None:
    pr = run(harness, "vdemo/cpu", "--ref", "pr/1")
    data = verdict(harness, pr)
    assert data["baseline"]["run"] is None
    assert data["baseline"]["missing_at"] == data["run"]["base_sha"]
    assert data["conclusion"] == "neutral"
    text = harness("verdict", str(pr)).out
    assert "no baseline" in text
    # running the cell at the merge base makes the baseline, even after the PR's run
    made = run(harness, "vdemo/cpu", "--ref", data["baseline"]["missing_at"])
    again = verdict(harness, pr)
    assert (again["baseline"]["run"]["id"], again["baseline"]["exact"]) == (made, True)
    assert again["conclusion"] == "failure"


def test_quarantine_suggest_and_export_from_history(
    harness: Harness, vsuite: Path, suites_dir: Path
) -> None:
    for _ in range(3):
        run(harness, "vdemo/cpu")
    res = harness("quarantine", "suggest", "vdemo/cpu", "--json")
    assert res.code == 0, res.err
    got = res.json()
    assert [a["test_id"] for a in got["add"]] == ["tests.test_calc::test_sub"]
    assert got["add"][0]["failing_runs"] == 3
    assert "sub is off by one" in got["add"][0]["message"]
    # the suggested YAML, with a real link, is a valid quarantine file
    path = suites_dir / "quarantine" / "vdemo.yaml"
    path.parent.mkdir()
    snippet = got["yaml"].replace(
        "https://github.com/OWNER/REPO/issues/NUMBER", "https://github.com/example/vdemo/issues/1"
    )
    path.write_text(
        "quarantine:\n" + snippet + "  - backend: cpu\n"
        '    test: "tests.test_calc::test_st*"\n'
        "    reason: was flaky\n"
        "    link: https://github.com/example/vdemo/issues/2\n"
    )
    assert harness("quarantine", "lint").code == 0
    again = harness("quarantine", "suggest", "vdemo/cpu", "--passes", "3", "--json").json()
    assert again["add"] == []
    assert [r["matched"] for r in again["remove"]] == [["tests.test_calc::test_stable"]]

    deselect = harness("quarantine", "export", "vdemo/cpu", "--format", "pytest-deselect")
    assert deselect.code == 0, deselect.err
    assert deselect.out.splitlines() == [
        "--deselect=tests/test_calc.py::test_sub",
        "--deselect=tests/test_calc.py::test_st",
    ]
    # pytest ids hold ':', which a gtest filter cannot: nothing exported, each one said
    gtest = harness("quarantine", "export", "vdemo/cpu", "--format", "gtest-filter")
    assert gtest.code == 0
    assert gtest.out == ""
    assert gtest.err.count("gtest-filter cannot take it") == 2


def test_a_baseline_made_the_same_selection(harness: Harness, vsuite: Path) -> None:
    """Two default-branch runs at the merge base, one with other --test-args: the verdict
    compares with the one of the same selection; with none, it says which is missing
    (not "removed" tests and new failures from comparing two selections)."""
    narrowed = run(harness, "vdemo/cpu", "--test-args", "tests/test_calc.py -k add")
    full = run(harness, "vdemo/cpu")
    pr = run(harness, "vdemo/cpu", "--ref", "pr/3")
    data = verdict(harness, pr)
    assert data["baseline"]["run"]["id"] == full
    assert data["baseline"]["exact"] is True
    assert data["baseline"]["selection"] == {"subset": None, "args": "tests"}

    other = run(harness, "vdemo/cpu", "--ref", "pr/3", "--test-args", "tests -k calc")
    lacking = verdict(harness, other)
    assert lacking["baseline"]["run"] is None
    assert lacking["conclusion"] == "neutral"
    assert lacking["tests"]["removed"] == []
    note = lacking["baseline"]["note"]
    assert "no default-branch run of vdemo/cpu/host with args 'tests -k calc'" in note, note
    assert f"runs {full}, {narrowed} made another selection" in note, note
    assert lacking["baseline"]["missing_at"] == lacking["run"]["base_sha"]
    comment = harness("verdict", str(other), "--markdown").out
    assert "no default-branch run of vdemo/cpu/host with args &#x27;tests -k calc&#x27;" in comment
