from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.matrix import Cell, expand_braces, matches, select

CELLS = [
    Cell("comfyui", "cpu"),
    Cell("comfyui", "npu", "cann8.5.0-910b-openeuler24.03-py3.11"),
    Cell("llama.cpp", "cpu"),
    Cell("llama.cpp", "npu", "cann8.5.0-310p-openeuler24.03-py3.11"),
    Cell("transformers", "cuda"),
]


def ids(cells: list[Cell]) -> list[str]:
    return [c.id for c in cells]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("comfyui", ["comfyui/cpu/host", "comfyui/npu/cann8.5.0-910b-openeuler24.03-py3.11"]),
        ("comfyui/cpu", ["comfyui/cpu/host"]),
        (
            "*/npu",
            [
                "comfyui/npu/cann8.5.0-910b-openeuler24.03-py3.11",
                "llama.cpp/npu/cann8.5.0-310p-openeuler24.03-py3.11",
            ],
        ),
        ("*/*/*310p*", ["llama.cpp/npu/cann8.5.0-310p-openeuler24.03-py3.11"]),
        ("{comfyui,transformers}/{cpu,cuda}", ["comfyui/cpu/host", "transformers/cuda/host"]),
        ("llama.cpp/[cn]pu/host", ["llama.cpp/cpu/host"]),
    ],
)
def test_select(pattern: str, expected: list[str]) -> None:
    assert ids(select(CELLS, [pattern])) == expected


def test_star_does_not_cross_segments() -> None:
    assert not matches("comfyui/cpu/host", "comfyui*host")
    assert matches("comfyui/cpu/host", "comfyui/*/host")


def test_no_pattern_selects_all_and_skip_removes() -> None:
    assert len(select(CELLS, [])) == len(CELLS)
    assert ids(select(CELLS, ["*"], skip=["*/npu", "transformers"])) == [
        "comfyui/cpu/host",
        "llama.cpp/cpu/host",
    ]


def test_multiple_patterns_keep_order_without_duplicates() -> None:
    assert ids(select(CELLS, ["transformers", "*/cuda", "comfyui/cpu"])) == [
        "transformers/cuda/host",
        "comfyui/cpu/host",
    ]


def test_pattern_matching_nothing_is_a_config_error_listing_cells() -> None:
    with pytest.raises(ConfigError) as info:
        select(CELLS, ["comfyiu"])
    assert "matches no cell" in str(info.value)
    assert info.value.hint
    assert "comfyui/cpu/host" in info.value.hint


def test_brace_expansion() -> None:
    assert expand_braces("a/{b,c{d,e}}/x") == ["a/b/x", "a/cd/x", "a/ce/x"]
    assert expand_braces("no{brace") == ["no{brace"]
    assert expand_braces("{single}") == ["{single}"]


def test_cell_parse_roundtrip() -> None:
    cell = Cell.parse("llama.cpp/npu/cann8.5.0-910b-openeuler24.03-py3.11")
    assert cell.id == "llama.cpp/npu/cann8.5.0-910b-openeuler24.03-py3.11"
    assert "/" not in cell.slug
    with pytest.raises(ConfigError):
        Cell.parse("comfyui/cpu")
