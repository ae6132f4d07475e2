"""A real ``pytest -n 2`` run: each worker must see a distinct device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "harness" / "pytest_plugins"

PROBE = """\
import json, os, pytest

@pytest.mark.parametrize("i", range(8))
def test_record(i, tmp_path_factory):
    worker = os.environ["PYTEST_XDIST_WORKER"]
    out = os.path.join(os.environ["PROBE_OUT"], f"{worker}-{i}.json")
    with open(out, "w") as f:
        json.dump({"worker": worker,
                   "device": os.environ.get("HARNESS_DEVICE_INDEX"),
                   "visible": os.environ.get(os.environ["PROBE_VAR"]),
                   "affinity": sorted(os.sched_getaffinity(0))}, f)
"""


def run_probe(  # type: ignore[type-arg]
    tmp_path: Path, backend: str, devices: str, var: str, **extra: str
) -> list[dict]:
    (tmp_path / "test_probe.py").write_text(PROBE)
    out = tmp_path / "out"
    out.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(PLUGINS),
        "HARNESS_SHARD_BACKEND": backend,
        "HARNESS_SHARD_DEVICES": devices,
        "PROBE_OUT": str(out),
        "PROBE_VAR": var,
        **extra,
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-n",
            "2",
            "-p",
            "harness_device_shard",
            "-p",
            "no:cacheprovider",
            str(tmp_path / "test_probe.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [json.loads(p.read_text()) for p in sorted(out.iterdir())]


def test_npu_workers_get_distinct_devices(tmp_path: Path) -> None:
    records = run_probe(tmp_path, "npu", "0,1", "ASCEND_RT_VISIBLE_DEVICES")
    by_worker = {r["worker"]: (r["device"], r["visible"]) for r in records}
    assert set(by_worker) == {"gw0", "gw1"}
    assert by_worker["gw0"] == ("0", "0")
    assert by_worker["gw1"] == ("1", "1")
    # every test of a worker saw the same device
    for r in records:
        assert (r["device"], r["visible"]) == by_worker[r["worker"]]


def test_cuda_uses_cuda_visible_devices(tmp_path: Path) -> None:
    records = run_probe(tmp_path, "cuda", "2,3", "CUDA_VISIBLE_DEVICES")
    assert {r["visible"] for r in records} == {"2", "3"}


def test_plugin_backend_pins_with_the_variable_it_names(tmp_path: Path) -> None:
    records = run_probe(
        tmp_path,
        "xacc",
        "0,1",
        "XACC_VISIBLE_DEVICES",
        HARNESS_SHARD_VISIBLE_ENV="XACC_VISIBLE_DEVICES",
    )
    assert {r["worker"]: r["visible"] for r in records} == {"gw0": "0", "gw1": "1"}


def test_more_workers_than_devices_wrap_around(tmp_path: Path) -> None:
    records = run_probe(tmp_path, "npu", "3", "ASCEND_RT_VISIBLE_DEVICES")
    assert {r["visible"] for r in records} == {"3"}  # worker i -> device i mod 1


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPU cores")
def test_cpu_workers_get_disjoint_core_sets(tmp_path: Path) -> None:
    cores = sorted(os.sched_getaffinity(0))[:2]
    records = run_probe(tmp_path, "cpu", ",".join(map(str, cores)), "HARNESS_CPUSET")
    sets = {r["worker"]: tuple(r["affinity"]) for r in records}
    assert sets["gw0"] != sets["gw1"]
    assert not set(sets["gw0"]) & set(sets["gw1"])


def test_without_xdist_nothing_is_pinned(tmp_path: Path) -> None:
    (tmp_path / "test_one.py").write_text(
        "import os\ndef test_x():\n    assert 'HARNESS_DEVICE_INDEX' not in os.environ\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(PLUGINS),
        "HARNESS_SHARD_BACKEND": "npu",
        "HARNESS_SHARD_DEVICES": "0,1",
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "harness_device_shard",
            "-p",
            "no:cacheprovider",
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout
