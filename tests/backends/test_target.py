"""Choosing a backend and devices for cells: --backend, --devices, detection failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends.base import Detection
from harness.backends.target import BackendDetector, narrow_to_backend, parse_device_list
from harness.errors import ConfigError
from harness.matrix import Cell
from tests.fake_devices import install_npu_smi, isolated_path, make_cann_root

CELLS = [
    Cell("comfyui", "cpu", "host"),
    Cell("comfyui", "npu", "host"),
    Cell("opencv", "cpu", "host"),
]


@pytest.fixture
def npu_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    monkeypatch.setenv("PATH", isolated_path(bin_dir))
    monkeypatch.setenv("HARNESS_ASCEND_ROOT", str(tmp_path / "Ascend"))
    monkeypatch.delenv("ASCEND_TOOLKIT_HOME", raising=False)
    install_npu_smi(bin_dir, "npu-smi-910b-x8.txt")
    make_cann_root(tmp_path / "Ascend", layout="8.3", version="8.3.RC2")
    return bin_dir


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", (0,)), ("0,1", (0, 1)), ("0-3", (0, 1, 2, 3)), ("4-5,1,4", (4, 5, 1))],
)
def test_parse_device_list(text: str, expected: tuple[int, ...]) -> None:
    assert parse_device_list(text) == expected


@pytest.mark.parametrize("text", ["a", "3-1", "1,,2", "0-"])
def test_parse_device_list_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="is not a device index or range"):
        parse_device_list(text)


def test_devices_narrow_the_target(npu_host: Path) -> None:
    target = BackendDetector().target("npu", [2, 5])
    assert [d.index for d in target.devices] == [2, 5]
    env = target.environment()
    assert env["ASCEND_RT_VISIBLE_DEVICES"] == "2,5"
    assert env["HARNESS_SHARD_DEVICES"] == "2,5"
    assert env["HARNESS_SHARD_VISIBLE_ENV"] == "ASCEND_RT_VISIBLE_DEVICES"
    assert target.variables() == {"device": "npu", "devices": "2,5", "device_count": "2"}
    assert target.for_container().environment()["ASCEND_RT_VISIBLE_DEVICES"] == "0,1"
    assert "8 x" not in target.describe()
    assert "2 x 910B" in target.describe()


def test_unknown_device_index_is_a_config_error(npu_host: Path) -> None:
    with pytest.raises(ConfigError, match=r"npu has no device 9 \(devices here: 0, 1, 2"):
        BackendDetector().target("npu", [9])


def test_backend_named_narrows_cells(npu_host: Path) -> None:
    cells, notes = narrow_to_backend(CELLS, "cpu", BackendDetector())
    assert cells == [CELLS[0], CELLS[2]]
    assert notes == []


def test_backend_without_matching_cells(npu_host: Path) -> None:
    with pytest.raises(ConfigError, match=r"none of the selected cells runs on it"):
        narrow_to_backend(CELLS[2:], "npu", BackendDetector())


def test_unknown_backend_name_suggests(npu_host: Path) -> None:
    with pytest.raises(ConfigError, match="unknown backend 'nup'") as err:
        narrow_to_backend(CELLS, "nup", BackendDetector())
    assert err.value.hint
    assert "did you mean 'npu'" in err.value.hint


def test_auto_picks_per_suite_and_says_why(npu_host: Path) -> None:
    cells, notes = narrow_to_backend(CELLS, "auto", BackendDetector())
    assert cells == [CELLS[1], CELLS[2]]
    assert notes[0].startswith("--backend auto: comfyui runs on npu; not cpu")
    assert notes[1] == "--backend auto: opencv runs on cpu"


def test_auto_without_usable_backend_keeps_the_cell_to_record_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", isolated_path(tmp_path / "bin"))
    cells, notes = narrow_to_backend([CELLS[1]], "auto", BackendDetector())
    assert cells == [CELLS[1]]
    assert "although it is not usable here" in notes[0]
    target = BackendDetector().target("npu")
    assert target.unusable_reason() == (
        "backend npu is not usable here: npu-smi not found on PATH ("
        + (target.detection.hint or "")
        + ")"
    )


class _BrokenPlugin:
    name = "broken"
    device_type = "broken"
    priority = 5
    visible_devices_env = None

    def detect(self) -> Detection:
        raise RuntimeError("vendor SDK segfault")


def test_a_plugin_whose_detection_raises_is_unusable_not_fatal() -> None:
    detector = BackendDetector()
    detector._backends["broken"] = _BrokenPlugin()  # type: ignore[assignment]
    d = detector.detect("broken")
    assert not d.usable
    assert d.reason == "detection raised RuntimeError: vendor SDK segfault"
