"""Reproduce commands select the test the way the test step takes it, in its workdir."""

from __future__ import annotations

import pytest

from harness.verdict.testids import from_workdir, reproduce_command


@pytest.mark.parametrize(
    ("node", "workdir", "expected"),
    [
        # DeepSpeed: rootdir tests/ (tests/pytest.ini), the step in tests/unit
        ("unit/runtime/test_x.py::test_a", "tests/unit", "runtime/test_x.py::test_a"),
        # rootdir = the source root
        ("tests/unit/runtime/test_x.py::test_a", "tests/unit", "runtime/test_x.py::test_a"),
        # rootdir = the workdir, or a step in the source root
        ("runtime/test_x.py::test_a", "tests/unit", "runtime/test_x.py::test_a"),
        ("tests/test_basic.py::test_fail", ".", "tests/test_basic.py::test_fail"),
        ("tests/test_basic.py::test_fail", "./", "tests/test_basic.py::test_fail"),
        # a name that only starts like the workdir's last part is not a directory of it
        ("unitary/test_x.py::t", "tests/unit", "unitary/test_x.py::t"),
    ],
)
def test_node_ids_are_made_relative_to_the_workdir(node: str, workdir: str, expected: str) -> None:
    assert from_workdir(node, workdir) == expected


def test_reproduce_command_carries_the_workdir_relative_path() -> None:
    cmd = reproduce_command(
        "deepspeed/cpu/host",
        "edaa7221",
        "unit.runtime.test_ds_config_model::test_only_required_fields",
        "junit",
        "tests/unit",
    )
    assert cmd == (
        "harness run deepspeed/cpu/host --ref edaa7221 "
        "--test-args runtime/test_ds_config_model.py::test_only_required_fields"
    )
    # other formats select by name, not path: the workdir changes nothing
    gtest = reproduce_command("opencv/cpu/host", None, "Core.Add", "gtest-xml", "build")
    assert gtest == "harness run opencv/cpu/host --test-args --gtest_filter=Core.Add"
