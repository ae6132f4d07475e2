"""``harness redeliver``: ask GitHub to deliver again the webhooks the intake missed."""

from __future__ import annotations

import json
from datetime import timedelta

import click
from rich.console import Console

from harness.cli.options import db_option, json_option
from harness.codehost.github.client import Credentials
from harness.codehost.github.redeliver import app_session, sweep
from harness.config.suite import parse_duration
from harness.errors import ConfigError
from harness.store import Store


@click.command(short_help="Ask GitHub to redeliver the webhook deliveries that failed.")
@click.option(
    "--since",
    default="6h",
    show_default=True,
    help="How far back to look (GitHub keeps deliveries for 3 days).",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(1, 20),
    default=3,
    show_default=True,
    help="Give up on a delivery GitHub has tried this often.",
)
@db_option
@json_option
def redeliver(since: str, max_attempts: int, db_url: str | None, as_json: bool) -> None:
    """Ask GitHub to redeliver the webhook deliveries that failed (the server was down,
    unreachable or answered 5xx) and are not in the database. Needs GitHub App
    credentials (HARNESS_GITHUB_APP_ID, HARNESS_GITHUB_APP_KEY_FILE): the App's recent
    deliveries are listed and failed ones re-sent. `harness serve` does this by itself
    every few minutes when it has App credentials."""
    try:
        window = timedelta(seconds=parse_duration(since))
    except ValueError as exc:
        raise ConfigError(f"--since: {exc}") from None
    creds = Credentials.from_env()
    if creds is None:
        raise ConfigError("no GitHub credentials: set HARNESS_GITHUB_APP_ID and _APP_KEY_FILE")
    store = Store.open(db_url)
    try:
        result = sweep(store, app_session(creds), window=window, max_attempts=max_attempts)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2))
        return
    out = Console()
    out.print(f"{result.listed} deliveries listed since {since} ago")
    for guid in result.asked:
        out.print(f"  asked again: {guid}")
    for guid, why in result.refused.items():
        out.print(f"  [yellow]not retried[/] {guid}: {why} (the same request would fail again)")
    for guid in result.given_up:
        out.print(f"  [red]given up[/] {guid}: tried {max_attempts} times")
    if not (result.asked or result.refused or result.given_up):
        out.print("nothing to redeliver")
