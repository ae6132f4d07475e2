"""The Backend protocol: what the harness needs to know about a device family.

A backend detects its devices and says whether it is usable here (and if not, why and
what to do), gives the environment suites need to target it, the container options that
expose N devices, the environment that pins one worker to one device, and a fingerprint
of its software stack. Built-ins are ``cpu``, ``cuda`` and ``npu``; any package can add
one through the ``harness.backends`` entry-point group (see :mod:`harness.backends`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Device:
    """One device as the backend's runtime indexes it (``index``) and as the host names it."""

    index: int  # what pinning takes: *_VISIBLE_DEVICES / torch index, or a CPU core id
    host_id: str  # how the host tool names it (npu-smi NPU id, nvidia-smi index, cpu id)
    model: str
    healthy: bool = True
    memory_total_mb: int | None = None
    memory_used_mb: int | None = None
    device_paths: tuple[str, ...] = ()  # /dev nodes that expose it to a container


@dataclass(slots=True)
class Detection:
    """What :meth:`Backend.detect` found."""

    backend: str
    present: bool  # the hardware/driver is there
    usable: bool  # the software stack can drive it
    devices: list[Device] = field(default_factory=list)
    reason: str | None = None  # why not present/usable
    hint: str | None = None  # what to do about it
    warnings: list[str] = field(default_factory=list)  # usable, but something is off
    details: dict[str, Any] = field(default_factory=dict)  # versions etc. for the fingerprint

    @property
    def healthy_devices(self) -> list[Device]:
        return [d for d in self.devices if d.healthy]


@dataclass(frozen=True, slots=True)
class ContainerOptions:
    """Engine-neutral container options; the docker executor maps them to the SDK."""

    devices: tuple[str, ...] = ()  # "/dev/davinci0" (host path = container path)
    mounts: tuple[tuple[str, str, bool], ...] = ()  # (host, container, read_only)
    env: dict[str, str] = field(default_factory=dict)
    gpu_requests: tuple[str, ...] = ()  # device ids for an NVIDIA device request
    cpuset: str | None = None
    shm_size: str | None = None


@runtime_checkable
class Backend(Protocol):
    #: Registry name, also the backend segment of cell ids.
    name: str
    #: The value recipes get as ``{device}`` (torch device type).
    device_type: str
    #: Higher wins when ``--backend auto`` chooses among usable backends.
    priority: int
    #: The variable that restricts a process to some devices by logical index
    #: (``ASCEND_RT_VISIBLE_DEVICES``); None when pinning is not done by a variable (cpu).
    visible_devices_env: str | None

    def detect(self) -> Detection: ...

    def suite_environment(self) -> dict[str, str]:
        """Environment that makes upstream test suites target this backend."""
        ...

    def container_options(self, devices: Sequence[Device]) -> ContainerOptions: ...

    def pin_environment(self, devices: Sequence[Device]) -> dict[str, str]:
        """Environment that restricts a process to ``devices`` (logical indices)."""
        ...

    def fingerprint(self, detection: Detection) -> dict[str, Any]: ...
