"""What to do next, for failures that have a usual cause.

A run that fails for a reason a newcomer meets first (no route to github.com, no torch
wheel on the index this machine reaches, a backend that is not usable here) says what
to try, in its reason, beside what happened: :func:`next_step` recognises the cause in
the error text or a failed step's last lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"could not resolve host|failed to connect to|network is unreachable|"
            r"connection timed out|no route to host|unable to access 'https?://",
            re.IGNORECASE,
        ),
        "no route to the upstream from here: run from a local checkout with --source "
        "DIR|URL, or set HARNESS_MIRRORS to the mirror this machine reaches (README: Mirrors)",
    ),
    (
        re.compile(
            r"no matching distribution found for (torch|torchvision|torchaudio|torch[_-]npu)\b|"
            r"could not find a version that satisfies the requirement "
            r"(torch|torchvision|torchaudio|torch[_-]npu)\b",
            re.IGNORECASE,
        ),
        "the torch packages are not on the index this machine reaches: set "
        "HARNESS_TORCH_INDEX_URL (empty: pip's own configuration) and HARNESS_TORCH_PACKAGES "
        "to a matching torch/torchvision/torchaudio set, or install from a local wheel "
        "folder (README: Heavy installs from a local wheel folder)",
    ),
    (
        re.compile(r"torchvision::nms does not exist|operator torchvision::", re.IGNORECASE),
        "torch and torchvision are not one release's set: pin a matching set in "
        'HARNESS_TORCH_PACKAGES, e.g. "torch==2.11.0 torchvision==0.26.0 torchaudio==2.11.0"',
    ),
    (
        re.compile(r"backend '[^']+' is not usable here|not usable here", re.IGNORECASE),
        "`harness doctor` says what this machine lacks for it",
    ),
)


def next_step(texts: Iterable[str]) -> str | None:
    """The next step for the first usual cause found in ``texts``, or None."""
    joined = "\n".join(texts)
    for pattern, advice in _CAUSES:
        if pattern.search(joined):
            return advice
    return None


def with_next_step(reason: str, texts: Iterable[str]) -> str:
    """``reason``, then ``; next: …`` when a usual cause is found in ``texts``."""
    advice = next_step(texts)
    return f"{reason}; next: {advice}" if advice and advice not in reason else reason
