"""``harness doctor``: backends present and usable here, and why not (real subprocesses)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import Result
from tests.fake_devices import (
    install_npu_smi,
    install_nvidia_smi,
    make_cann_root,
    make_torch_npu_site,
)

Harness = Callable[..., Result]


def _by_name(report: dict) -> dict:  # type: ignore[type-arg]
    return {b["name"]: b for b in report["backends"]}


def test_this_machine_cpu_usable_npu_and_cuda_absent_with_reasons(
    harness: Harness, host_bin: Path
) -> None:
    res = harness("doctor", "--json", env={"PATH": str(host_bin)})
    assert res.code == 0, res.err
    report = res.json()
    b = _by_name(report)
    assert b["cpu"]["usable"]
    assert b["cpu"]["devices"]
    assert (b["npu"]["present"], b["npu"]["usable"]) == (False, False)
    assert b["npu"]["reason"] == "npu-smi not found on PATH"
    assert "driver" in b["npu"]["hint"]
    assert b["cuda"]["reason"] == "nvidia-smi not found on PATH"
    assert report["auto"] == "cpu"
    assert report["host"]["git"]["ok"]
    assert "ok" in report["host"]["docker"]  # answered or not, it says which

    text = harness("doctor", "--no-host", env={"PATH": str(host_bin), "COLUMNS": "200"})
    assert text.code == 0
    assert "npu: npu-smi not found on PATH" in text.out
    assert "what to do:" in text.out
    assert "--backend auto would choose: cpu" in text.out


def test_require_exits_3_when_the_backend_is_not_usable(harness: Harness, host_bin: Path) -> None:
    res = harness("doctor", "--require", "npu", "--no-host", env={"PATH": str(host_bin)})
    assert res.code == 3
    assert "required backend(s) not usable: npu" in res.err
    ok = harness("doctor", "--require", "cpu", "--no-host", "--json", env={"PATH": str(host_bin)})
    assert ok.code == 0
    assert [b["name"] for b in ok.json()["backends"]] == ["cpu"]


def test_unknown_backend_is_a_config_error(harness: Harness) -> None:
    res = harness("doctor", "--backend", "nup")
    assert res.code == 2
    assert "unknown backend 'nup'" in res.err
    assert "did you mean 'npu'" in res.err


def test_npu_host_usable_with_container_options_and_torch_npu_warning(
    harness: Harness, host_bin: Path, tmp_path: Path
) -> None:
    tools = tmp_path / "tools"
    install_npu_smi(tools, "npu-smi-910b3-x2-container.txt")
    install_nvidia_smi(tools)
    home = make_cann_root(tmp_path / "Ascend", layout="8.5", version="8.5.0", driver="25.2.0")
    site = make_torch_npu_site(tmp_path / "site")
    env = {
        "PATH": f"{tools}:{host_bin}",
        "HARNESS_ASCEND_ROOT": str(tmp_path / "Ascend"),
        "ASCEND_TOOLKIT_HOME": str(home),
        "PYTHONPATH": str(site),
    }
    res = harness("doctor", "--json", "--no-host", "--python", sys.executable, env=env)
    assert res.code == 0, res.err
    report = res.json()
    npu = _by_name(report)["npu"]
    assert npu["usable"]
    assert report["auto"] == "npu"
    assert [(d["index"], d["host_id"], d["model"]) for d in npu["devices"]] == [
        (0, "6", "910B3"),
        (1, "7", "910B3"),
    ]
    assert (npu["details"]["cann"], npu["details"]["driver"]) == ("8.5.0", "25.2.0")
    assert npu["environment"]["ASCEND_RT_VISIBLE_DEVICES"] == "0,1"
    assert npu["environment"]["TRANSFORMERS_TEST_BACKEND"] == "torch_npu"
    assert npu["container_options"]["devices"][:2] == ["/dev/davinci6", "/dev/davinci7"]
    assert any("libhccl.so" in w for w in npu["warnings"])
    assert _by_name(report)["cuda"]["usable"]

    text = harness("doctor", "--no-host", "--python", sys.executable, env=env)
    assert "torch_npu import failed: ImportError: libhccl.so" in text.out
    assert "set_env.sh" in text.out
    assert "--backend auto would choose: npu" in text.out
