"""``harness participation``: each upstream's level, its SLOs and their history; evaluate
them now (or at a given time), pin and unpin a level."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.cli.options import db_option, json_option, suites_option
from harness.cli.worker_cmd import config_option, service_config
from harness.config.loader import default_suites_dir
from harness.config.service import Level
from harness.errors import ConfigError
from harness.service import participation as pa
from harness.store import Store


@click.group(short_help="Participation levels: SLOs, automatic moves, pins, history.")
def participation() -> None:
    """Each upstream's participation level as the service runs it: measured by its SLOs,
    demoted and promoted by them, or pinned by a maintainer."""


def _at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--at {value!r}: use an ISO 8601 time, e.g. 2026-12-07T12:00Z") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@participation.command("evaluate")
@click.option(
    "--at",
    "at_text",
    metavar="TIME",
    help="Evaluate as of this time (ISO 8601; default now): the window ends there.",
)
@config_option
@db_option
@suites_option
@json_option
def evaluate_cmd(
    at_text: str | None,
    config_file: Path | None,
    db_url: str | None,
    suites_dir: Path | None,
    as_json: bool,
) -> None:
    """Measure every upstream's SLOs and move the levels (what workers do every
    `participation.evaluate_every`)."""
    config = service_config(config_file, suites_dir or default_suites_dir())
    store = Store.open(db_url)
    try:
        decisions = pa.evaluate(store, config, _at(at_text))
    finally:
        store.close()
    if as_json:
        json.dump({"decisions": [d.as_json() for d in decisions]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    out = Console()
    for d in decisions:
        move = f"{d.before} → {d.after}" if d.changed else f"stays {d.after}"
        out.print(f"[bold]{escape(d.repository)}[/]: {move}: {escape(d.reason)}")
        for o in d.objectives:
            mark = {True: "[green]held[/]", False: "[red]broken[/]", None: "no data"}[o.met]
            out.print(f"  {mark} {escape(o.detail)}")


@participation.command("show")
@config_option
@db_option
@suites_option
@json_option
def show_cmd(
    config_file: Path | None, db_url: str | None, suites_dir: Path | None, as_json: bool
) -> None:
    """Each upstream's level (configured, running, pinned), its last SLO evaluation and
    the history of its levels."""
    config = service_config(config_file, suites_dir or default_suites_dir())
    store = Store.open(db_url)
    try:
        doc = {"upstreams": pa.view(store, config)}
    finally:
        store.close()
    if as_json:
        json.dump(doc, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    table = Table()
    for col in ("upstream", "level", "configured", "pinned", "why"):
        table.add_column(col, overflow="fold")
    for u in doc["upstreams"]:
        table.add_row(
            str(u["repository"]),
            str(u["level"]),
            str(u["configured"]),
            "yes" if u["pinned"] else "",
            str(u["reason"]),
        )
    Console().print(table)


@participation.command("pin")
@click.argument("repository")
@click.argument("level", type=click.Choice([lv.value for lv in Level]))
@click.option("--reason", required=True, help="Why (shown with the level).")
@click.option("--by", default="maintainer", show_default=True, help="Who pins it.")
@config_option
@db_option
@suites_option
def pin_cmd(
    repository: str,
    level: str,
    reason: str,
    by: str,
    config_file: Path | None,
    db_url: str | None,
    suites_dir: Path | None,
) -> None:
    """Pin REPOSITORY's level: it no longer moves by the SLOs until unpinned."""
    config = service_config(config_file, suites_dir or default_suites_dir())
    if config.upstream(repository) is None:
        raise ConfigError(f"{repository} is not an upstream of the service configuration")
    store = Store.open(db_url)
    try:
        pa.pin(store, config, repository, Level(level), reason=reason, by=by)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        store.close()
    Console().print(f"{repository}: pinned at {level}")


@participation.command("unpin")
@click.argument("repository")
@click.option("--by", default="maintainer", show_default=True, help="Who unpins it.")
@config_option
@db_option
@suites_option
def unpin_cmd(
    repository: str,
    by: str,
    config_file: Path | None,
    db_url: str | None,
    suites_dir: Path | None,
) -> None:
    """Let REPOSITORY's level move by the SLOs again."""
    config = service_config(config_file, suites_dir or default_suites_dir())
    store = Store.open(db_url)
    try:
        pa.unpin(store, config, repository, by=by)
    finally:
        store.close()
    Console().print(f"{repository}: unpinned")
