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
from pathlib import Path
from typing import Any

from harness import __version__

_PY_PROBE = r"""
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
            [python, "-c", _PY_PROBE],
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
