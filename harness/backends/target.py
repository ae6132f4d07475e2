"""Which backend a cell runs on here, with which devices: detection once, then targets.

Detection runs host tools (``npu-smi``, ``nvidia-smi``, a Python probe), so a
:class:`BackendDetector` runs each backend's detection once per harness process. A
:class:`BackendTarget` is what a cell gets: the backend, what detection found, and the
devices the cell may use (the healthy ones, optionally narrowed with ``--devices``). It
knows the environment the cell's steps need: the backend's suite environment, the
variable that pins the cell to its devices, and the ``HARNESS_SHARD_*`` variables the
``harness_device_shard`` pytest plugin uses to give each xdist worker one device.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from harness.backends import Backend, get_backend
from harness.backends.base import Detection, Device
from harness.errors import ConfigError
from harness.matrix import Cell


@dataclass(frozen=True, slots=True)
class BackendTarget:
    backend: Backend
    detection: Detection
    devices: tuple[Device, ...] = ()

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def usable(self) -> bool:
        return self.detection.usable and bool(self.devices)

    def unusable_reason(self) -> str | None:
        """Why a cell cannot run on this backend here (with what to do), or None."""
        d = self.detection
        if d.usable and self.devices:
            return None
        why = d.reason or (
            "no healthy device is selected" if d.usable else "the backend is not usable here"
        )
        hint = f" ({d.hint})" if d.hint else ""
        return f"backend {self.name} is not usable here: {why}{hint}"

    def describe(self) -> str:
        """``backend npu: 8 x 910B3, CANN 8.5.0, driver 25.2.0, ASCEND_RT_VISIBLE_DEVICES=0,...``"""
        details = self.detection.details
        models = sorted({d.model for d in self.devices})
        parts = [f"{len(self.devices)} x {', '.join(models)}" if models else "no device"]
        for key, label in (("cann", "CANN"), ("cuda", "CUDA"), ("driver", "driver")):
            if details.get(key):
                parts.append(f"{label} {details[key]}")
        indices = ",".join(str(d.index) for d in self.devices)
        if self.backend.visible_devices_env and indices:
            parts.append(f"{self.backend.visible_devices_env}={indices}")
        return f"backend {self.name}: " + ", ".join(parts)

    def for_container(self) -> BackendTarget:
        """This target as seen inside a container given only its devices.

        A container that gets ``/dev/davinci6`` and ``/dev/davinci7`` sees them as logical
        devices 0 and 1 (``ASCEND_RT_VISIBLE_DEVICES=6`` fails there with "device id
        error"); NVIDIA device requests renumber the same way. Core ids of a cpuset do
        not change. Container options are taken from the host target, the environment
        from this one.
        """
        if self.backend.visible_devices_env is None:
            return self
        devices = tuple(replace(d, index=i) for i, d in enumerate(self.devices))
        return BackendTarget(self.backend, self.detection, devices)

    def variables(self) -> dict[str, str]:
        """Recipe variables: ``{device}``, ``{devices}``, ``{device_count}``."""
        return {
            "device": self.backend.device_type,
            "devices": ",".join(str(d.index) for d in self.devices),
            "device_count": str(len(self.devices)),
        }

    def environment(self) -> dict[str, str]:
        """The environment steps get for this backend (recipes may override any of it)."""
        env = dict(self.backend.suite_environment())
        if self.devices:
            env.update(self.backend.pin_environment(self.devices))
            env["HARNESS_SHARD_BACKEND"] = self.name
            env["HARNESS_SHARD_DEVICES"] = ",".join(str(d.index) for d in self.devices)
            if self.backend.visible_devices_env:
                env["HARNESS_SHARD_VISIBLE_ENV"] = self.backend.visible_devices_env
        return env

    def fingerprint(self) -> dict[str, Any]:
        """The backend part of a run's environment fingerprint."""
        return {
            **self.backend.fingerprint(self.detection),
            "name": self.name,
            "devices_used": [d.index for d in self.devices],
        }


def parse_device_list(text: str) -> tuple[int, ...]:
    """``"0,1,4-6"`` → ``(0, 1, 4, 5, 6)``; a clear error for anything else."""
    out: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        lo, sep, hi = part.partition("-")
        try:
            if sep:
                first, last = int(lo), int(hi)
                if last < first:
                    raise ValueError
                out.extend(range(first, last + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise ConfigError(
                f"--devices '{text}': '{part}' is not a device index or range",
                hint="give logical indices as a comma list with ranges, e.g. 0,1 or 0-3",
            ) from None
    return tuple(dict.fromkeys(out))


@dataclass(slots=True)
class BackendDetector:
    """Detects backends once per process and hands out :class:`BackendTarget` objects."""

    _detections: dict[str, Detection] = field(default_factory=dict)
    _backends: dict[str, Backend] = field(default_factory=dict)

    def backend(self, name: str) -> Backend:
        if name not in self._backends:
            self._backends[name] = get_backend(name)
        return self._backends[name]

    def detect(self, name: str) -> Detection:
        if name not in self._detections:
            backend = self.backend(name)
            try:
                detection = backend.detect()
            except Exception as exc:  # a vendor plugin's bug must not stop the harness
                detection = Detection(
                    backend=name,
                    present=False,
                    usable=False,
                    reason=f"detection raised {type(exc).__name__}: {exc}",
                    hint="report this to the backend plugin's maintainers",
                )
            self._detections[name] = detection
        return self._detections[name]

    def target(self, name: str, devices: Sequence[int] | None = None) -> BackendTarget:
        """The target for ``name`` using its healthy devices (only ``devices`` if given)."""
        backend = self.backend(name)
        detection = self.detect(name)
        chosen = detection.healthy_devices
        if devices is not None:
            by_index = {d.index: d for d in detection.devices}
            missing = [i for i in devices if i not in by_index]
            if missing and detection.present:
                known = ", ".join(str(i) for i in sorted(by_index)) or "none"
                raise ConfigError(
                    f"--devices: {name} has no device {', '.join(map(str, missing))} "
                    f"(devices here: {known})"
                )
            unhealthy = [i for i in devices if i in by_index and not by_index[i].healthy]
            if unhealthy:
                raise ConfigError(
                    f"--devices: {name} device(s) {', '.join(map(str, unhealthy))} "
                    "report unhealthy; choose others (see `harness doctor`)"
                )
            chosen = [by_index[i] for i in devices if i in by_index]
        return BackendTarget(backend, detection, tuple(chosen))

    def choose(self, candidates: Iterable[str]) -> str:
        """The usable backend of highest priority among ``candidates`` (``auto``).

        Raises when none is usable, naming why for each.
        """
        names = list(dict.fromkeys(candidates))
        usable = [n for n in names if self.detect(n).usable]
        if not usable:
            why = "; ".join(f"{n}: {self.detect(n).reason or 'not usable'}" for n in names)
            raise ConfigError(
                f"--backend auto: none of {', '.join(names)} is usable here ({why})",
                hint="run `harness doctor` to see what each backend needs",
            )
        return max(usable, key=lambda n: (self.backend(n).priority, n))


def narrow_to_backend(
    cells: Sequence[Cell], backend: str, detector: BackendDetector
) -> tuple[list[Cell], list[str]]:
    """Apply ``--backend``: the cells that run on ``backend``, or for ``auto`` on the best
    usable backend of each suite. Returns the cells and notes saying what was chosen.

    With ``auto``, a suite none of whose backends is usable here keeps its highest-priority
    cells: they are recorded as errors naming why, rather than silently left out.
    """
    if backend != "auto":
        detector.backend(backend)  # unknown names fail here, with a did-you-mean
        kept = [c for c in cells if c.backend == backend]
        if not kept:
            have = ", ".join(sorted({c.backend for c in cells}))
            raise ConfigError(
                f"--backend {backend}: none of the selected cells runs on it "
                f"(their backends: {have})",
                hint=f"add a '{backend}:' recipe under 'backends:' in the suite file",
            )
        return kept, []
    by_suite: dict[str, list[Cell]] = {}
    for cell in cells:
        by_suite.setdefault(cell.suite, []).append(cell)
    kept, notes = [], []
    for suite, suite_cells in by_suite.items():
        names = list(dict.fromkeys(c.backend for c in suite_cells))
        try:
            chosen = detector.choose(names)
            why = ""
        except ConfigError as exc:
            chosen = max(names, key=lambda n: (detector.backend(n).priority, n))
            why = f" although it is not usable here ({exc.message})"
        others = [n for n in names if n != chosen]
        skipped = ""
        if others:
            reasons = [f"{n}: {detector.detect(n).reason or 'lower priority'}" for n in others]
            skipped = f"; not {', '.join(reasons)}"
        notes.append(f"--backend auto: {suite} runs on {chosen}{why}{skipped}")
        kept.extend(c for c in suite_cells if c.backend == chosen)
    return kept, notes
