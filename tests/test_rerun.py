"""Which steps can be re-run (the selection itself: tests/executors/test_selection.py)."""

from __future__ import annotations

from harness.config.suite import Step
from harness.rerun import rerun_format


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
