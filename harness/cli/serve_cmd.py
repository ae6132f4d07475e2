"""``harness serve``: the webhook intake over HTTP (uvicorn)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from harness.cli.options import db_option
from harness.errors import ConfigError
from harness.store import Store


def read_secret(secret_file: Path | None) -> bytes:
    """The webhook secret: from ``--webhook-secret-file`` (first line), else
    ``$HARNESS_WEBHOOK_SECRET``. Never logged."""
    if secret_file is not None:
        try:
            text = secret_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read the webhook secret file {secret_file}: {exc}") from exc
        secret = text[0].strip() if text else ""
    else:
        secret = os.environ.get("HARNESS_WEBHOOK_SECRET", "").strip()
    if not secret:
        raise ConfigError(
            "no webhook secret",
            hint="set HARNESS_WEBHOOK_SECRET or pass --webhook-secret-file FILE",
        )
    return secret.encode()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--webhook-secret-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File whose first line is the webhook secret (default: $HARNESS_WEBHOOK_SECRET).",
)
@db_option
def serve(host: str, port: int, webhook_secret_file: Path | None, db_url: str | None) -> None:
    """Serve the GitHub webhook intake: POST /webhook (signed deliveries are stored once
    per delivery id and answered 202), GET /healthz, GET /metrics."""
    import uvicorn

    from harness.service.app import create_app

    secret = read_secret(webhook_secret_file)
    store = Store.open(db_url)
    try:
        app = create_app(store, secret)
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=True)
    finally:
        store.close()
