"""The ``cpu`` backend: always present; workers are pinned with CPU sets."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from typing import Any

from harness.backends.base import ContainerOptions, Detection, Device


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8", errors="replace"):  # noqa: SIM115
            if line.startswith(("model name", "Model name")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class CpuBackend:
    name = "cpu"
    device_type = "cpu"
    priority = 0
    visible_devices_env: str | None = None

    def detect(self) -> Detection:
        cores = sorted(os.sched_getaffinity(0))
        model = _cpu_model()
        # a CPU "device" is a core the harness may use; pinning sets affinity to core ids
        devices = [Device(index=core, host_id=str(core), model=model) for core in cores]
        return Detection(
            backend=self.name,
            present=True,
            usable=True,
            devices=devices,
            details={"model": model, "cores": len(cores), "arch": platform.machine()},
        )

    def suite_environment(self) -> dict[str, str]:
        return {"TRANSFORMERS_TEST_DEVICE": "cpu", "DS_ACCELERATOR": "cpu"}

    def container_options(self, devices: Sequence[Device]) -> ContainerOptions:
        cpuset = ",".join(str(d.index) for d in devices) if devices else None
        return ContainerOptions(cpuset=cpuset, env=self.suite_environment())

    def pin_environment(self, devices: Sequence[Device]) -> dict[str, str]:
        cores = ",".join(str(d.index) for d in devices)
        return {"HARNESS_CPUSET": cores, "OMP_NUM_THREADS": str(max(1, len(devices)))}

    def fingerprint(self, detection: Detection) -> dict[str, Any]:
        return {"backend": self.name, **detection.details}
