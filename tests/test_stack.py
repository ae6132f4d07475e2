"""Declared stack dimensions: pins, version lists (wheel folder, real HTTP index), diff."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.config.suite import Suite
from harness.errors import ConfigError
from harness.images.matrix import load_matrix
from harness.matrix import Cell
from harness.stack import (
    check_pins,
    index_versions,
    parse_pins,
    pin_environment,
    pinned_cell,
    run_pins,
    stack_diff,
    variant_line,
    versions_between,
    wheel_versions,
)
from tests.simple_index import Release, build_wheel, serve_index


def suite(stack: dict[str, Any]) -> Suite:
    return Suite.model_validate(
        {
            "name": "s",
            "upstream": {"repo": "o/s"},
            "stack": stack,
            "backends": {
                "cpu": {
                    "test": [
                        {
                            "name": "t",
                            "run": "true",
                            "results": [{"path": "r.xml", "format": "junit"}],
                        }
                    ]
                }
            },
        }
    )


TORCH = {
    "torch": {"variable": "HARNESS_TORCH_PACKAGES", "spec": "torch=={version} torchvision"},
    "torch_npu": {"variable": "HARNESS_TORCH_NPU_PACKAGES", "package": "torch-npu"},
    "cann": {"variable": "HARNESS_CANN_PACKAGES", "fingerprint": "sdk", "spec": "{version}"},
}


def test_pins_become_the_declared_variables() -> None:
    s = suite(TORCH)
    env = pin_environment(s, parse_pins(["torch=2.9.1", "torch_npu=2.9.1.post1"]))
    assert env == {
        "HARNESS_TORCH_PACKAGES": "torch==2.9.1 torchvision",
        "HARNESS_TORCH_NPU_PACKAGES": "torch-npu==2.9.1.post1",
    }
    with pytest.raises(ConfigError, match="declares no stack component 'jax'"):
        pin_environment(s, {"jax": "0.4"})
    with pytest.raises(ConfigError, match="NAME=VERSION"):
        parse_pins(["torch"])


def test_a_declaration_is_checked() -> None:
    with pytest.raises(ValueError, match="exactly one of wheels, index, images"):
        suite({"torch": {"variable": "X", "versions": {"wheels": "/w", "index": "http://i"}}})
    with pytest.raises(ValueError, match=r"spec must contain \{version\}"):
        suite({"torch": {"variable": "X", "spec": "torch"}})
    assert suite({}).stack == {}  # undeclared: today's recipes, unchanged


def test_diff_reads_packages_the_sdk_and_pins() -> None:
    s = suite(TORCH)
    good = {
        "python": {"packages": {"torch": "2.9.0", "torch_npu": "2.9.0"}},
        "backend": {"name": "npu", "cann": "8.2.RC1"},
    }
    bad = {
        "python": {"packages": {"torch": "2.9.0", "torch-npu": "2.9.1"}},
        "backend": {"name": "npu", "cann": "8.3.RC1"},
        "stack": {"torch": "2.10.0.dev20251201"},  # a pin wins over what was read
    }
    assert [c.as_json() for c in stack_diff(s, good, bad)] == [
        {"component": "torch", "good": "2.9.0", "bad": "2.10.0.dev20251201"},
        {"component": "torch_npu", "good": "2.9.0", "bad": "2.9.1"},
        {"component": "cann", "good": "CANN 8.2.RC1", "bad": "CANN 8.3.RC1"},
    ]


def test_versions_from_a_wheel_folder_and_an_index(tmp_path: Path) -> None:
    for v in ("1.10", "1.2", "1.0", "2.0.dev1"):
        build_wheel(tmp_path, "fakelib", v)
    build_wheel(tmp_path, "other", "9.0")
    assert wheel_versions(tmp_path, "fakelib") == ["1.0", "1.2", "1.10", "2.0.dev1"]
    releases = [Release(w, "2025-01-01T00:00:00Z") for w in sorted(tmp_path.glob("fakelib-*.whl"))]
    with serve_index({"fakelib": releases}) as index:
        assert index_versions(index.url, "fakelib") == ["1.0", "1.2", "1.10", "2.0.dev1"]


def test_versions_between_good_and_bad() -> None:
    listed = ["1.0", "1.1", "1.2", "1.3"]
    assert versions_between(listed, "1.0", "1.3") == ["1.1", "1.2", "1.3"]
    assert versions_between(listed, "1.3", "1.1") == ["1.2", "1.1"]  # a downgrade
    assert versions_between(listed, "0.9", "1.3") == ["1.3"]  # good not listed


IMAGE = {**TORCH, "image": {"versions": {"images": True}}}
ROOT = Path(__file__).resolve().parents[1]


def test_the_image_component_is_the_cells_variant() -> None:
    s = suite(IMAGE)
    assert s.image_component == "image"
    v1, v2 = "cann8.3.rc2-910b-openeuler24.03-py3.11", "cann8.5.0-910b-openeuler24.03-py3.11"
    good = {"image": {"variant": v1, "digest": "sha256:1"}}
    bad = {"image": {"variant": v2, "digest": "sha256:2"}}
    assert [c.as_json() for c in stack_diff(s, good, bad)] == [
        {"component": "image", "good": v1, "bad": v2}
    ]
    assert stack_diff(s, {}, {}) == []  # a host run records no image
    # a probe pinning it runs the cell of that variant, with the other pins only
    cell = Cell("s", "npu", v2)
    pins = {"image": v1, "torch": "2.9.0"}
    assert pinned_cell(cell, s, pins) == Cell("s", "npu", v1)
    assert pinned_cell(cell, s, {"torch": "2.9.0"}) == cell
    assert run_pins(s, pins) == {"torch": "2.9.0"}
    assert pin_environment(s, run_pins(s, pins)) == {
        "HARNESS_TORCH_PACKAGES": "torch==2.9.0 torchvision"
    }
    # a run is never pinned to an image: its cell id names the variant
    check_pins(s, pins)
    with pytest.raises(ConfigError, match="the image component is the cell's image variant"):
        check_pins(s, pins, run=True)
    with pytest.raises(ConfigError, match="the image component is the cell's image variant"):
        pin_environment(s, pins)


def test_an_image_component_is_declared_once_and_without_a_variable() -> None:
    with pytest.raises(ValueError, match="the image component takes no variable"):
        suite({"image": {"variable": "X", "versions": {"images": True}}})
    with pytest.raises(ValueError, match="variable is required"):
        suite({"torch": {"versions": {"wheels": "/w"}}})
    with pytest.raises(ValueError, match="declare one image component"):
        suite({"a": {"versions": {"images": True}}, "b": {"versions": {"images": True}}})


def test_the_variants_searched_differ_in_one_parameter_in_the_matrix_order() -> None:
    matrix = load_matrix(ROOT / "images")
    line = variant_line(
        matrix, "cann8.3.rc2-910b-openeuler24.03-py3.11", "cann9.0.1-910b-openeuler24.03-py3.11"
    )
    assert line == [
        "cann8.3.rc2-910b-openeuler24.03-py3.11",
        "cann8.5.0-910b-openeuler24.03-py3.11",
        "cann9.0.1-910b-openeuler24.03-py3.11",
    ]
    assert versions_between(line, line[0], line[-1]) == line[1:]
    # along python: the values listed for it, in order, where the matrix has them
    assert variant_line(
        matrix, "cann8.5.0-910b-openeuler24.03-py3.10", "cann8.5.0-910b-openeuler24.03-py3.12"
    ) == [f"cann8.5.0-910b-openeuler24.03-py3.{m}" for m in (10, 11, 12)]
    # two parameters changed: no single line joins them, only the ends
    two = ["cann8.3.rc2-910b-openeuler24.03-py3.10", "cann9.0.1-910b-openeuler24.03-py3.12"]
    assert variant_line(matrix, *two) == two
    assert versions_between(two, *two) == [two[1]]
    # another family, an unknown variant, no matrix: the ends
    assert variant_line(matrix, "debian12-py3.11", two[1]) == ["debian12-py3.11", two[1]]
    assert variant_line(matrix, "nope", two[1]) == ["nope", two[1]]
    assert variant_line(None, two[0], two[1]) == two
