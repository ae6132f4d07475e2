"""Two executors that run host cells like the built-in ``local`` one, and keep a journal.

``journal`` declares no capabilities: it is no sandbox, whatever else it says (its
``isolates_untrusted`` attribute is the old way of claiming it and counts for nothing).
``pretend-vm`` declares VM isolation, so the harness gives it untrusted code: a real VM
executor would start a machine per cell here; this one exists to show that the declared
isolation is what the harness goes by.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness.config.suite import Phase, Step
from harness.executors.base import ANY_DEVICE, Capabilities, CellContext, Isolation, Rerun
from harness.executors.leftovers import Reaped
from harness.executors.local import LocalExecutor, LocalSession
from harness.executors.process import StepOutcome


class JournalSession:
    def __init__(self, inner: LocalSession, journal: Path, name: str) -> None:
        self.inner = inner
        self.journal = journal
        self.name = name
        self.environment_ready = inner.environment_ready

    def run_step(
        self, step: Step, phase: Phase, index: int, rerun: Rerun | None = None
    ) -> StepOutcome:
        with self.journal.open("a", encoding="utf-8") as f:
            f.write(f"{self.name} {phase.value} {step.name}\n")
        return self.inner.run_step(step, phase, index, rerun)

    def mark_environment_ready(self) -> None:
        self.inner.mark_environment_ready()
        self.environment_ready = True

    def fingerprint(self) -> dict[str, Any]:
        return {**self.inner.fingerprint(), "executor": self.name}


class JournalExecutor:
    """Host cells in a virtualenv, each step written to ``<cache>/executor-journal.log``."""

    name = "journal"
    isolates_untrusted = True  # not a declaration: the harness ignores it

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self.local = LocalExecutor(cache_dir)

    def reap(self, store_key: str, is_running: Callable[[int], bool]) -> Reaped:
        return self.local.reap(store_key, is_running)

    @contextlib.contextmanager
    def session(self, ctx: CellContext) -> Iterator[JournalSession]:
        env = {**ctx.extra_env, "EXAMPLE_EXECUTOR": self.name}
        with self.local.session(dataclasses.replace(ctx, extra_env=env)) as inner:
            yield JournalSession(inner, self.cache_dir / "executor-journal.log", self.name)


class PretendVmExecutor(JournalExecutor):
    name = "pretend-vm"
    capabilities = Capabilities(isolation=Isolation.VM, cells="host", devices=(ANY_DEVICE,))
