"""harness_select on a real pytest run: only the listed harness test ids run, collection
is otherwise unchanged, and listed ids that were not collected are reported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.results import parse

PLUGINS = Path(__file__).resolve().parents[2] / "harness" / "pytest_plugins"

TESTS = """\
import pytest


class TestGroup:
    def test_in_class(self):
        pass


@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    assert n == 1


def test_other():
    pass
"""


def run_selected(tmp_path: Path, wanted: list[str], *, xdist: bool = False) -> tuple[str, dict]:
    (tmp_path / "tests").mkdir(exist_ok=True)
    (tmp_path / "tests" / "test_mod.py").write_text(TESTS)
    select = tmp_path / "select.txt"
    select.write_text("".join(f"{t}\n" for t in wanted))
    out = tmp_path / "out.xml"
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "-p", "harness_junit_stream", f"--harness-junit={out}", "tests"]  # fmt: skip
    if xdist:
        args += ["-n", "2"]
    env = {
        **os.environ,
        "PYTHONPATH": str(PLUGINS),
        "PYTEST_ADDOPTS": "-p harness_select",
        "HARNESS_SELECT_FILE": str(select),
    }
    proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    results = {r.test_id: r.outcome.value for r in parse(out, "junit")}
    return proc.stdout + proc.stderr, results


def test_only_the_listed_ids_run(tmp_path: Path) -> None:
    wanted = ["tests.test_mod.TestGroup::test_in_class", "tests.test_mod::test_param[2]"]
    output, results = run_selected(tmp_path, [*wanted, "tests.test_mod::test_gone"])
    assert results == {wanted[0]: "passed", wanted[1]: "failed"}
    assert "2 deselected" in output
    assert "harness_select: 1 listed test(s) not collected: tests.test_mod::test_gone" in output


def test_selection_holds_under_xdist(tmp_path: Path) -> None:
    _output, results = run_selected(tmp_path, ["tests.test_mod::test_other"], xdist=True)
    assert results == {"tests.test_mod::test_other": "passed"}
