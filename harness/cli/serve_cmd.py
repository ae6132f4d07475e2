"""``harness serve``: the webhook intake over HTTP (uvicorn), with embedded workers."""

from __future__ import annotations

import gc
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import click

from harness.cli.options import db_option, suites_option
from harness.cli.worker_cmd import config_option, service_config, setup_logging
from harness.config.loader import default_suites_dir
from harness.config.service import ServiceConfig, default_config_path, load_service_config
from harness.dashboard.context import dashboard_context
from harness.dashboard.pages import Pages
from harness.errors import ConfigError
from harness.planner import EXECUTOR_CHOICES
from harness.service.dispatch_actions import DISPATCH
from harness.store import Store
from harness.store.db import default_db_url


def read_secret(secret_file: Path | None) -> bytes | None:
    """The webhook secret: from ``--webhook-secret-file`` (first line), else
    ``$HARNESS_WEBHOOK_SECRET``; ``None`` when neither is set. Never logged."""
    if secret_file is not None:
        try:
            text = secret_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read the webhook secret file {secret_file}: {exc}") from exc
        secret = text[0].strip() if text else ""
        if not secret:
            raise ConfigError(f"the webhook secret file {secret_file} is empty")
        return secret.encode()
    secret = os.environ.get("HARNESS_WEBHOOK_SECRET", "").strip()
    return secret.encode() if secret else None


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--webhook-secret-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File whose first line is the webhook secret (default: $HARNESS_WEBHOOK_SECRET).",
)
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=1,
    show_default=True,
    help="Worker processes to start beside the intake (`harness worker`, same database); "
    "0: run workers elsewhere.",
)
@click.option(
    "--executor",
    type=click.Choice([*EXECUTOR_CHOICES, DISPATCH]),
    default="auto",
    show_default=True,
    help="The embedded workers' executor (github-actions: cells run on the CI "
    "repository's runners; see `harness worker --help`).",
)
@click.option(
    "--reports-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("reports/out"),
    show_default=True,
    help="The embedded workers' logs and result files.",
)
@config_option
@db_option
@suites_option
def serve(
    host: str,
    port: int,
    webhook_secret_file: Path | None,
    workers: int,
    executor: str,
    reports_dir: Path,
    config_file: Path | None,
    db_url: str | None,
    suites_dir: Path | None,
) -> None:
    """Serve the GitHub webhook intake, the dashboard and run the queue: POST /webhook
    (signed deliveries are stored once per delivery id and answered 202), the dashboard
    at / (same pages as `harness dashboard build`), GET /healthz, GET /metrics,
    GET /api/queue, /api/ledger, /api/outbox; and N worker processes that run the cells
    and post the reports (see `harness worker`)."""
    import uvicorn

    from harness.service.app import create_app

    setup_logging()
    secret = read_secret(webhook_secret_file)
    if secret is None:
        logging.getLogger("harness.serve").warning(
            "no webhook secret (HARNESS_WEBHOOK_SECRET or --webhook-secret-file): the "
            "webhook intake is off (503); the dashboard and the API are served"
        )
    suites = suites_dir or default_suites_dir()
    # read once; a broken configuration fails here, not in N workers
    config_path = config_file or default_config_path(suites)
    if workers:
        config: ServiceConfig | None = service_config(config_file, suites)
    else:
        config = load_service_config(config_path) if config_path.is_file() else None
    store = Store.open(db_url)
    url = db_url or default_db_url()
    cmd = [sys.executable, "-m", "harness", "worker", "--executor", executor]
    cmd += ["--db", url, "--suites", str(suites), "--reports-dir", str(reports_dir)]
    if config_file is not None:
        cmd += ["--config", str(config_file)]
    pool = WorkerPool(cmd, workers)
    try:
        pool.start()
        upstreams, expected = dashboard_context(suites)
        dashboard = Pages(
            store, served=True, suites_dir=suites, expected_cells=expected, upstreams=upstreams
        )
        results_secret = os.environ.get("HARNESS_RESULTS_SECRET", "").strip().encode() or None
        app = create_app(
            store,
            secret,
            on_shutdown=pool.stop,
            pages=dashboard,
            service_config=config,
            results_secret=results_secret,
        )
        # what start-up allocated lives as long as the server: keep it out of the
        # collector's scans, which otherwise pause request handling now and then
        gc.collect()
        gc.freeze()
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
    finally:
        pool.stop()
        store.close()


class WorkerPool:
    """The embedded ``harness worker`` processes. They get SIGTERM when the server stops
    (from its shutdown hook: uvicorn re-raises the signal that stopped it, so code after
    ``uvicorn.run`` may never run), and stop by themselves when the server process dies
    (``--parent-pid``)."""

    def __init__(self, cmd: list[str], n: int) -> None:
        self.cmd, self.n = cmd, n
        self.children: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        # the webhook secret stays with the intake: workers do not need it
        env = {k: v for k, v in os.environ.items() if k != "HARNESS_WEBHOOK_SECRET"}
        for i in range(self.n):
            name = f"{socket.gethostname()}:{os.getpid()}:w{i}"
            self.children.append(
                subprocess.Popen(
                    [*self.cmd, "--name", name, "--parent-pid", str(os.getpid())], env=env
                )
            )

    def stop(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.terminate()
        for child in self.children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.children.clear()
