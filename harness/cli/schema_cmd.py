"""``harness schema`` and ``harness suites lint``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console

from harness.cli.options import json_option, suites_option
from harness.config.loader import default_suites_dir, load_suite, suite_files
from harness.config.schema import SCHEMA_PATH, render_schema
from harness.errors import ConfigError


@click.command(short_help="Print the JSON Schema of suite files.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"Write here instead of stdout (the checked-in copy: {SCHEMA_PATH.name}).",
)
@click.option("--check", is_flag=True, help="Fail (exit 2) if the checked-in schema is stale.")
def schema(output: Path | None, check: bool) -> None:
    """Print the JSON Schema of suite files, generated from the typed model."""
    text = render_schema()
    if check:
        current = SCHEMA_PATH.read_text() if SCHEMA_PATH.exists() else ""
        if current != text:
            raise ConfigError(
                f"{SCHEMA_PATH} is stale", hint=f"run `harness schema -o {SCHEMA_PATH}`"
            )
        click.echo(f"{SCHEMA_PATH} is current")
        return
    if output:
        output.write_text(text)
        click.echo(f"wrote {output}", err=True)
    else:
        sys.stdout.write(text)


@click.group()
def suites() -> None:
    """Suite files."""


@suites.command("lint")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
@suites_option
@json_option
def lint(files: tuple[Path, ...], suites_dir: Path | None, as_json: bool) -> None:
    """Validate suite files (default: every file in the suites directory)."""
    paths = list(files) or suite_files(suites_dir or default_suites_dir())
    problems: dict[str, str | None] = {}
    for path in paths:
        try:
            load_suite(path)
            problems[str(path)] = None
        except ConfigError as exc:
            problems[str(path)] = str(exc)
    if as_json:
        json.dump(
            {
                "files": [
                    {"path": p, "ok": e is None, "errors": e.splitlines() if e else []}
                    for p, e in problems.items()
                ]
            },
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
    else:
        console = Console()
        for path_str, err in problems.items():
            if err is None:
                console.print(f"[green]ok[/]    {path_str}", highlight=False)
            else:
                console.print("[red]error[/]", end=" ")
                console.print(err, highlight=False, markup=False)
    bad = [p for p, e in problems.items() if e]
    if bad:
        raise click.exceptions.Exit(2)
