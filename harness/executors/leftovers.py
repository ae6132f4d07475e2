"""What a dead attempt leaves running: found by its mark, stopped by the next worker.

Every step of a run carries the run's *mark*, ``<store key>:<run id>`` (the store's
``key`` names its database, so two services on one machine never touch each other's
runs): in its environment (``HARNESS_RUN_MARK``, inherited by every process the step starts) and
as a label on its containers (``org.accel-harness.run``).

A worker that is SIGKILLed cannot stop its steps: a test process would run on until its
timeout, holding devices and CPU, beside the retry. Once the store says the run is over
(its lease expired and the run was recorded ``crashed``), :func:`reap` (called by every
worker, on every machine, between items) finds the processes (``/proc/*/environ``, this
user's only) and containers with a mark of this store whose run is not ``running`` any
more, and kills them. Marks are checked against the store, never guessed from pids or
names, so a process that merely reuses a dead step's pid is left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MARK_ENV = "HARNESS_RUN_MARK"
MARK_LABEL = "org.accel-harness.run"
_PROC = Path("/proc")


def run_mark(key: str, run_id: int) -> str:
    return f"{key}:{run_id}"


def _parse(mark: str, key: str) -> int | None:
    store, _, run = mark.partition(":")
    if store != key or not run.isdigit():
        return None
    return int(run)


def marked_processes(key: str) -> dict[int, list[int]]:
    """run id → pids of this user's processes that carry a mark of store ``key``."""
    found: dict[int, list[int]] = {}
    needle = f"{MARK_ENV}={key}:".encode()
    me = os.getpid()
    for entry in _proc_entries():
        pid = int(entry.name)
        if pid == me:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or another user's
            continue
        if needle not in environ:
            continue
        for var in environ.split(b"\0"):
            if var.startswith(needle):
                run = _parse(var.decode(errors="replace").partition("=")[2], key)
                if run is not None:
                    found.setdefault(run, []).append(pid)
    return found


def _proc_entries() -> Iterator[Path]:
    with contextlib.suppress(OSError):
        for entry in _PROC.iterdir():
            if entry.name.isdigit():
                yield entry


def kill_processes(pids: list[int]) -> int:
    """SIGKILL the process groups of ``pids`` (steps run in groups of their own), and
    the processes themselves; returns how many groups or processes were signalled."""
    own = os.getpgid(0)
    killed = 0
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            group = os.getpgid(pid)
            if group != own:
                os.killpg(group, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed


@dataclass(slots=True)
class Reaped:
    """What :func:`reap` stopped, per run id."""

    processes: dict[int, int] = field(default_factory=dict)
    containers: dict[int, int] = field(default_factory=dict)

    @property
    def runs(self) -> list[int]:
        return sorted({*self.processes, *self.containers})


def reap(key: str, is_running: Any, engine: Any | None = None) -> Reaped:
    """Stop the processes (and, with ``engine``, the containers) of this store's runs
    for which ``is_running(run_id)`` is false (module docstring)."""
    reaped = Reaped()
    verdicts: dict[int, bool] = {}

    def over(run_id: int) -> bool:
        if run_id not in verdicts:
            verdicts[run_id] = not is_running(run_id)
        return verdicts[run_id]

    for run_id, pids in marked_processes(key).items():
        if over(run_id):
            reaped.processes[run_id] = kill_processes(pids)
    if engine is not None:
        for container in engine.client.containers.list(all=True, filters={"label": [MARK_LABEL]}):
            owner = _parse(container.labels.get(MARK_LABEL, ""), key)
            if owner is None or not over(owner):
                continue
            with contextlib.suppress(Exception):  # gone meanwhile
                container.remove(force=True)
                reaped.containers[owner] = reaped.containers.get(owner, 0) + 1
        # then what those containers used: the work volume, an egress network
        for kind in (engine.client.volumes, engine.client.networks):
            for thing in kind.list(filters={"label": [MARK_LABEL]}):
                owner = _parse((thing.attrs.get("Labels") or {}).get(MARK_LABEL, ""), key)
                if owner is not None and over(owner):
                    with contextlib.suppress(Exception):
                        thing.remove()
    return reaped
