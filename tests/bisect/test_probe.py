"""What a probe calls a commit from each test's attempts, pytest node ids, and which
cell a probe pinning the image runs."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from harness.backends.target import BackendDetector
from harness.bisect.probe import Prober, judge, node_id, selection
from harness.bisect.search import Verdict
from harness.config.suite import Suite
from harness.errors import ConfigError
from harness.executors.base import Executor
from harness.executors.docker import DockerExecutor
from harness.executors.registry import make_executor
from harness.matrix import Cell
from harness.reporting.console import ConsoleDisplay
from harness.runner import RunOptions
from harness.store import Store

T, U = "tests.test_a::test_x", "tests.test_a::test_y"


@pytest.mark.parametrize(
    ("outcomes", "verdict"),
    [
        ({T: ["passed"], U: ["passed"]}, Verdict.GOOD),
        ({T: ["failed", "failed", "failed"], U: ["passed"]}, Verdict.BAD),
        ({T: ["error"], U: ["passed"]}, Verdict.BAD),
        ({T: ["failed", "passed"], U: ["failed", "failed", "failed"]}, Verdict.FLAKY),
        ({T: ["passed"]}, Verdict.SKIP),  # U not reported: not collected
        ({T: ["skipped"], U: ["passed"]}, Verdict.SKIP),
    ],
)
def test_judge(outcomes: dict[str, list[str]], verdict: Verdict) -> None:
    assert judge(outcomes, [T, U])[0] is verdict


@pytest.mark.parametrize(
    ("test_id", "node"),
    [
        ("tests.test_a::test_x", "tests/test_a.py::test_x"),
        ("tests.unit.test_a.TestThing::test_x[1]", "tests/unit/test_a.py::TestThing::test_x[1]"),
        ("test_top::test_x", "test_top.py::test_x"),
        ("tests/test_a.py::test_x", "tests/test_a.py::test_x"),
        ("plain_name", "plain_name"),
    ],
)
def test_node_id(test_id: str, node: str) -> None:
    assert node_id(test_id) == node


def suite_of(fmt: str, stack: dict[str, Any] | None = None) -> Suite:
    return Suite.model_validate(
        {
            "name": "s",
            "upstream": {"repo": "o/s"},
            "stack": stack or {},
            "backends": {
                "cpu": {
                    "test": [
                        {"name": "t", "run": "true", "results": [{"path": "r", "format": fmt}]}
                    ]
                }
            },
        }
    )


def test_a_probe_of_another_image_variant_needs_an_executor_of_image_cells(
    tmp_path: Path,
) -> None:
    suite = suite_of("junit", stack={"image": {"versions": {"images": True}}})
    cell = Cell("s", "cpu", "debian12-py3.11")

    def prober(executor: Executor) -> Prober:
        return Prober(
            cell=cell, suite=suite, tests=[T], target=BackendDetector().target("cpu", None),
            store=Store.open(f"sqlite:///{tmp_path / 'h.db'}"), executor=executor,
            options=RunOptions(), job_id="j", out_dir=tmp_path,
            display=ConsoleDisplay(Console(stderr=True)),
        )  # fmt: skip

    local = prober(make_executor("local", tmp_path))
    assert local.cell_for({"image": "debian12-py3.11"}) == cell  # its own variant: fine
    with pytest.raises(ConfigError, match="the local executor runs host cells only"):
        local.cell_for({"image": "debian12-py3.12"})
    docker = prober(DockerExecutor(tmp_path))
    assert docker.cell_for({"image": "debian12-py3.12"}) == Cell("s", "cpu", "debian12-py3.12")
    assert docker.cell_for(None) == cell


def test_a_probe_selects_its_tests_by_name_in_the_results_language() -> None:
    # pytest: node ids, each one shell word whatever it holds ({args} goes into the
    # step's shell command as it is)
    hostile = "tests.test_a::test_x[$(touch /tmp/pwned) a b]"
    args = selection(suite_of("junit"), "cpu", [T, hostile])
    assert shlex.split(args) == [
        "tests/test_a.py::test_x",
        "tests/test_a.py::test_x[$(touch /tmp/pwned) a b]",
    ]
    # googletest (and OpenCV's): one filter
    args = selection(suite_of("opencv-ts"), "cpu", ["Core_Mat.basic", "P/Arithm.add/0"])
    assert shlex.split(args) == ["--gtest_filter=Core_Mat.basic:P/Arithm.add/0"]
    with pytest.raises(ConfigError, match=r"ctest-junit results\) are not selected by name"):
        selection(suite_of("ctest-junit"), "cpu", ["t"])
