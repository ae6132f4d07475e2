"""A vendor backend installed as its own package is picked up through the
``harness.backends`` entry point, with no change to the harness (real pip install)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Result
from tests.cli.test_run_backend import accel_suite, read_env
from tests.fake_devices import install_tool
from tests.gitrepos import UpstreamRepo

Harness = Callable[..., Result]
XACC_LIST = "driver 3.2.1 sdk 7.0\n0 XAcc-100 ok 65536\n1 XAcc-100 ok 65536\n"


@pytest.fixture
def xacc_env(plugin_site: Path, host_bin: Path, tmp_path: Path) -> dict[str, str]:
    listing = tmp_path / "xacc-list.txt"
    listing.write_text(XACC_LIST)
    tools = tmp_path / "tools"
    install_tool(tools, "xacc-smi", {"--list": listing})
    return {"PYTHONPATH": str(plugin_site), "PATH": f"{tools}:{host_bin}"}


def test_doctor_lists_the_plugin_and_its_origin(harness: Harness, xacc_env: dict[str, str]) -> None:
    res = harness("doctor", "--json", "--no-host", env=xacc_env)
    assert res.code == 0, res.err
    report = res.json()
    xacc = next(b for b in report["backends"] if b["name"] == "xacc")
    assert xacc["origin"] == "harness-backend-example 0.1.0"
    assert xacc["usable"]
    assert len(xacc["devices"]) == 2
    assert xacc["environment"]["XACC_VISIBLE_DEVICES"] == "0,1"
    assert xacc["container_options"]["devices"] == ["/dev/xacc0", "/dev/xacc1", "/dev/xacc_ctl"]
    assert report["auto"] == "xacc"  # priority 25 beats cpu; npu and cuda are absent here


def test_without_the_package_the_backend_is_unknown(harness: Harness, host_bin: Path) -> None:
    res = harness("doctor", "--backend", "xacc", env={"PATH": str(host_bin)})
    assert res.code == 2
    assert "unknown backend 'xacc'" in res.err
    assert "harness.backends" in res.err  # the hint says how vendor backends are installed


def test_cells_run_on_the_plugin_backend(
    harness: Harness,
    xacc_env: dict[str, str],
    suites_dir: Path,
    upstream: UpstreamRepo,
    wheels: Path,
    tmp_path: Path,
) -> None:
    (suites_dir / "accel.yaml").write_text(accel_suite(upstream.url, wheels, ("cpu", "xacc")))
    res = harness("run", "accel", "--backend", "auto", "--devices", "1", "--json", env=xacc_env)
    assert res.code == 0, res.err
    assert [r["cell"] for r in res.json()["runs"]] == ["accel/xacc/host"]
    (out,) = (tmp_path / "reports" / "out").glob("*/results/accel__xacc__host/test-00-*")
    assert (out / "vars.txt").read_text().strip() == "device=xacc devices=1 count=1"
    step_env = read_env(out / "env.txt")
    assert step_env["XACC_VISIBLE_DEVICES"] == "1"
    assert step_env["TRANSFORMERS_TEST_DEVICE"] == "xacc"
    assert step_env["HARNESS_SHARD_VISIBLE_ENV"] == "XACC_VISIBLE_DEVICES"
    stack = harness("runs", "env", "1", "--json", env=xacc_env).json()["stack"]
    assert (stack["backend"], stack["sdk"], stack["driver"]) == ("xacc", "XAcc SDK 7.0", "3.2.1")
