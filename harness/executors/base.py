"""What every executor provides: a session per cell that runs steps somewhere.

The runner does not care whether a step runs on the host in a virtualenv, in a container
or on a far-away runner; it opens an :class:`ExecutionSession` for the cell, runs the
setup steps unless the session says its environment is already built, then the build and
test steps, and reads each test step's result files from the directory on this machine
its :class:`StepOutcome` names (``results_dir/<step key>``): a directory the step wrote
itself (local) or one the harness filled by copying out of the container (docker).

An executor declares what it can do as data (:class:`Capabilities`: its isolation, the
cells it runs, the devices it can give a step, whether it runs elsewhere). Whether it may
run an untrusted author's code is derived from its declared isolation
(:func:`isolates_untrusted`): an executor that declares nothing is no sandbox, and the
runner and the service's worker never give it untrusted code.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol

from harness.backends.target import BackendTarget
from harness.config.suite import BackendRecipe, Phase, Step, Suite
from harness.executors.leftovers import Reaped
from harness.executors.process import StepOutcome
from harness.executors.provenance import Provenance
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
    #: who wrote the code and where it is (trust, environment reuse)
    provenance: Provenance = field(default_factory=Provenance)
    #: where the harness writes files for steps (rerun selections): a directory no step
    #: writes (mounted read-only into containers); default ``<results_dir>.inputs``
    inputs_dir: Path | None = None
    #: the run's mark (:mod:`harness.executors.leftovers`): in every step's environment
    #: and on its containers, so what a dead attempt left running can be found
    run_mark: str = ""
    #: resolve dependencies as of this UTC time (uv's exclude-newer), or None; and what
    #: asked for it (``commit``, a date given by the operator or the suite)
    exclude_newer: str | None = None
    resolve_as_of: str = "none"

    @property
    def installer(self) -> str:
        """What ``{pip}`` runs: the backend recipe's installer, else the suite's."""
        return self.recipe.installer or self.suite.installer

    @property
    def step_inputs_root(self) -> Path:
        return self.inputs_dir or self.results_dir.with_name(self.results_dir.name + ".inputs")


@dataclass(frozen=True, slots=True)
class Rerun:
    """A test step run again for its failed tests: the same command, narrowed to
    ``test_ids`` (the selection for result format ``fmt``: see :mod:`harness.rerun`),
    with its own result directory and log (``<step key>.rerun<attempt>``)."""

    attempt: int
    fmt: str
    test_ids: tuple[str, ...]
    #: the PYTEST_ADDOPTS the recipe sets, kept in front of the selection plugin
    prior_addopts: str | None = None


class Isolation(StrEnum):
    """How an executor keeps a step from the machine it runs on."""

    #: steps run as the harness's user on this machine (its files, network, credentials)
    NONE = "none"
    #: each step in a container: non-root, no host mounts, confined network, limits
    CONTAINER = "container"
    #: each cell in a virtual machine of its own
    VM = "vm"


#: the isolations that contain an untrusted author's code
SANDBOXES = frozenset({Isolation.CONTAINER, Isolation.VM})
#: ``Capabilities.devices`` of an executor that can give a step any backend's devices
ANY_DEVICE = "*"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an executor declares it can do (its class's ``capabilities`` attribute).

    The defaults are the least an executor can do: no isolation, host cells, no devices
    (cpu cells only), on this machine.
    """

    isolation: Isolation = Isolation.NONE
    #: which cells it runs: ``host`` (the host variant, on a prepared machine) or
    #: ``image`` (image variants of images/matrix.yaml, in their image)
    cells: Literal["host", "image"] = "host"
    #: the backends whose devices it can give a step (``*``: any); cpu needs none
    devices: tuple[str, ...] = ()
    #: whether steps run on another machine than the harness's
    remote: bool = False

    @property
    def isolates_untrusted(self) -> bool:
        return self.isolation in SANDBOXES

    def passes_devices(self, backend: str) -> bool:
        """Whether a cell on ``backend`` gets its devices from this executor."""
        return backend == "cpu" or ANY_DEVICE in self.devices or backend in self.devices

    def as_json(self) -> dict[str, Any]:
        return {
            "isolation": self.isolation.value,
            "isolates_untrusted": self.isolates_untrusted,
            "cells": self.cells,
            "devices": list(self.devices),
            "remote": self.remote,
        }


def capabilities_of(executor: object) -> Capabilities:
    """The capabilities ``executor`` (an instance or its class) declares; the defaults
    (no isolation) for one that declares none."""
    declared = getattr(executor, "capabilities", None)
    return declared if isinstance(declared, Capabilities) else Capabilities()


def isolates_untrusted(executor: object) -> bool:
    """Whether ``executor`` may run an untrusted author's code: only when it declares an
    isolation that contains it (an ``isolates_untrusted`` attribute alone does not count)."""
    return capabilities_of(executor).isolates_untrusted


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
    #: what it can do; its isolation decides whether it gets untrusted code (contained:
    #: no host write/read/exec, no credentials, confined network)
    capabilities: Capabilities

    def session(self, ctx: CellContext) -> contextlib.AbstractContextManager[ExecutionSession]: ...

    def reap(self, store_key: str, is_running: Callable[[int], bool]) -> Reaped:
        """Stop what runs of store ``store_key`` that are over left running on this
        machine (:mod:`harness.executors.leftovers`)."""
        ...


def step_key(phase: Phase, index: int, step: Step, rerun: Rerun | None = None) -> str:
    """``test-00-unit`` (``.rerun1``): names a step's log and its result directory."""
    suffix = f".rerun{rerun.attempt}" if rerun is not None else ""
    return f"{phase.value}-{index:02d}-{step.name}{suffix}"


def step_log_path(
    log_dir: Path, phase: Phase, index: int, step: Step, rerun: Rerun | None = None
) -> Path:
    return log_dir / f"{step_key(phase, index, step, rerun)}.log"


def fresh_dir(path: Path) -> Path:
    """``path`` as a new, empty directory of the harness's (an old one is removed)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    path.mkdir(mode=0o755, parents=True)
    return path


@contextlib.contextmanager
def nullsession(session: ExecutionSession) -> Iterator[ExecutionSession]:
    yield session
