"""Stack summaries and drift between fingerprints (as written by any harness version)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from harness.fingerprint import STACK_KEYS, EnvChange, drift, stack_summary


def npu_fp(**over: Any) -> dict[str, Any]:
    fp: dict[str, Any] = {
        "harness": "0.1.0",
        "os": {"pretty_name": "openEuler 24.03 (LTS-SP1)"},
        "backend": {
            "name": "npu",
            "models": ["910B3"],
            "count": 8,
            "driver": "25.2.0",
            "cann": "8.5.0",
        },
        "python": {
            "version": "3.11.12",
            "packages": {"torch": "2.8.0", "torch_npu": "2.8.0.post2", "pytest": "8.4.2"},
        },
        "image": {"digest": "sha256:1111"},
    }
    fp.update(over)
    return fp


def test_stack_summary_of_an_npu_run() -> None:
    s = stack_summary(npu_fp())
    assert s == {
        "backend": "npu",
        "device_model": "910B3",
        "device_count": "8",
        "driver": "25.2.0",
        "sdk": "CANN 8.5.0",
        "torch": "2.8.0",
        "device_plugin": "torch-npu 2.8.0.post2",
        "python": "3.11.12",
        "image": "sha256:1111",
        "os": "openEuler 24.03 (LTS-SP1)",
        "harness": "0.1.0",
    }


def test_old_fingerprints_with_a_backend_name_only() -> None:
    s = stack_summary({"backend": "cpu", "harness": "0.0.9"})
    assert s["backend"] == "cpu"
    assert s["sdk"] is None


def test_drift_names_each_changed_component_in_order() -> None:
    before = npu_fp()
    after = npu_fp(image={"digest": "sha256:2222"})
    after["backend"] = {**before["backend"], "cann": "8.3.RC2"}
    after["python"] = {
        "version": "3.11.12",
        "packages": {"torch": "2.8.0", "torch-npu": "2.8.0.post3"},
    }
    changes = drift(before, after)
    assert [c.key for c in changes] == ["sdk", "device_plugin", "image"]
    assert str(changes[0]) == "sdk CANN 8.5.0 → CANN 8.3.RC2"
    assert changes[1] == EnvChange(
        "device_plugin", "torch-npu 2.8.0.post2", "torch-npu 2.8.0.post3"
    )


def test_packages_that_do_not_shape_the_stack_are_not_drift() -> None:
    after = npu_fp()
    after["python"] = {**after["python"], "packages": {**after["python"]["packages"], "rich": "14"}}
    assert drift(npu_fp(), after) == []


versions = st.one_of(st.none(), st.text(min_size=1, max_size=8))


@given(a=st.dictionaries(st.sampled_from(["cann", "driver", "count"]), versions), b=versions)
def test_drift_is_empty_for_itself_and_symmetric(a: dict[str, Any], b: str | None) -> None:
    fp1 = {"backend": {"name": "npu", **a}}
    fp2 = {"backend": {"name": "npu", **a, "driver": b}}
    assert drift(fp1, fp1) == []
    forward = {(c.key, c.before, c.after) for c in drift(fp1, fp2)}
    backward = {(c.key, c.after, c.before) for c in drift(fp2, fp1)}
    assert forward == backward
    assert all(c.key in STACK_KEYS for c in drift(fp1, fp2))
