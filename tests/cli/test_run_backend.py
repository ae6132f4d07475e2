"""``harness run --backend/--devices``: the backend's environment reaches the steps, an
unusable backend is an error run with the reason, and every run carries its fingerprint."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Result
from tests.fake_devices import install_npu_smi, make_cann_root
from tests.gitrepos import UpstreamRepo

Harness = Callable[..., Result]

#: A test step that records what the backend gave it, then runs the fixture's tests.
PROBE_STEP = """\
            - name: unit
              run: |
                cd {results_dir}
                echo "device={device} devices={devices} count={device_count}" > vars.txt
                env | sort > env.txt
                cd {source_dir}
                python -m pytest -q --junitxml={results_dir}/unit.xml {args}
              timeout: 2m
              results:
                - path: unit.xml
                  format: junit
"""


def accel_suite(url: str, wheels: Path, backends: tuple[str, ...]) -> str:
    recipes = "".join(
        f"""\
          {name}:
            setup:
              - name: deps
                run: python -m pip install -q -r requirements.txt
                timeout: 5m
            test:
{PROBE_STEP}"""
        for name in backends
    )
    head = textwrap.dedent(
        f"""\
        name: accel
        upstream:
          repo: example/demo
          url: {url}
          default_branch: main
        dependency_files: [requirements.txt]
        env:
          PIP_NO_INDEX: "1"
          PIP_FIND_LINKS: {wheels}
        env_pinned: [PIP_NO_INDEX, PIP_FIND_LINKS]
        default_args: tests/test_basic.py -k "pass or param"
        backends:
        """
    )
    return head + recipes


@pytest.fixture
def accel(suites_dir: Path, upstream: UpstreamRepo, wheels: Path) -> Path:
    path = suites_dir / "accel.yaml"
    path.write_text(accel_suite(upstream.url, wheels, ("cpu", "npu")))
    return path


def npu_host(tmp_path: Path, host_bin: Path, *, cann: str = "8.3.RC2") -> dict[str, str]:
    tools = tmp_path / "tools"
    if not (tools / "npu-smi").exists():
        install_npu_smi(tools, "npu-smi-910b-x8.txt")
    root = tmp_path / f"Ascend-{cann}"
    make_cann_root(root, layout="8.3", version=cann)
    return {"PATH": f"{tools}:{host_bin}", "HARNESS_ASCEND_ROOT": str(root)}


def results_of(tmp_path: Path, cell_slug: str) -> Path:
    (found,) = (tmp_path / "reports" / "out").glob(f"*/results/{cell_slug}/test-00-*")
    return found


def read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_auto_runs_on_the_npu_with_its_environment_and_fingerprint(
    harness: Harness, accel: Path, host_bin: Path, tmp_path: Path
) -> None:
    env = npu_host(tmp_path, host_bin)
    res = harness("run", "accel", "--backend", "auto", "--devices", "2,5", "--json", env=env)
    assert res.code == 0, res.err
    (run,) = res.json()["runs"]
    assert run["cell"] == "accel/npu/host"
    assert run["counts"]["passed"] == 4
    assert "--backend auto: accel runs on npu; not cpu" in res.err
    assert "backend npu: 2 x 910B, CANN 8.3.RC2, driver 24.1.0" in res.err

    out = results_of(tmp_path, "accel__npu__host")
    assert (out / "vars.txt").read_text().strip() == "device=npu devices=2,5 count=2"
    step_env = read_env(out / "env.txt")
    assert step_env["ASCEND_RT_VISIBLE_DEVICES"] == "2,5"
    assert step_env["TRANSFORMERS_TEST_DEVICE"] == "npu"
    assert step_env["TRANSFORMERS_TEST_BACKEND"] == "torch_npu"
    assert step_env["DS_ACCELERATOR"] == "npu"
    assert step_env["HARNESS_SHARD_DEVICES"] == "2,5"
    assert step_env["HARNESS_SHARD_VISIBLE_ENV"] == "ASCEND_RT_VISIBLE_DEVICES"
    assert step_env["HARNESS_DEVICE"] == "npu"

    shown = harness("runs", "env", "1", "--json", env=env).json()
    stack = shown["stack"]
    assert (stack["backend"], stack["device_model"], stack["device_count"]) == ("npu", "910B", "8")
    assert (stack["sdk"], stack["driver"]) == ("CANN 8.3.RC2", "24.1.0")
    assert stack["harness"]
    assert stack["python"]
    assert shown["fingerprint"]["backend"]["devices_used"] == [2, 5]
    assert "pytest" in shown["fingerprint"]["python"]["packages"]


def test_named_backend_without_matching_cells_is_a_config_error(
    harness: Harness, accel: Path
) -> None:
    res = harness("run", "accel/cpu", "--backend", "npu")
    assert res.code == 2
    assert "--backend npu: none of the selected cells runs on it (their backends: cpu)" in res.err


def test_unknown_device_is_a_config_error_before_anything_runs(
    harness: Harness, accel: Path, host_bin: Path, tmp_path: Path
) -> None:
    res = harness("run", "accel/npu", "--devices", "8", env=npu_host(tmp_path, host_bin))
    assert res.code == 2
    assert "npu has no device 8" in res.err
    assert harness("runs", "list", "--json").json()["runs"] == []


def test_unusable_backend_is_an_error_run_with_the_reason(
    harness: Harness, accel: Path, host_bin: Path
) -> None:
    res = harness("run", "accel/npu", "--json", env={"PATH": str(host_bin)})
    assert res.code == 3
    (run,) = res.json()["runs"]
    assert run["status"] == "error"
    assert run["sha"] is None
    shown = harness("runs", "show", "1", "--json").json()
    assert shown["reason"].startswith("backend npu is not usable here: npu-smi not found on PATH")
    # the run row carries a fingerprint even though nothing ran
    assert shown["environment"]["backend"]["name"] == "npu"
    assert shown["environment"]["executor"] == "local"


def test_drift_between_two_runs(
    harness: Harness, accel: Path, host_bin: Path, tmp_path: Path
) -> None:
    first = harness("run", "accel/npu", env=npu_host(tmp_path, host_bin, cann="8.3.RC2"))
    assert first.code == 0, first.err
    second = harness("run", "accel/npu", env=npu_host(tmp_path, host_bin, cann="8.5.0"))
    assert second.code == 0, second.err
    res = harness("runs", "env", "2", "--against", "1", "--json")
    assert res.json()["changes"] == [
        {"key": "sdk", "before": "CANN 8.3.RC2", "after": "CANN 8.5.0"}
    ]
    text = harness("runs", "env", "2", "--against", "1")
    assert "sdk CANN 8.3.RC2 → CANN 8.5.0" in text.out
    same = harness("runs", "env", "1", "--against", "1")
    assert "no environment drift" in same.out
