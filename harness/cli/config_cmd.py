"""``harness config show`` and ``harness config table``."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from harness import settings
from harness.cli.options import json_option, suites_option
from harness.config.loader import default_suites_dir
from harness.config.service import default_config_path
from harness.config.settings_view import Row, config_file_rows, environment_rows, spliced
from harness.errors import ConfigError

README = Path("README.md")


@click.group(short_help="The operator's settings: environment variables and the config file.")
def config() -> None:
    """The operator's settings: every HARNESS_* environment variable (declared in
    harness/settings.py) and every key of the service configuration file."""


@config.command("show")
@suites_option
@click.option(
    "--all",
    "every_kind",
    is_flag=True,
    help="Also the variables the harness and its workflow set for steps and jobs.",
)
@json_option
def show(suites_dir: Path | None, every_kind: bool, as_json: bool) -> None:
    """Print the effective settings, each with its value and where it comes from
    (default, environment, option, config file). Secrets are shown as ***, passwords in
    URLs too. Exits 2 when a value is malformed (the row says why)."""
    import os

    options = {settings.SUITES.name: str(suites_dir)} if suites_dir is not None else {}
    suites = suites_dir or default_suites_dir()
    env_rows = environment_rows(os.environ, every_kind=every_kind, options=options)
    path = default_config_path(suites)
    file_rows = config_file_rows(path)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "environment": [r.as_dict() for r in env_rows],
                    "config_file": {
                        "path": str(path),
                        "exists": path.is_file(),
                        "keys": [r.as_dict() for r in file_rows],
                    },
                },
                indent=2,
            )
        )
    else:
        console = Console(soft_wrap=False)
        console.print(_table("Environment variables", env_rows, "variable"))
        state = "" if path.is_file() else " (not found: defaults)"
        console.print(_table(f"Service configuration: {path}{state}", file_rows, "key"))
    bad = [r for r in env_rows if r.error]
    if bad:
        raise ConfigError("; ".join(str(r.error) for r in bad))


def _table(title: str, rows: list[Row], first: str) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column(first, style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("source", no_wrap=True)
    table.add_column("area", no_wrap=True)
    for r in rows:
        source = f"[red]{r.source}: invalid[/]" if r.error else r.source
        style = "dim" if r.source == "default" and not r.error else None
        table.add_row(r.name, r.value, source, r.area, style=style)
    return table


@config.command("table")
@click.option(
    "--readme",
    type=click.Path(path_type=Path, dir_okay=False),
    default=README,
    show_default=True,
    help="The README whose marked section holds the tables.",
)
@click.option("--check", is_flag=True, help="Fail (exit 2) if the README's tables are stale.")
def table(readme: Path, check: bool) -> None:
    """Write the README's tables of settings (environment variables, variables set for
    steps, service configuration keys) between its markers, generated from
    harness/settings.py and the configuration file's model."""
    try:
        current = readme.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {readme}: {exc.strerror}") from None
    try:
        wanted = spliced(current)
    except ValueError as exc:
        raise ConfigError(f"{readme}: {exc}") from None
    if check:
        if wanted != current:
            raise ConfigError(
                f"{readme}'s tables of settings are stale", hint="run `harness config table`"
            )
        click.echo(f"{readme}'s tables of settings are current")
        return
    if wanted != current:
        readme.write_text(wanted, encoding="utf-8")
        click.echo(f"wrote the tables of settings into {readme}")
    else:
        click.echo(f"{readme}'s tables of settings are current")
