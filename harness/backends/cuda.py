"""The ``cuda`` backend: NVIDIA GPUs through ``nvidia-smi`` and docker device requests."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from typing import Any

from harness.backends.base import ContainerOptions, Detection, Device
from harness.backends.probe import run_tool

QUERY_FIELDS = (
    "index", "uuid", "name", "memory.total", "memory.used", "driver_version", "pci.bus_id",
)  # fmt: skip
QUERY = [
    "nvidia-smi",
    f"--query-gpu={','.join(QUERY_FIELDS)}",
    "--format=csv,noheader,nounits",
]
_CUDA_VERSION = re.compile(r"CUDA Version:\s*([\d.]+)")
_UNITS = re.compile(r"\s*\[[^\]]*\]$")


def _clean_number(value: str) -> int | None:
    value = value.strip().removesuffix("MiB").strip()
    try:
        return int(float(value))
    except ValueError:  # "[N/A]", "[Not Supported]"
        return None


def parse_query_gpu_csv(text: str) -> list[dict[str, str]]:
    """Rows of ``nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits]``.

    With a header row the keys come from it (units such as `` [MiB]`` are dropped);
    without one they are :data:`QUERY_FIELDS` in order.
    """
    rows = [r for r in csv.reader(io.StringIO(text), skipinitialspace=True) if any(r)]
    if not rows:
        return []
    header = [_UNITS.sub("", c.strip()) for c in rows[0]]
    if "index" in header or "name" in header:
        keys, body = header, rows[1:]
    else:
        keys, body = list(QUERY_FIELDS), rows
    return [dict(zip(keys, (c.strip() for c in row), strict=False)) for row in body]


def parse_cuda_version(nvidia_smi_text: str) -> str | None:
    m = _CUDA_VERSION.search(nvidia_smi_text)
    return m.group(1) if m else None


class CudaBackend:
    name = "cuda"
    device_type = "cuda"
    priority = 20
    visible_devices_env: str | None = "CUDA_VISIBLE_DEVICES"

    def detect(self) -> Detection:
        out = run_tool(QUERY)
        if not out.ok:
            return Detection(
                backend=self.name,
                present=False,
                usable=False,
                reason=out.error,
                hint="install the NVIDIA driver (nvidia-smi) on this machine, or run on a GPU "
                "runner",
            )
        rows = parse_query_gpu_csv(out.stdout)
        devices = [
            Device(
                index=i,
                host_id=row.get("index", str(i)),
                model=row.get("name", "unknown"),
                memory_total_mb=_clean_number(row.get("memory.total", "")),
                memory_used_mb=_clean_number(row.get("memory.used", "")),
                device_paths=(f"/dev/nvidia{row.get('index', i)}",),
            )
            for i, row in enumerate(rows)
        ]
        plain = run_tool(["nvidia-smi"])
        details: dict[str, Any] = {
            "driver": rows[0].get("driver_version") if rows else None,
            "cuda": parse_cuda_version(plain.stdout) if plain.ok else None,
            "models": sorted({d.model for d in devices}),
            "count": len(devices),
        }
        if not devices:
            return Detection(
                self.name,
                present=False,
                usable=False,
                reason="nvidia-smi lists no GPU",
                details=details,
            )
        return Detection(self.name, present=True, usable=True, devices=devices, details=details)

    def suite_environment(self) -> dict[str, str]:
        return {"TRANSFORMERS_TEST_DEVICE": "cuda", "DS_ACCELERATOR": "cuda"}

    def container_options(self, devices: Sequence[Device]) -> ContainerOptions:
        return ContainerOptions(
            gpu_requests=tuple(d.host_id for d in devices),
            env=self.suite_environment(),
            shm_size="2g",
        )

    def pin_environment(self, devices: Sequence[Device]) -> dict[str, str]:
        return {"CUDA_VISIBLE_DEVICES": ",".join(str(d.index) for d in devices)}

    def fingerprint(self, detection: Detection) -> dict[str, Any]:
        return {"backend": self.name, **detection.details}
