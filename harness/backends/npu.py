"""The ``npu`` backend: Huawei Ascend NPUs with the CANN stack.

Detection runs ``npu-smi info`` (devices, health, memory, driver version), reads the CANN
version from the toolkit's install files in both layouts (``ascend-toolkit/latest`` up to
8.3; ``cann-<version>`` from 8.5, named by ``$ASCEND_TOOLKIT_HOME``), and checks whether
``torch_npu`` imports in the interpreter that will run the tests (it fails with
``libhccl.so: cannot open shared object file`` when the CANN environment is not sourced).

Container options follow Ascend's own images: one ``/dev/davinciN`` per NPU plus the
three management devices, and the host's driver user space mounted read-only (the image
carries no driver). Pinning uses ``ASCEND_RT_VISIBLE_DEVICES`` with *logical* indices;
``npu-smi`` inside a container keeps showing host ids, which are not those indices.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import settings
from harness.backends.base import ContainerOptions, Detection, Device
from harness.backends.npu_smi import chip_family, parse_npu_smi_info, parse_npu_smi_list
from harness.backends.probe import probe_python_imports, read_key_values, run_tool

MANAGEMENT_DEVICES = ("/dev/davinci_manager", "/dev/devmm_svm", "/dev/hisi_hdc")
DRIVER_MOUNTS = (
    "/usr/local/dcmi",
    "/usr/local/bin/npu-smi",
    "/usr/local/Ascend/driver/lib64/",
    "/usr/local/Ascend/driver/version.info",
    "/etc/ascend_install.info",
)
HCCN_TOOL = "/usr/local/Ascend/driver/tools/hccn_tool"
SET_ENV_HINT = (
    "source the CANN toolkit environment first: `source /usr/local/Ascend/ascend-toolkit/"
    "set_env.sh` (CANN ≤ 8.3) or `source $ASCEND_TOOLKIT_HOME/set_env.sh` (8.5+), or run "
    "inside a CANN image"
)
_CANN_DIR = re.compile(r"^cann-(\d[\w.\-]*)$")
_VERSION_CFG = re.compile(r"^(?:toolkit|runtime)_running_version=\[[^:\]]*:([^\]]+)\]", re.M)


def ascend_root() -> Path:
    return settings.ASCEND_ROOT.get()


def _arch() -> str:
    return platform.machine()


def read_cann_version(
    root: Path | None = None, env: dict[str, str] | None = None
) -> dict[str, str]:
    """CANN version and where it was read: {} when no toolkit is installed.

    Looks at ``$ASCEND_TOOLKIT_HOME`` first (``.../cann-8.5.0`` names the version in 8.5+
    images), then ``<root>/ascend-toolkit/latest`` (≤ 8.3), then ``<root>/cann-*``.
    In each it reads ``<arch>-linux/ascend_toolkit_install.info`` (``version=8.3.RC2``)
    or ``version.cfg`` (``toolkit_running_version=[7.6.0.1.220:8.0.0]``).
    """
    root = root or ascend_root()
    env = dict(os.environ) if env is None else env
    homes: list[Path] = []
    if env.get("ASCEND_TOOLKIT_HOME"):
        homes.append(Path(env["ASCEND_TOOLKIT_HOME"]))
    homes.append(root / "ascend-toolkit" / "latest")
    if root.is_dir():
        homes.extend(sorted((p for p in root.glob("cann-*") if p.is_dir()), reverse=True))
    for home in homes:
        info = read_key_values(home / f"{_arch()}-linux" / "ascend_toolkit_install.info")
        if info.get("version"):
            return {"version": info["version"], "source": str(home), "layout": _layout(home)}
        try:
            cfg = (home / "version.cfg").read_text(errors="replace")
        except OSError:
            cfg = ""
        if m := _VERSION_CFG.search(cfg):
            return {"version": m.group(1), "source": str(home), "layout": _layout(home)}
        m2 = _CANN_DIR.match(home.resolve().name if home.exists() else home.name)
        if m2 and home.exists():
            return {"version": m2.group(1), "source": str(home), "layout": "cann-<version> (8.5+)"}
    return {}


def _layout(home: Path) -> str:
    return "cann-<version> (8.5+)" if _CANN_DIR.match(home.name) else "ascend-toolkit (≤8.3)"


def read_driver_version(root: Path | None = None) -> str | None:
    info = read_key_values((root or ascend_root()) / "driver" / "version.info")
    for key, value in info.items():
        if key.lower() == "version":
            return value
    return None


def probe_torch_npu(python: str) -> dict[str, Any]:
    extra = (
        "\nif out.get('torch_npu', {}).get('ok'):\n"
        "    import torch\n"
        "    out['npu_available'] = bool(torch.npu.is_available())\n"
        "    out['npu_count'] = int(torch.npu.device_count())\n"
    )
    data = probe_python_imports(python, ["torch", "torch_npu"], extra=extra)
    torch_info = data.get("torch", {})
    npu_info = data.get("torch_npu", {})
    if "error" in data:
        return {"ok": False, "error": data["error"]}
    if not torch_info.get("ok"):
        return {
            "ok": False,
            "error": f"torch import failed: {torch_info.get('error')}",
            "hint": "install torch and the matching torch_npu in the test environment",
        }
    if not npu_info.get("ok"):
        err = str(npu_info.get("error"))
        hint = (
            SET_ENV_HINT
            if ".so" in err
            else (
                "pip install torch_npu matching torch "
                f"{torch_info.get('version')} (see Ascend/pytorch's version table)"
            )
        )
        return {
            "ok": False,
            "torch": torch_info.get("version"),
            "error": f"torch_npu import failed: {err}",
            "hint": hint,
        }
    return {
        "ok": True,
        "torch": torch_info.get("version"),
        "torch_npu": npu_info.get("version"),
        "npu_available": data.get("npu_available"),
        "npu_count": data.get("npu_count"),
    }


class NpuBackend:
    name = "npu"
    device_type = "npu"
    priority = 30
    visible_devices_env: str | None = "ASCEND_RT_VISIBLE_DEVICES"

    def __init__(self, python: str | None = None) -> None:
        # where torch/torch_npu are checked: `harness doctor --python` sets the variable
        self.python = python or settings.PROBE_PYTHON.get() or sys.executable

    def detect(self) -> Detection:
        out = run_tool(["npu-smi", "info"])
        if not out.ok:
            return Detection(
                backend=self.name,
                present=False,
                usable=False,
                reason=out.error,
                hint="no Ascend driver here: install the NPU driver and firmware (npu-smi), or "
                "run on an NPU runner; in a container, mount /usr/local/bin/npu-smi and the "
                "driver (see `harness doctor --json` container options)",
            )
        smi = parse_npu_smi_info(out.stdout)
        devices = [
            Device(
                index=c.logical_index,
                host_id=str(c.npu_id) if c.phy_id is None else f"{c.npu_id}:{c.chip_id}",
                model=c.name,
                healthy=c.healthy,
                memory_total_mb=c.hbm_total_mb or c.memory_total_mb,
                memory_used_mb=c.hbm_used_mb if c.hbm_total_mb else c.memory_used_mb,
                device_paths=(f"/dev/davinci{c.phy_id if c.phy_id is not None else c.npu_id}",),
            )
            for c in smi.chips
        ]
        listed = run_tool(["npu-smi", "info", "-l"])
        total, entries = parse_npu_smi_list(listed.stdout) if listed.ok else (None, [])
        products = sorted({e.product_name for e in entries if e.product_name})
        cann = read_cann_version()
        details: dict[str, Any] = {
            "driver": read_driver_version() or smi.driver_version,
            "npu_smi": smi.tool_version,
            "chip": chip_family(smi.chips[0].name) if smi.chips else None,
            "models": sorted({c.name for c in smi.chips}),
            "count": len(devices),
            "npus_listed": total,
            "products": products,
            "cann": cann.get("version"),
            "cann_layout": cann.get("layout"),
        }
        torch_npu = probe_torch_npu(self.python)
        details["torch_npu"] = torch_npu
        detection = Detection(
            self.name, present=bool(devices), usable=False, devices=devices, details=details
        )
        if not devices:
            detection.reason = "npu-smi lists no NPU"
        elif not detection.healthy_devices:
            detection.reason = "no NPU reports Health OK"
            detection.hint = "check `npu-smi info`; a reset or driver reinstall may be needed"
        elif not cann:
            detection.reason = f"no CANN toolkit found under {ascend_root()}"
            detection.hint = "install the CANN toolkit and ops packages, or use a CANN image"
        else:
            detection.usable = True
            if not torch_npu.get("ok"):
                # the cell's own environment installs torch_npu; here it is a warning
                detection.warnings.append(f"{torch_npu['error']} (in {self.python})")
                detection.hint = torch_npu.get("hint")
        unhealthy = [d for d in devices if not d.healthy]
        if unhealthy and detection.healthy_devices:
            detection.warnings.append(
                "unhealthy NPU(s) left out: "
                + ", ".join(f"{d.index} (npu-smi {d.host_id})" for d in unhealthy)
            )
        return detection

    def suite_environment(self) -> dict[str, str]:
        return {
            "TRANSFORMERS_TEST_DEVICE": "npu",
            "TRANSFORMERS_TEST_BACKEND": "torch_npu",
            "DS_ACCELERATOR": "npu",
        }

    def container_options(self, devices: Sequence[Device]) -> ContainerOptions:
        nodes = tuple(p for d in devices for p in d.device_paths) + MANAGEMENT_DEVICES
        mounts = tuple((m, m, True) for m in DRIVER_MOUNTS)
        if len(devices) > 1:  # HCCL collectives across cards need the host's hccn_tool
            mounts += ((HCCN_TOOL, HCCN_TOOL, True),)
        return ContainerOptions(
            devices=nodes, mounts=mounts, env=self.suite_environment(), shm_size="1g"
        )

    def pin_environment(self, devices: Sequence[Device]) -> dict[str, str]:
        return {
            "ASCEND_RT_VISIBLE_DEVICES": ",".join(
                str(d.index) for d in sorted(devices, key=lambda d: d.index)
            )
        }

    def fingerprint(self, detection: Detection) -> dict[str, Any]:
        # the torch_npu probe ran in the harness's interpreter, not the cell's: a run's
        # torch/torch_npu versions come from the cell environment's packages instead
        details = {k: v for k, v in detection.details.items() if k != "torch_npu"}
        return {"backend": self.name, **details}
