"""A third-party backend for a made-up accelerator, "XAcc", whose driver ships ``xacc-smi``.

``xacc-smi --list`` prints one line per device: ``<index> <model> <health> <memory MiB>``
and a first line ``driver <version> sdk <version>``. The XAcc runtime honours
``XACC_VISIBLE_DEVICES``; its torch plugin registers the ``xacc`` device type.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from harness.backends.base import ContainerOptions, Detection, Device


class XaccBackend:
    name = "xacc"
    device_type = "xacc"
    priority = 25
    visible_devices_env: str | None = "XACC_VISIBLE_DEVICES"

    def detect(self) -> Detection:
        tool = shutil.which("xacc-smi")
        if tool is None:
            return Detection(
                self.name,
                present=False,
                usable=False,
                reason="xacc-smi not found on PATH",
                hint="install the XAcc driver",
            )
        out = subprocess.run([tool, "--list"], capture_output=True, text=True, check=False)
        lines = out.stdout.splitlines()
        _, driver, _, sdk = lines[0].split()
        devices = []
        for line in lines[1:]:
            index, model, health, memory = line.split()
            devices.append(
                Device(
                    index=int(index),
                    host_id=index,
                    model=model,
                    healthy=health == "ok",
                    memory_total_mb=int(memory),
                    device_paths=(f"/dev/xacc{index}",),
                )
            )
        return Detection(
            self.name,
            present=bool(devices),
            usable=bool(devices),
            devices=devices,
            details={
                "driver": driver,
                "sdk": f"XAcc SDK {sdk}",
                "count": len(devices),
                "models": sorted({d.model for d in devices}),
            },
        )

    def suite_environment(self) -> dict[str, str]:
        return {"TRANSFORMERS_TEST_DEVICE": "xacc", "XACC_TEST_DEVICE": "xacc"}

    def container_options(self, devices: Sequence[Device]) -> ContainerOptions:
        nodes = (*(p for d in devices for p in d.device_paths), "/dev/xacc_ctl")
        return ContainerOptions(devices=nodes, env=self.suite_environment())

    def pin_environment(self, devices: Sequence[Device]) -> dict[str, str]:
        return {"XACC_VISIBLE_DEVICES": ",".join(str(d.index) for d in devices)}

    def fingerprint(self, detection: Detection) -> dict[str, Any]:
        return {"backend": self.name, **detection.details}
