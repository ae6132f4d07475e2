"""Failpoints: named places where a fault-injection test makes the harness fail on purpose.

Exactly-once claims are only as good as the test that kills the process at the worst
moment. Timing a ``SIGKILL`` from outside cannot hit "after GitHub accepted the report,
before the outbox marked it sent", so the places that matter are named here and
``HARNESS_FAILPOINTS`` arms them in one process::

    HARNESS_FAILPOINTS="sender.posted.final=kill"
    HARNESS_FAILPOINTS="worker.claimed=kill,ingest.stored=raise"

Actions: ``kill`` (``SIGKILL`` itself: no ``finally``, no atexit, as a power cut or the OOM
killer would), ``raise`` (a :class:`FailpointError`, for code that must survive a bug),
``sleep(S)`` (stall S seconds, as a frozen process would). Unset (always, outside tests)
every :func:`hit` is one dictionary lookup. The variable is the operator's: steps never
see it (executors never forward ``HARNESS_FAILPOINTS``), and untrusted code cannot set it.

The places (see where each is hit):

========================  ===========================================================
``worker.claimed``        a queue item leased, nothing checked out yet
``step.running.<phase>``  a step's process started (``setup``, ``build``, ``test``);
                          the step goes on without its worker
``ingest.stored``         a result file's results are in the store, the run not finished
``sender.posting[.kind]`` an outbox entry about to be posted
``sender.posted[.kind]``  GitHub accepted it; the outbox does not know yet
``sender.posted.final``   the same, for a final status or check run
``sender.created.<kind>`` a comment or check run created, its id not kept yet
========================  ===========================================================
"""

from __future__ import annotations

import os
import re
import signal
import time
from functools import cache

ENV = "HARNESS_FAILPOINTS"
_ACTION = re.compile(r"^(kill|raise|sleep\((\d+(?:\.\d+)?)\))$")


class FailpointError(RuntimeError):
    """Raised by a failpoint armed with ``raise``."""


@cache
def _armed(spec: str) -> dict[str, tuple[str, float]]:
    """Failpoint name → (action, seconds to sleep)."""
    armed: dict[str, tuple[str, float]] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, action = part.partition("=")
        m = _ACTION.match(action.strip())
        if not sep or m is None:
            raise ValueError(f"{ENV}: {part!r} is not NAME=kill, NAME=raise or NAME=sleep(SECONDS)")
        armed[name.strip()] = (m.group(1).partition("(")[0], float(m.group(2) or 0))
    return armed


def hit(*names: str) -> None:
    """Fail here if one of ``names`` is armed (the first armed one acts)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    armed = _armed(spec)
    for name in names:
        if name not in armed:
            continue
        action, seconds = armed[name]
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(60)  # the signal is delivered asynchronously; never run on
        if action == "raise":
            raise FailpointError(f"failpoint {name}")
        time.sleep(seconds)
        return
