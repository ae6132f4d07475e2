"""What a probe calls a commit from each test's attempts, and pytest node ids."""

from __future__ import annotations

import pytest

from harness.bisect.probe import judge, node_id
from harness.bisect.search import Verdict

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
