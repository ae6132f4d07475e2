"""Environment fingerprints: what a run ran on, so two runs can be compared for drift.

The host part (OS, kernel, CPU, harness version) is read here; executors add the part they
own (the cell's Python and installed packages, an image digest, devices) and backends add
their stack (driver, SDK, device plugin) in later layers.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import __version__

PY_PROBE = r"""
import json, platform, sys
try:
    from importlib import metadata
    pkgs = {d.metadata["Name"].lower(): d.version
            for d in metadata.distributions() if d.metadata["Name"]}
except Exception as exc:  # a broken environment still gets a fingerprint
    pkgs = {"<error>": repr(exc)}
print(json.dumps({"version": platform.python_version(),
                  "implementation": platform.python_implementation(),
                  "executable": sys.executable, "packages": dict(sorted(pkgs.items()))}))
"""


def os_release(path: Path = Path("/etc/os-release")) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key in {"ID", "VERSION_ID", "PRETTY_NAME"}:
                out[key.lower()] = value.strip().strip('"')
    except OSError:
        pass
    return out


def host_fingerprint() -> dict[str, Any]:
    return {
        "harness": __version__,
        "os": os_release() or {"pretty_name": platform.platform()},
        "kernel": platform.release(),
        "arch": platform.machine(),
        "cpus": os.cpu_count(),
    }


def python_fingerprint(python: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Version and installed distributions of the interpreter ``python``."""
    try:
        proc = subprocess.run(
            [python, "-c", PY_PROBE],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": f"cannot run {python}: {exc}"}
    if proc.returncode != 0:
        return {"error": f"{python} exited {proc.returncode}: {proc.stderr.strip()[-300:]}"}
    try:
        data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"unreadable output from {python}"}
    return data


def digest(fingerprint: dict[str, Any]) -> str:
    blob = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


# -- the software stack and drift between two runs ------------------------------------------

#: The keys of :func:`stack_summary`, in display order. These are what can change a test's
#: outcome without any change to the upstream's code.
STACK_KEYS: tuple[str, ...] = (
    "backend",
    "device_model",
    "device_count",
    "driver",
    "sdk",
    "torch",
    "device_plugin",
    "python",
    "image",
    "os",
    "harness",
)

#: distribution name (normalised) → the backend whose torch device plugin it is
DEVICE_PLUGINS = {"torch-npu": "npu", "torch-mlu": "mlu", "intel-extension-for-pytorch": "xpu"}


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


@dataclass(frozen=True, slots=True)
class EnvChange:
    """One stack component that differs between two fingerprints."""

    key: str
    before: str | None
    after: str | None

    def __str__(self) -> str:
        return f"{self.key} {self.before or '(none)'} → {self.after or '(none)'}"


def stack_summary(fingerprint: Mapping[str, Any]) -> dict[str, str | None]:
    """The flat, comparable summary of a run fingerprint (keys: :data:`STACK_KEYS`).

    Works on fingerprints written by any version of the harness: missing parts are None.
    """
    backend = fingerprint.get("backend")
    b: Mapping[str, Any] = backend if isinstance(backend, Mapping) else {"name": backend}
    models = b.get("models") or []
    sdk = None
    if b.get("cann"):
        sdk = f"CANN {b['cann']}"
    elif b.get("cuda"):
        sdk = f"CUDA {b['cuda']}"
    elif b.get("sdk"):
        sdk = str(b["sdk"])
    py = fingerprint.get("python")
    packages: Mapping[str, str] = {}
    py_version = None
    if isinstance(py, Mapping):
        packages = {_norm(k): v for k, v in (py.get("packages") or {}).items()}
        py_version = py.get("version")
    plugin = next((f"{name} {packages[name]}" for name in DEVICE_PLUGINS if name in packages), None)
    os_info = fingerprint.get("os")
    os_name = os_info.get("pretty_name") if isinstance(os_info, Mapping) else None
    image = fingerprint.get("image")
    image_id = image.get("digest") if isinstance(image, Mapping) else image
    count = b.get("count")
    return {
        "backend": b.get("name"),
        "device_model": ", ".join(models) if models else b.get("model"),
        "device_count": None if count is None else str(count),
        "driver": b.get("driver"),
        "sdk": sdk,
        "torch": packages.get("torch"),
        "device_plugin": plugin,
        "python": py_version,
        "image": image_id,
        "os": os_name,
        "harness": fingerprint.get("harness"),
    }


def drift(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[EnvChange]:
    """The stack components that differ between two run fingerprints, in display order."""
    a, b = stack_summary(before), stack_summary(after)
    return [EnvChange(k, a[k], b[k]) for k in STACK_KEYS if a[k] != b[k]]
