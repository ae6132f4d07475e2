"""Which steps can be re-run and the environment that narrows them to failed tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.suite import Step
from harness.rerun import rerun_format, selection_env


def step(*formats: str) -> Step:
    return Step.model_validate(
        {
            "name": "unit",
            "run": "true",
            "results": [{"path": f"r{i}.xml", "format": f} for i, f in enumerate(formats)],
        }
    )


def test_rerunnable_formats() -> None:
    assert rerun_format(step("junit")) == "junit"
    assert rerun_format(step("gtest-xml", "gtest-xml")) == "gtest-xml"
    assert rerun_format(step("ctest-junit")) is None
    assert rerun_format(step("test-backend-ops")) is None
    assert rerun_format(step("junit", "gtest-xml")) is None  # which selection? neither


def test_pytest_selection_keeps_the_recipes_addopts(tmp_path: Path) -> None:
    env = selection_env("junit", ["a::b", "c::d[1]"], tmp_path / "s" / "select.txt", "-x")
    assert env["PYTEST_ADDOPTS"] == "-x -p harness_select"
    assert Path(env["HARNESS_SELECT_FILE"]).read_text() == "a::b\nc::d[1]\n"


def test_gtest_selection_is_a_filter(tmp_path: Path) -> None:
    env = selection_env("gtest-xml", ["Suite.A", "P/Suite.B/0"], tmp_path / "x", None)
    assert env == {"GTEST_FILTER": "Suite.A:P/Suite.B/0"}
    with pytest.raises(ValueError, match="cannot be re-run"):
        selection_env("ctest-junit", ["t"], tmp_path / "x", None)
