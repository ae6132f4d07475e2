"""``harness outbox``: the reports waiting for GitHub, and re-sending dead letters."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.table import Table

from harness.cli.options import db_option, json_option
from harness.errors import ConfigError
from harness.service import outbox as ob
from harness.store import Store

STATES = ("pending", "sending", "sent", "dead")


@click.group(short_help="Reports on their way to GitHub (statuses, check runs, comments).")
def outbox() -> None:
    """Reports (statuses, check runs, comments, dispatches) on their way to GitHub."""


@outbox.command("list")
@click.option(
    "--state",
    "states",
    type=click.Choice(STATES),
    multiple=True,
    help="Only entries in this state (repeatable); default: all but sent.",
)
@click.option("--limit", type=click.IntRange(1, 5000), default=200, show_default=True)
@db_option
@json_option
def list_cmd(states: tuple[str, ...], limit: int, db_url: str | None, as_json: bool) -> None:
    """List outbox entries, newest first, with their attempts and last error."""
    chosen = list(states) or ["pending", "sending", "dead"]
    store = Store.open(db_url)
    try:
        entries = ob.list_entries(store, states=chosen, limit=limit)
    finally:
        store.close()
    if as_json:
        json.dump({"entries": [e.as_json() for e in entries]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    table = Table()
    for col in ("id", "state", "repository", "key", "attempts", "next attempt", "last error"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(
            str(e.id),
            e.state,
            e.repository,
            e.key,
            str(e.attempts),
            e.next_attempt_at.isoformat(timespec="seconds"),
            e.last_error or "",
        )
    Console().print(table)
    if not entries:
        Console(stderr=True).print(f"no entries in state {', '.join(chosen)}")


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all-dead", is_flag=True, help="Re-send every dead letter.")
@db_option
@json_option
def retry_cmd(ids: tuple[int, ...], all_dead: bool, db_url: str | None, as_json: bool) -> None:
    """Re-send dead letters (IDS, or --all-dead): back to pending, due now, attempts reset.
    Fix what GitHub refused first (the last error says what)."""
    if bool(ids) == all_dead:
        raise ConfigError("give entry IDS or --all-dead (not both)", hint="harness outbox list")
    store = Store.open(db_url)
    try:
        done = ob.retry(store, None if all_dead else list(ids))
    finally:
        store.close()
    missing = sorted(set(ids) - set(done))
    if as_json:
        json.dump({"retried": done, "not_dead": missing}, sys.stdout)
        sys.stdout.write("\n")
    else:
        Console().print(f"re-sending {len(done)} entr{'y' if len(done) == 1 else 'ies'}")
    if missing:
        raise ConfigError(
            f"not dead letters (or unknown): {', '.join(map(str, missing))}",
            hint="harness outbox list --state dead",
        )
