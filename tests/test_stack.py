"""Declared stack dimensions: pins, version lists (wheel folder, real HTTP index), diff."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.config.suite import Suite
from harness.errors import ConfigError
from harness.stack import (
    index_versions,
    parse_pins,
    pin_environment,
    stack_diff,
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
