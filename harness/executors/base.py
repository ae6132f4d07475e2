"""What every executor provides: a session per cell that runs steps somewhere.

The runner does not care whether a step runs on the host in a virtualenv, in a container
or on a far-away runner; it opens an :class:`ExecutionSession` for the cell, runs the
setup steps unless the session says its environment is already built, then the build and
test steps, and reads result files from ``results_dir`` on this machine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.backends.target import BackendTarget
from harness.config.suite import BackendRecipe, Phase, Step, Suite
from harness.executors.process import StepOutcome
from harness.matrix import Cell


@dataclass(frozen=True, slots=True)
class CellContext:
    """Everything an executor needs to run one cell."""

    cell: Cell
    suite: Suite
    recipe: BackendRecipe
    source_dir: Path
    results_dir: Path
    log_dir: Path
    args: str = ""
    #: where the suite's companion repositories are checked out (one directory per name)
    repos_dir: Path | None = None
    #: the backend and devices the cell runs on (a container executor exposes the devices
    #: with ``target.backend.container_options(target.devices)`` and uses the environment
    #: of ``target.for_container()``, where device indices restart at 0)
    target: BackendTarget | None = None
    #: the backend's environment (suite targeting, device pinning, shard variables)
    backend_env: dict[str, str] = field(default_factory=dict)
    #: the backend's recipe variables ({device}, {devices}, {device_count})
    backend_vars: dict[str, str] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    pass_env: tuple[str, ...] = ()
    #: how many times failed tests are re-run after the test steps (0: never)
    reruns: int = 0
    on_line: Callable[[str], None] | None = None


@dataclass(frozen=True, slots=True)
class Rerun:
    """A test step run again for its failed tests: the same command, writing its result
    files to ``results_dir`` instead, with ``env`` added (the selection: see
    :mod:`harness.rerun`), logging to ``<log>.rerun<attempt>.log``."""

    attempt: int
    results_dir: Path
    env: dict[str, str] = field(default_factory=dict)


class ExecutionSession(Protocol):
    #: Whether the dependency environment is already built (setup steps are skipped).
    environment_ready: bool

    def run_step(
        self, step: Step, phase: Phase, index: int, rerun: Rerun | None = None
    ) -> StepOutcome: ...

    def mark_environment_ready(self) -> None: ...

    def fingerprint(self) -> dict[str, Any]: ...


class Executor(Protocol):
    name: str

    def session(self, ctx: CellContext) -> contextlib.AbstractContextManager[ExecutionSession]: ...


def step_log_path(
    log_dir: Path, phase: Phase, index: int, step: Step, rerun: Rerun | None = None
) -> Path:
    suffix = f".rerun{rerun.attempt}" if rerun is not None else ""
    return log_dir / f"{phase.value}-{index:02d}-{step.name}{suffix}.log"


@contextlib.contextmanager
def nullsession(session: ExecutionSession) -> Iterator[ExecutionSession]:
    yield session
