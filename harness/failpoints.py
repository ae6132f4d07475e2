"""Failpoints: named places where a fault-injection test makes the harness fail on purpose.

Exactly-once claims are only as good as the test that kills the process at the worst
moment. Timing a ``SIGKILL`` from outside cannot hit "after GitHub accepted the report,
before the outbox marked it sent", so the places that matter are named here and
``HARNESS_FAILPOINTS`` arms them in one process::

    HARNESS_FAILPOINTS="sender.posted.final=kill"
    HARNESS_FAILPOINTS="worker.claimed=kill,ingest.stored=raise"

Actions: ``kill`` (``SIGKILL`` itself: no ``finally``, no atexit, as a power cut or the OOM
killer would), ``raise`` (a :class:`FailpointError`, for code that must survive a bug),
``sleep(S)`` (stall S seconds, as a frozen process would), ``until(PATH)`` (stall until
the file PATH exists, at most an hour: a test holds the process at the failpoint, checks
what it must while it is held, then lets it go). Every hit is logged. Unset (always, outside tests)
every :func:`hit` is one dictionary lookup. The variable is the operator's: steps never
see it (executors never forward ``HARNESS_FAILPOINTS``), and untrusted code cannot set it.

The places (see where each is hit):

========================  ===========================================================
``worker.claimed``        a queue item leased, nothing checked out yet
``step.running.<phase>``  a step's process started (``setup``, ``build``, ``test``);
                          the step goes on without its worker
``ingest.stored``         a result file's results are in the store, the run not finished
``parse.sent``            a parser process sent a batch of results, not the rest
``results.unpacking``     ``POST /api/results``: an archive received, about to be unpacked
``sender.posting[.kind]`` an outbox entry about to be posted
``sender.posted[.kind]``  GitHub accepted it; the outbox does not know yet
``sender.posted.final``   the same, for a final status or check run
``sender.created.<kind>`` a comment or check run created, its id not kept yet
``bisect.probing``        a bisection's probe run about to start (its lease held)
========================  ===========================================================
"""

from __future__ import annotations

import logging
import os
import re
import signal
import time
from functools import cache

from harness import settings

ENV = settings.FAILPOINTS.name
_ACTION = re.compile(r"^(kill|raise|sleep\((\d+(?:\.\d+)?)\)|until\(([^(),]+)\))$")
#: the longest ``until(PATH)`` waits
UNTIL_CAP_S = 3600.0
log = logging.getLogger("harness.failpoints")


class FailpointError(RuntimeError):
    """Raised by a failpoint armed with ``raise``."""


@cache
def _armed(spec: str) -> dict[str, tuple[str, float, str]]:
    """Failpoint name → (action, seconds to sleep, file to wait for)."""
    armed: dict[str, tuple[str, float, str]] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, action = part.partition("=")
        m = _ACTION.match(action.strip())
        if not sep or m is None:
            raise ValueError(
                f"{ENV}: {part!r} is not NAME=kill, NAME=raise, NAME=sleep(SECONDS) "
                "or NAME=until(PATH)"
            )
        action = m.group(1).partition("(")[0]
        armed[name.strip()] = (action, float(m.group(2) or 0), m.group(3) or "")
    return armed


def hit(*names: str) -> None:
    """Fail here if one of ``names`` is armed (the first armed one acts)."""
    spec = settings.FAILPOINTS.get()
    if not spec:
        return
    armed = _armed(spec)
    for name in names:
        if name not in armed:
            continue
        action, seconds, path = armed[name]
        what = {"sleep": f"sleep({seconds:g})", "until": f"until({path})"}.get(action, action)
        log.warning("failpoint %s: %s", name, what)
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(60)  # the signal is delivered asynchronously; never run on
        if action == "raise":
            raise FailpointError(f"failpoint {name}")
        if action == "until":
            deadline = time.monotonic() + UNTIL_CAP_S
            while not os.path.exists(path) and time.monotonic() < deadline:
                time.sleep(0.05)
            return
        time.sleep(seconds)
        return
