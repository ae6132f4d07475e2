"""Small helpers backends use to run their host tools and read version files."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOOL_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class ToolOutput:
    ok: bool
    stdout: str
    error: str | None  # why it did not run or failed


def run_tool(argv: list[str], *, timeout_s: float = TOOL_TIMEOUT_S) -> ToolOutput:
    """Run a host tool found on PATH; never raises."""
    exe = shutil.which(argv[0])
    if exe is None:
        return ToolOutput(False, "", f"{argv[0]} not found on PATH")
    try:
        proc = subprocess.run(
            [exe, *argv[1:]], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return ToolOutput(False, "", f"{' '.join(argv)} did not answer within {timeout_s:.0f} s")
    except OSError as exc:
        return ToolOutput(False, "", f"{' '.join(argv)} could not run: {exc.strerror or exc}")
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        return ToolOutput(
            False, proc.stdout, f"{' '.join(argv)} exited {proc.returncode}: {tail[0]}"
        )
    return ToolOutput(True, proc.stdout, None)


def read_key_values(path: Path, sep: str = "=") -> dict[str, str]:
    """``key=value`` lines of a small file; {} when it cannot be read."""
    out: dict[str, str] = {}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        key, s, value = line.partition(sep)
        if s and key.strip():
            out[key.strip()] = value.strip()
    return out


_PY_IMPORT_PROBE = r"""
import importlib, json, sys
out = {"python": sys.version.split()[0]}
for mod in sys.argv[1:]:
    try:
        m = importlib.import_module(mod)
        out[mod] = {"ok": True, "version": getattr(m, "__version__", None)}
    except BaseException as exc:
        out[mod] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        break
print(json.dumps(out))
"""


def probe_python_imports(python: str, modules: list[str], extra: str = "") -> dict[str, Any]:
    """Import ``modules`` in order in interpreter ``python``; stops at the first failure.

    ``extra`` is Python code appended to the probe (it may add keys to ``out``).
    """
    code = _PY_IMPORT_PROBE.replace("print(json.dumps(out))", extra + "\nprint(json.dumps(out))")
    try:
        proc = subprocess.run(
            [python, "-c", code, *modules],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": f"cannot run {python}: {exc}"}
    try:
        data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"{python} failed: {proc.stderr.strip()[-300:]}"}
    return data
