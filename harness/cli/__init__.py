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


@click.group(
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="harness")
def cli() -> None:
    """Run upstream projects' own tests on accelerator backends and record every result."""


def _register() -> None:
    from harness.cli import (
        dashboard_cmd,
        doctor_cmd,
        images_cmd,
        ingest_cmd,
        matrix_cmd,
        outbox_cmd,
        redeliver_cmd,
        results_cmd,
        run_cmd,
        runs_cmd,
        schema_cmd,
        serve_cmd,
        worker_cmd,
        workflows_cmd,
    )
    from harness.cli.quarantine_cmd import quarantine
    from harness.cli.verdict_cmd import compare, verdict

    cli.add_command(run_cmd.run)
    cli.add_command(doctor_cmd.doctor)
    cli.add_command(ingest_cmd.ingest)
    cli.add_command(results_cmd.results)
    cli.add_command(runs_cmd.runs)
    cli.add_command(matrix_cmd.matrix)
    cli.add_command(schema_cmd.schema)
    cli.add_command(schema_cmd.suites)
    cli.add_command(images_cmd.images)
    cli.add_command(serve_cmd.serve)
    cli.add_command(dashboard_cmd.dashboard)
    cli.add_command(worker_cmd.worker)
    cli.add_command(outbox_cmd.outbox)
    cli.add_command(redeliver_cmd.redeliver)
    cli.add_command(workflows_cmd.workflows)
    cli.add_command(verdict)
    cli.add_command(compare)
    cli.add_command(quarantine)


_register()


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
