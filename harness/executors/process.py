"""Run one shell step as its own process group, with a timeout that kills the whole group.

Output (stdout and stderr merged) is streamed to a log file and, line by line, to a
callback for live display (:class:`harness.steplog.StepLog`: linear whatever the line
lengths, lines cut for the display, the log capped with a note). On timeout the group
gets SIGTERM, then SIGKILL after a grace period, so a test that forked children or hangs
in C code is still stopped. On Ctrl-C
(KeyboardInterrupt in the calling thread) the group is killed the same way before the
interrupt propagates.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness import failpoints
from harness.errors import StepError
from harness.steplog import StepLog

#: Seconds between SIGTERM and SIGKILL when a step is stopped.
KILL_GRACE_S = 5.0
#: Lines kept in memory for the tail shown in error messages.
TAIL_LINES = 40


@dataclass(frozen=True, slots=True)
class StepOutcome:
    exit_code: int | None  # None when killed by a signal
    signal: int | None
    timed_out: bool
    duration_s: float
    log_path: Path
    tail: tuple[str, ...]
    #: an infrastructure cause the executor knows (a container OOM-killed at its memory
    #: limit); the step's failure is then the infrastructure's, not the tests'
    infra_reason: str | None = None
    #: where this step's result files are on this machine (None: it has none)
    results_dir: Path | None = None
    #: result files the harness would not take, each "NAME: why"
    refused: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and self.infra_reason is None

    def describe(self) -> str:
        if self.infra_reason:
            return self.infra_reason
        if self.timed_out:
            return f"timed out after {self.duration_s:.0f} s"
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"killed by {name}"
        return f"exited with code {self.exit_code}"


def _kill_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    # the leader may be gone while children live on: kill the group regardless
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_command(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    log_path: Path,
    on_line: Callable[[str], None] | None = None,
    header: str | None = None,
    kill_grace_s: float = KILL_GRACE_S,
    failpoint: str | None = None,
) -> StepOutcome:
    """Run ``argv`` in a new session; see the module docstring."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    start = time.monotonic()
    with log_path.open("ab") as log:
        if header:
            log.write(header.encode() + b"\n")
            log.flush()
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise StepError(f"cannot start {argv[0]!r} in {cwd}: {exc.strerror or exc}") from exc

        out = StepLog(log, tail, on_line)

        def _pump() -> None:
            assert proc.stdout is not None
            fd = proc.stdout.fileno()
            try:
                while chunk := os.read(fd, 1 << 16):
                    out.feed(chunk)
            finally:
                out.close()

        reader = threading.Thread(target=_pump, name="step-log", daemon=True)
        reader.start()
        if failpoint is not None:
            failpoints.hit(failpoint)  # the step runs on without us (a test's fault)
        timed_out = False
        try:
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc, kill_grace_s)
                proc.wait()
        except BaseException:  # KeyboardInterrupt, SystemExit: never leave the group behind
            _kill_group(proc, kill_grace_s)
            proc.wait()
            reader.join(timeout=2)
            raise
        # Children that inherited stdout may keep the pipe open after the leader exits;
        # kill what is left of the group so the reader sees EOF.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        reader.join(timeout=10)
        if timed_out:
            log.write(f"\n[harness] step timed out after {timeout_s:.0f} s; killed\n".encode())
    code = proc.returncode
    return StepOutcome(
        exit_code=code if code is not None and code >= 0 else None,
        signal=-code if code is not None and code < 0 else None,
        timed_out=timed_out,
        duration_s=time.monotonic() - start,
        log_path=log_path,
        tail=tuple(tail),
    )
