"""Backend detection end to end: real subprocesses running executables that print
recorded real ``npu-smi`` / ``nvidia-smi`` output, and CANN install trees on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends.cuda import CudaBackend, parse_query_gpu_csv
from harness.backends.npu import NpuBackend, read_cann_version
from harness.backends.target import BackendDetector
from tests.fake_devices import (
    DATA,
    install_npu_smi,
    install_nvidia_smi,
    install_tool,
    isolated_path,
    make_cann_root,
    make_torch_npu_site,
)

#: The canonical `docker run` of Ascend/cann-container-image (reference §2.3).
CANONICAL_MOUNTS = [
    "/usr/local/dcmi",
    "/usr/local/bin/npu-smi",
    "/usr/local/Ascend/driver/lib64/",
    "/usr/local/Ascend/driver/version.info",
    "/etc/ascend_install.info",
]


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty host: no device tools on PATH, no CANN, no torch on the import path."""
    bin_dir = tmp_path / "bin"
    monkeypatch.setenv("PATH", isolated_path(bin_dir))
    monkeypatch.setenv("HARNESS_ASCEND_ROOT", str(tmp_path / "Ascend"))
    monkeypatch.delenv("ASCEND_TOOLKIT_HOME", raising=False)
    monkeypatch.delenv("HARNESS_PROBE_PYTHON", raising=False)
    return bin_dir


def test_npu_absent_says_why_and_what_to_do(host: Path) -> None:
    d = NpuBackend().detect()
    assert (d.present, d.usable) == (False, False)
    assert d.reason == "npu-smi not found on PATH"
    assert d.hint
    assert "driver" in d.hint


def test_npu_smi_failing_is_reported_with_its_message(host: Path, tmp_path: Path) -> None:
    err = tmp_path / "err.txt"
    err.write_text("dcmi module initialize failed. ret is -8005\n")
    install_tool(host, "npu-smi", {"info": err}, exit_code=255)
    d = NpuBackend().detect()
    assert not d.present
    assert d.reason == "npu-smi info exited 255: dcmi module initialize failed. ret is -8005"


def test_910b_host_with_cann_8_3_and_torch_npu_missing_libhccl(
    host: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_npu_smi(host, "npu-smi-910b-x8.txt", "npu-smi-l-16.txt")
    make_cann_root(tmp_path / "Ascend", layout="8.3", version="8.3.RC2", driver="24.1.0")
    monkeypatch.setenv("PYTHONPATH", str(make_torch_npu_site(tmp_path / "site")))
    d = NpuBackend().detect()
    assert (d.present, d.usable) == (True, True)
    assert [x.index for x in d.devices] == list(range(8))
    assert {x.model for x in d.devices} == {"910B"}
    assert d.devices[0].memory_total_mb == 32768  # HBM, not the control-CPU memory
    det = d.details
    assert (det["cann"], det["cann_layout"]) == ("8.3.RC2", "ascend-toolkit (≤8.3)")
    assert (det["driver"], det["npu_smi"], det["chip"], det["count"]) == (
        "24.1.0",
        "24.1.0",
        "910b",
        8,
    )
    assert det["npus_listed"] == 16
    # usable (the cell installs its own torch_npu) but the doctor warns, with what to do
    assert any(
        "torch_npu import failed: ImportError: libhccl.so: cannot open shared object file" in w
        for w in d.warnings
    )
    assert d.hint
    assert "set_env.sh" in d.hint


def test_910b3_in_container_with_cann_8_5_pins_logical_indices(
    host: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_npu_smi(host, "npu-smi-910b3-x2-container.txt")
    home = make_cann_root(tmp_path / "Ascend", layout="8.5", version="8.5.0")
    monkeypatch.setenv("ASCEND_TOOLKIT_HOME", str(home))
    backend = NpuBackend()
    d = backend.detect()
    assert d.usable
    assert [(x.index, x.host_id) for x in d.devices] == [(0, "6"), (1, "7")]
    assert (d.details["cann"], d.details["cann_layout"]) == ("8.5.0", "cann-<version> (8.5+)")
    # npu-smi shows host ids 6 and 7; the runtime's indices are 0 and 1
    assert backend.pin_environment(d.devices) == {"ASCEND_RT_VISIBLE_DEVICES": "0,1"}
    opts = backend.container_options(d.devices)
    assert opts.devices == (
        "/dev/davinci6",
        "/dev/davinci7",
        "/dev/davinci_manager",
        "/dev/devmm_svm",
        "/dev/hisi_hdc",
    )
    assert [m[0] for m in opts.mounts[:5]] == CANONICAL_MOUNTS
    assert all(host_p == ctr_p and ro for host_p, ctr_p, ro in opts.mounts)
    assert opts.mounts[5][0] == "/usr/local/Ascend/driver/tools/hccn_tool"  # 2 cards: HCCL
    assert opts.env["TRANSFORMERS_TEST_DEVICE"] == "npu"
    assert opts.env["TRANSFORMERS_TEST_BACKEND"] == "torch_npu"
    assert opts.env["DS_ACCELERATOR"] == "npu"


def test_one_card_container_options_match_the_canonical_docker_run(
    host: Path, tmp_path: Path
) -> None:
    install_npu_smi(host, "npu-smi-910b-x8.txt")
    make_cann_root(tmp_path / "Ascend", layout="8.3", version="8.3.RC2")
    target = BackendDetector().target("npu", [1])
    opts = target.backend.container_options(target.devices)
    # docker run --device /dev/davinci1 --device /dev/davinci_manager ... -v (5 mounts)
    assert opts.devices == (
        "/dev/davinci1",
        "/dev/davinci_manager",
        "/dev/devmm_svm",
        "/dev/hisi_hdc",
    )
    assert [m[0] for m in opts.mounts] == CANONICAL_MOUNTS
    # inside that container the one card is logical device 0
    inside = target.for_container()
    assert inside.environment()["ASCEND_RT_VISIBLE_DEVICES"] == "0"
    assert target.environment()["ASCEND_RT_VISIBLE_DEVICES"] == "1"


def test_a3_two_dies_per_npu_are_sixteen_devices(host: Path, tmp_path: Path) -> None:
    install_npu_smi(host, "npu-smi-a3-x8.txt", "npu-smi-l-a3-total-count.txt")
    make_cann_root(tmp_path / "Ascend", layout="8.3", version="8.3.RC2")
    d = NpuBackend().detect()
    assert d.usable
    assert d.details["chip"] == "a3"
    assert len(d.devices) == 16
    assert d.devices[3].device_paths == ("/dev/davinci3",)  # the die's physical id
    assert d.devices[3].host_id == "1:1"


@pytest.mark.parametrize(
    ("info", "chip", "count"),
    [
        ("npu-smi-310p3-duo-container.txt", "310p", 2),
        ("npu-smi-310p3-single.txt", "310p", 1),
        ("npu-smi-200i-a2.txt", "xxx", 1),
    ],
)
def test_other_chips(host: Path, tmp_path: Path, info: str, chip: str, count: int) -> None:
    install_npu_smi(host, info)
    make_cann_root(tmp_path / "Ascend", layout="8.3", version="8.2.RC1")
    d = NpuBackend().detect()
    assert d.usable
    assert d.details["chip"] == chip
    assert len(d.devices) == count


def test_npus_without_cann_are_present_but_not_usable(host: Path) -> None:
    install_npu_smi(host, "npu-smi-910b3-x2-container.txt")
    d = NpuBackend().detect()
    assert (d.present, d.usable) == (True, False)
    assert d.reason
    assert d.reason.startswith("no CANN toolkit found under")
    assert d.details["driver"] == "25.5.2"  # from the npu-smi header when no version.info


def test_unhealthy_npu_is_left_out(host: Path, tmp_path: Path) -> None:
    # the recorded 910B3 output with the second chip's health changed to Alarm
    text = (DATA / "npu-smi-910b3-x2-container.txt").read_text()
    head, _sep, tail = text.partition("| 7     910B3               | OK ")
    alarm = tmp_path / "alarm.txt"
    alarm.write_text(head + "| 7     910B3               | Alarm" + tail)
    install_tool(host, "npu-smi", {"info": alarm, "info -l": DATA / "npu-smi-l-16.txt"})
    make_cann_root(tmp_path / "Ascend", layout="8.3", version="8.3.RC2")
    target = BackendDetector().target("npu")
    assert [d.host_id for d in target.devices] == ["6"]
    assert any("unhealthy NPU(s) left out: 1 (npu-smi 7)" in w for w in target.detection.warnings)
    assert target.environment()["ASCEND_RT_VISIBLE_DEVICES"] == "0"


def test_read_cann_version_prefers_ascend_toolkit_home(tmp_path: Path) -> None:
    root = tmp_path / "Ascend"
    make_cann_root(root, layout="8.3", version="8.3.RC2")
    home85 = make_cann_root(root, layout="8.5", version="8.5.0")
    assert read_cann_version(root, env={})["version"] == "8.3.RC2"
    assert read_cann_version(root, env={"ASCEND_TOOLKIT_HOME": str(home85)})["version"] == "8.5.0"
    assert read_cann_version(tmp_path / "nothing", env={}) == {}


def test_cuda_from_nvidia_smi(host: Path) -> None:
    install_nvidia_smi(host)
    backend = CudaBackend()
    d = backend.detect()
    assert d.usable
    assert [(x.index, x.model, x.memory_total_mb) for x in d.devices] == [
        (0, "NVIDIA H100 80GB HBM3", 81559),
        (1, "NVIDIA H100 80GB HBM3", 81559),
    ]
    assert (d.details["driver"], d.details["cuda"]) == ("550.90.07", "12.4")
    assert backend.pin_environment(d.devices[1:]) == {"CUDA_VISIBLE_DEVICES": "1"}
    assert backend.container_options(d.devices).gpu_requests == ("0", "1")


def test_cuda_absent(host: Path) -> None:
    d = CudaBackend().detect()
    assert not d.present
    assert d.reason == "nvidia-smi not found on PATH"


def test_nvidia_smi_csv_with_header_units_and_na() -> None:
    rows = parse_query_gpu_csv((DATA / "nvidia-smi-query-header-units.csv").read_text())
    assert rows[0]["memory.total"] == "16311 MiB"  # header units dropped from the keys
    assert rows[1]["name"] == "NVIDIA GH200 480GB"
    assert rows[1]["memory.used"] == "[N/A]"


def test_cpu_is_always_usable_and_pins_cores(host: Path) -> None:
    target = BackendDetector().target("cpu")
    assert target.usable
    assert target.devices
    env = target.environment()
    assert env["HARNESS_SHARD_BACKEND"] == "cpu"
    assert "HARNESS_SHARD_VISIBLE_ENV" not in env
    assert target.for_container() is target  # a cpuset keeps core ids


def test_auto_prefers_npu_over_cuda_over_cpu(host: Path, tmp_path: Path) -> None:
    detector = BackendDetector()
    assert detector.choose(["cpu", "npu", "cuda"]) == "cpu"
    install_nvidia_smi(host)
    assert BackendDetector().choose(["cpu", "npu", "cuda"]) == "cuda"
    install_npu_smi(host, "npu-smi-910b3-x2-container.txt")
    make_cann_root(tmp_path / "Ascend", layout="8.3", version="8.3.RC2")
    assert BackendDetector().choose(["cpu", "npu", "cuda"]) == "npu"
    assert BackendDetector().choose(["cpu"]) == "cpu"
