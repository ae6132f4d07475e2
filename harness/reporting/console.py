"""Live progress and the end-of-job table, on stderr (stdout is kept for ``--json``).

On a terminal each running cell shows a spinner, its current step, the elapsed time and
the last line of output. Elsewhere (CI logs, pipes) every step start and end is one plain
line with its duration, so logs stay readable.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.config.suite import Phase, Step
from harness.executors.process import StepOutcome
from harness.matrix import Cell
from harness.results.model import OUTCOMES
from harness.runner import RunStatus, RunSummary

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


def summary_table(runs: Sequence[RunSummary]) -> Table:
    table = Table(title="harness run", title_justify="left")
    table.add_column("cell")
    table.add_column("run", justify="right")
    table.add_column("status")
    table.add_column("sha")
    for o in OUTCOMES:
        table.add_column(o.value, justify="right")
    table.add_column("time", justify="right")
    for r in runs:
        style = STATUS_STYLE[r.status]
        table.add_row(
            r.cell.id,
            str(r.run_id),
            f"[{style}]{r.status.value}[/]",
            (r.sha or "-")[:12],
            *(str(r.counts[o.value]) for o in OUTCOMES),
            f"{r.duration_s:.1f}s",
        )
    return table
