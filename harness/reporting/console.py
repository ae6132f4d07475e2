"""Live progress and the end-of-job table, on stderr (stdout is kept for ``--json``).

On a terminal each running cell shows a spinner, its current step, the elapsed time and
the last line of output. Elsewhere (CI logs, pipes) every step start and end is one plain
line with its duration, so logs stay readable.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.config.suite import Phase, Step
from harness.executors.process import StepOutcome
from harness.matrix import Cell
from harness.results.model import OUTCOMES
from harness.runner import RunStatus, RunSummary
from harness.store import models

STATUS_STYLE = {
    RunStatus.PASSED: "green",
    RunStatus.FAILED: "red",
    RunStatus.CRASHED: "magenta",
    RunStatus.ERROR: "bold red",
    RunStatus.TIMEOUT: "yellow",
    RunStatus.CANCELLED: "dim",
}


class ConsoleDisplay:
    def __init__(self, console: Console | None = None, *, live: bool | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal if live is None else live
        self._progress: Progress | None = None
        self._tasks: dict[Cell, TaskID] = {}

    def __enter__(self) -> ConsoleDisplay:
        if self.live:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.fields[cell]}[/]"),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                TextColumn("[dim]{task.fields[last]}[/]"),
                console=self.console,
                transient=True,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def _print(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)

    def cell_started(self, cell: Cell) -> None:
        if self._progress is not None:
            self._tasks[cell] = self._progress.add_task("preparing", cell=cell.id, last="")
        else:
            self._print(f"[bold]{cell.id}[/]: starting")

    def step_started(self, cell: Cell, phase: Phase, step: Step) -> None:
        if self._progress is not None:
            self._progress.update(self._tasks[cell], description=f"{phase.value} {step.name}")
        else:
            self._print(f"{cell.id}: {phase.value} step '{escape(step.name)}' started")

    def step_finished(self, cell: Cell, phase: Phase, step: Step, outcome: StepOutcome) -> None:
        mark = "[green]ok[/]" if outcome.ok else f"[red]{outcome.describe()}[/]"
        self._print(
            f"{cell.id}: {phase.value} step '{escape(step.name)}' {mark} "
            f"({outcome.duration_s:.1f}s, log {outcome.log_path})"
        )

    def note(self, cell: Cell, text: str) -> None:
        self._print(f"{cell.id}: [dim]{escape(text)}[/]")

    def line(self, cell: Cell, text: str) -> None:
        if self._progress is not None and cell in self._tasks:
            self._progress.update(self._tasks[cell], last=escape(text.strip()[:80]))

    def cell_finished(self, summary: RunSummary) -> None:
        if self._progress is not None and summary.cell in self._tasks:
            self._progress.remove_task(self._tasks.pop(summary.cell))
        style = STATUS_STYLE[summary.status]
        reason = f": {escape(summary.reason)}" if summary.reason else ""
        self._print(
            f"[bold]{summary.cell.id}[/]: [{style}]{summary.status.value}[/]{reason} "
            f"(run {summary.run_id}, {summary.duration_s:.1f}s)"
        )


def status_label(run: RunSummary) -> str:
    """The status as every report says it (:func:`harness.store.models.status_label`)."""
    return models.status_label(run.status.value, run.failing, run.explained)


def counts_text(counts: dict[str, int], sep: str = "\n") -> str:
    """The non-zero counts in outcome order, one per line: ``4 passed`` / ``1 failed``."""
    return sep.join(f"{counts[o.value]} {o.value}" for o in OUTCOMES if counts.get(o.value))


def narrow_table(title: str | None, cells: list[str]) -> Table:
    """A table that reads at 80 columns and piped: the cell id whole (folded only when it
    is wider than the terminal), its details below it, the counts one per line."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("cell", overflow="fold", min_width=min(40, max(map(len, cells), default=4)))
    table.add_column("status", overflow="fold")
    table.add_column("results", overflow="fold")
    return table


def summary_table(runs: Sequence[RunSummary]) -> Table:
    """The job's table (see :func:`narrow_table`)."""
    table = narrow_table("harness run", [r.cell.id for r in runs])
    for r in runs:
        style = "yellow" if r.conclusion == "success" and r.explained else STATUS_STYLE[r.status]
        details = f"run {r.run_id} · {(r.sha or '-')[:8]} · {r.duration_s:.1f}s"
        table.add_row(
            f"{r.cell.id}\n[dim]{details}[/]",
            f"[{style}]{status_label(r)}[/]",
            counts_text(r.counts) or "no tests",
        )
    return table
