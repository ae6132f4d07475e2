"""Operators a torch device plugin ran on the CPU instead, read from a run's logs.

torch_npu (and PyTorch's other out-of-tree and MPS backends) warn once per operator when
it has no kernel for the device and falls back to the CPU::

    [W VariableFallbackKernel.cpp:51] Warning: CAUTION: The operator
    'aten::isin.Tensor_Tensor_out' is not currently supported on the NPU backend and will
    fall back to run on the CPU. This may have performance implications.
    (function npu_cpu_fallback)

(one line in a log; ``[rankN]:`` prefixes and timestamps vary). A test that passes only
because its operators ran on the CPU is not NPU coverage, so the harness counts these per
run: which operators, on which backend, how often the warning appeared.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

FALLBACK = re.compile(
    r"The operator '(?P<op>[^']+)' is not currently supported on the (?P<backend>\w+) "
    r"backend and will fall back to run on the CPU"
)


def scan_fallbacks(lines: Iterable[str]) -> Counter[tuple[str, str]]:
    """(backend, operator) → number of warnings, over ``lines``."""
    found: Counter[tuple[str, str]] = Counter()
    for line in lines:
        if "fall back to run on the CPU" not in line:  # cheap pre-check per line
            continue
        for m in FALLBACK.finditer(line):
            found[(m.group("backend").lower(), m.group("op"))] += 1
    return found


def scan_log_files(paths: Iterable[Path]) -> Counter[tuple[str, str]]:
    """The same over log files, read line by line (logs can be large)."""
    total: Counter[tuple[str, str]] = Counter()
    for path in paths:
        with path.open(encoding="utf-8", errors="replace") as f:
            total.update(scan_fallbacks(f))
    return total
