"""Cells per executor: host cells run locally, image cells in containers."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.suite import Suite
from harness.errors import ConfigError
from harness.images.matrix import load_matrix
from harness.matrix import Cell
from harness.planner import all_cells, for_executor

ROOT = Path(__file__).resolve().parents[1]


def suite(
    npu_image: dict[str, object] | None = None, cpu_image: dict[str, object] | None = None
) -> Suite:
    def recipe(image: dict[str, object] | None) -> dict[str, object]:
        steps = [{"name": "t", "run": "true", "results": [{"path": "x"}]}]
        return {"test": steps, **({"image": image} if image is not None else {})}

    return Suite.model_validate(
        {
            "name": "s",
            "upstream": {"repo": "o/s"},
            "backends": {"cpu": recipe(cpu_image), "npu": recipe(npu_image)},
        }
    )


def test_defaults_and_named_variants() -> None:
    matrix = load_matrix(ROOT / "images")
    cells = [c.id for c in all_cells({"s": suite()}, matrix)]
    assert cells == [
        "s/cpu/debian12-py3.11",
        "s/cpu/host",
        "s/npu/cann8.5.0-910b-openeuler24.03-py3.11",
        "s/npu/host",
    ]
    named = all_cells({"s": suite({"variants": ["cann9.0.1-a3-*py3.12"]})}, matrix)
    assert "s/npu/cann9.0.1-a3-openeuler24.03-py3.12" in [c.id for c in named]
    with pytest.raises(ConfigError, match="match no variant of cpu"):
        all_cells({"s": suite(cpu_image={"variants": ["cann*"]})}, matrix)
    assert [c.id for c in all_cells({"s": suite()}, None)] == ["s/cpu/host", "s/npu/host"]


def test_each_executor_runs_its_kind_of_cell() -> None:
    cells = [Cell("s", "cpu", "host"), Cell("s", "cpu", "debian12-py3.11")]
    assert for_executor(cells, "local") == [cells[0]]
    assert for_executor(cells, "docker") == [cells[1]]
    with pytest.raises(ConfigError, match="do not run with --executor docker"):
        for_executor(cells[:1], "docker")
    with pytest.raises(ConfigError, match="use --executor docker"):
        for_executor(cells[1:], "local")
