"""The ``harness`` command line.

Exit codes (also in the README):
  0  every selected cell passed
  1  test failures in at least one cell
  2  configuration error (bad suite file, unknown pattern, bad option)
  3  infrastructure error (a step, git, the store; a run crashed, timed out or errored)
  4  internal error: a bug in the harness (traceback on stderr, or in the run's
     harness-error.log); the run in progress is recorded as error
  130 interrupted; runs in progress are recorded as cancelled
"""

from __future__ import annotations

import importlib
import sys
import traceback

import click
from rich.console import Console

from harness import __version__
from harness.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, HarnessError

EPILOG = """\b
Exit codes: 0 all passed; 1 test failures; 2 configuration error;
3 infrastructure error (setup/build failed, missing or cut-short result files,
timeouts, crashes); 4 internal error (a bug in the harness); 130 interrupted.
"""


#: every command: where it lives (imported only when it is run, so that ``--help`` and
#: ``--version`` start in a few tens of milliseconds) and its one-line help
#: (tests/cli/test_startup.py checks that each line is the command's own).
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("harness.cli.run_cmd:run", "Run the cells matching PATTERNS and record every result."),
    "bisect": (
        "harness.cli.bisect_cmd:bisect",
        "Find the upstream commit that first broke a cell's tests (flake-aware).",
    ),
    "doctor": (
        "harness.cli.doctor_cmd:doctor",
        "Show which backends are usable here, and what to do for the others.",
    ),
    "ingest": (
        "harness.cli.ingest_cmd:ingest",
        "Load result bundles (from `harness run --bundle`) into the database.",
    ),
    "results": ("harness.cli.results_cmd:results", "Result bundles between machines."),
    "attest": (
        "harness.cli.attest_cmd:attest",
        "Signed attestations of runs: keys, registration, verification.",
    ),
    "runs": ("harness.cli.runs_cmd:runs", "Read the history of runs."),
    "matrix": ("harness.cli.matrix_cmd:matrix", "Cells: suite/backend/variant."),
    "schema": ("harness.cli.schema_cmd:schema", "Print the JSON Schema of suite files."),
    "suites": ("harness.cli.schema_cmd:suites", "Suite files."),
    "images": (
        "harness.cli.images_cmd:images",
        "Image variants: openEuler + CANN for npu, plain bases for cpu and cuda.",
    ),
    "serve": (
        "harness.cli.serve_cmd:serve",
        "Serve the webhook intake, the dashboard and the results API; run the queue.",
    ),
    "dashboard": (
        "harness.cli.dashboard_cmd:dashboard",
        "The web compatibility dashboard (`harness serve` serves it live).",
    ),
    "worker": (
        "harness.cli.worker_cmd:worker",
        "Run the service's queue: deliveries, cells and reports.",
    ),
    "participation": (
        "harness.cli.participation_cmd:participation",
        "Participation levels: SLOs, automatic moves, pins, history.",
    ),
    "outbox": (
        "harness.cli.outbox_cmd:outbox",
        "Reports on their way to GitHub (statuses, check runs, comments).",
    ),
    "redeliver": (
        "harness.cli.redeliver_cmd:redeliver",
        "Ask GitHub to redeliver the webhook deliveries that failed.",
    ),
    "workflows": (
        "harness.cli.workflows_cmd:workflows",
        "GitHub Actions workflows for self-hosted runners.",
    ),
    "verdict": (
        "harness.cli.verdict_cmd:verdict",
        "Judge a run against its baseline at the merge base.",
    ),
    "compare": (
        "harness.cli.verdict_cmd:compare",
        "What changed from RUN_A to RUN_B: failures, fixes, tests, environment.",
    ),
    "config": (
        "harness.cli.config_cmd:config",
        "The operator's settings: environment variables and the config file.",
    ),
    "quarantine": (
        "harness.cli.quarantine_cmd:quarantine",
        "Quarantined tests per suite and backend.",
    ),
}


class LazyGroup(click.Group):
    """A group whose commands are imported when they are run (or their own ``--help`` is
    asked for); the group's ``--help`` lists them from :data:`COMMANDS` alone."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, _, attr = COMMANDS[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module), attr)
        if not isinstance(command, click.Command):  # pragma: no cover - a wiring bug
            raise TypeError(f"{module}:{attr} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):  # whole lines, wrapped: nothing cut
            formatter.write_dl([(name, line) for name, (_, line) in sorted(COMMANDS.items())])


@click.group(
    cls=LazyGroup,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="harness")
def cli() -> None:
    """Run upstream projects' own tests on accelerator backends and record every result."""


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the click group and maps :class:`HarnessError` to exit codes."""
    err = Console(stderr=True)
    try:
        rv = cli.main(args=argv, prog_name="harness", standalone_mode=False)
    except HarnessError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False, markup=True)
        if exc.hint:
            err.print(f"[dim]hint:[/] {exc.hint}", highlight=False)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        err.print("interrupted")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: say so, never as a test failure (exit 1)
        traceback.print_exc()
        err.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {exc}",
            highlight=False,
            markup=True,
        )
        err.print("[dim]this is a bug in the harness; the traceback is above[/]", highlight=False)
        return EXIT_INTERNAL
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
