"""The ``{variable}`` substitution used in step commands.

Only known lowercase names in single braces are replaced, so shell syntax such as
``${HOME}``, ``{a,b}`` brace expansion or awk's ``{print $1}`` passes through untouched.
Every variable is also exported to the step as ``HARNESS_<NAME>`` so scripts can use the
shell form instead.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

#: name → meaning; the order is the documentation order.
KNOWN_VARIABLES: dict[str, str] = {
    "source_dir": "root of the upstream checkout",
    "results_dir": "directory where test steps write result files",
    "repos_dir": "directory holding the suite's companion repositories, one per name",
    "python": "the cell environment's Python interpreter",
    "pip": "the installer command for the cell environment: `uv pip` (installer: uv) or "
    "`<python> -m pip` (installer: pip); use as `{pip} install ...`, `{pip} freeze`",
    "args": "selection arguments (a subset's args, --test-args, or default_args)",
    "backend": "backend name (cpu, npu, cuda, ...)",
    "device": "torch device type of the backend (cpu, npu, cuda, or a plugin's)",
    "devices": "logical indices of the devices the cell may use, comma-separated (0,1,2,3)",
    "device_count": "how many devices the cell may use (cpu: cores)",
    "cell": "the cell id, e.g. comfyui/cpu/host",
    "jobs": "number of CPU cores available to the cell",
}

_VAR_RE = re.compile(r"(?<![$\\{]){([a-z_][a-z0-9_]*)}(?!})")


def unknown_variables(text: str) -> str | None:
    """A message naming unknown ``{variables}`` in ``text``, or ``None``."""
    problems = []
    for name in sorted({m.group(1) for m in _VAR_RE.finditer(text)}):
        if name not in KNOWN_VARIABLES:
            close = difflib.get_close_matches(name, KNOWN_VARIABLES, n=1)
            hint = f"; did you mean {{{close[0]}}}?" if close else ""
            problems.append(f"unknown variable {{{name}}}{hint}")
    if not problems:
        return None
    known = ", ".join(f"{{{v}}}" for v in KNOWN_VARIABLES)
    return "; ".join(problems) + f" (known: {known})"


def render(text: str, values: Mapping[str, str]) -> str:
    """Replace known ``{variables}``; a known variable without a value becomes ''."""

    def _sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in KNOWN_VARIABLES:
            return values.get(name, "")
        return m.group(0)

    return _VAR_RE.sub(_sub, text)


def as_environment(values: Mapping[str, str]) -> dict[str, str]:
    """``{"results_dir": "/x"}`` → ``{"HARNESS_RESULTS_DIR": "/x"}``."""
    return {f"HARNESS_{k.upper()}": v for k, v in values.items() if k in KNOWN_VARIABLES}
