"""``harness serve``: the webhook intake over HTTP (uvicorn), with embedded workers."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import click

from harness import settings
from harness.cli.options import db_option, default_cache_dir, suites_option
from harness.cli.worker_cmd import config_option, service_config, setup_logging
from harness.codehost.github.client import Credentials
from harness.codehost.github.redeliver import AppSession, app_session, sweep
from harness.codehost.reporters import ReporterContext, load_reporters
from harness.config.loader import default_suites_dir
from harness.config.service import ServiceConfig, default_config_path, load_service_config
from harness.config.suite import parse_duration
from harness.dashboard.context import dashboard_context
from harness.dashboard.pages import Pages
from harness.errors import ConfigError
from harness.executors.registry import executor_choices
from harness.service.dispatch_actions import DISPATCH
from harness.service.journal import Journal
from harness.source.mirrors import mirrors
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
    secret = settings.WEBHOOK_SECRET.get()
    return secret.encode() if secret else None


@click.command(
    short_help="Serve the webhook intake, the dashboard and the results API; run the queue."
)
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
    type=click.Choice([*executor_choices(), DISPATCH]),
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
    envvar=settings.OUT.name,
    help="The embedded workers' logs and result files (default: $HARNESS_OUT, else reports/out).",
)
@click.option(
    "--journal",
    "journal_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where deliveries wait when the database cannot take them within 50 ms (default: "
    "webhook-journal/<database> in the cache directory, $HARNESS_CACHE).",
)
@click.option(
    "--redeliver-every",
    default="10m",
    show_default=True,
    help="With GitHub App credentials: how often to ask GitHub to redeliver the webhooks "
    "that failed and are not stored (`harness redeliver`); 0: never.",
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
    journal_dir: Path | None,
    redeliver_every: str,
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
    mirrors()  # a malformed HARNESS_MIRRORS: a configuration error now, not per run
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
    if workers:  # the reporters too: a chat secret missing fails here, not in N workers
        try:
            load_reporters(ReporterContext(store, config))
        except ConfigError:
            store.close()
            raise
    url = db_url or default_db_url()
    cmd = [sys.executable, "-m", "harness", "worker", "--executor", executor]
    cmd += ["--suites", str(suites), "--reports-dir", str(reports_dir)]
    if config_file is not None:
        cmd += ["--config", str(config_file)]
    pool = WorkerPool(cmd, workers, db_url=url)
    journal = Journal(journal_dir or default_cache_dir() / "webhook-journal" / store.key)
    journal.start(store)  # what a previous server journaled goes in first
    sweeper = Redeliverer.start(store, secret, redeliver_every)

    def shutdown() -> None:
        pool.stop()
        journal.stop()
        if sweeper is not None:
            sweeper.stop()

    try:
        pool.start()
        upstreams, expected = dashboard_context(suites)
        dashboard = Pages(
            store, served=True, suites_dir=suites, expected_cells=expected, upstreams=upstreams
        )
        results_secret = settings.RESULTS_SECRET.get().encode() or None
        app = create_app(
            store,
            secret,
            on_shutdown=shutdown,
            pages=dashboard,
            service_config=config,
            results_secret=results_secret,
            workers_health=pool.health if workers else None,
            journal=journal,
        )
        # what start-up allocated lives as long as the server: keep it out of the
        # collector's scans, which otherwise pause request handling now and then
        gc.collect()
        gc.freeze()
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
    finally:
        shutdown()
        store.close()


class Redeliverer:
    """The redelivery sweeper as a thread of ``serve`` (:mod:`harness.codehost.github.redeliver`):
    a minute after start (sooner with a shorter interval), then every ``interval``; a
    failed sweep is logged and tried at the next turn."""

    FIRST_S = 60.0

    def __init__(self, store: Store, gh: AppSession, interval_s: float) -> None:
        self.store, self.gh, self.interval_s = store, gh, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="redeliver", daemon=True)

    @classmethod
    def start(cls, store: Store, secret: bytes | None, every: str) -> Redeliverer | None:
        """Started when the intake is on, App credentials are set and ``every`` is not 0."""
        if secret is None or every.strip() in {"0", "0s", "off"}:
            return None
        try:
            interval = parse_duration(every)
        except ValueError as exc:
            raise ConfigError(f"--redeliver-every: {exc}") from None
        creds = Credentials.from_env()
        if creds is None or not creds.app_id:
            return None  # a token cannot list the App's deliveries
        sweeper = cls(store, app_session(creds), interval)
        sweeper._thread.start()
        return sweeper

    def _run(self) -> None:
        log = logging.getLogger("harness.serve")
        wait = min(self.FIRST_S, self.interval_s)
        while not self._stop.wait(wait):
            wait = self.interval_s
            try:
                result = sweep(self.store, self.gh, window=timedelta(hours=6))
            except Exception as exc:  # GitHub away, a bad key: next turn
                log.warning("redelivery sweep failed: %s", exc)
                continue
            if result.refused:
                log.warning(
                    "%d failed deliveries not retried (4xx: the same request would fail again): %s",
                    len(result.refused),
                    ", ".join(f"{g} {why}" for g, why in result.refused.items()),
                )

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class WorkerPool:
    """The embedded ``harness worker`` processes, supervised: one that exits while the
    server runs is started again after a backoff (1 s, doubling to a minute; logged), and
    :meth:`health` says which are down. They get SIGTERM when the server stops (from its
    shutdown hook: uvicorn re-raises the signal that stopped it, so code after
    ``uvicorn.run`` may never run), and stop by themselves when the server process dies
    (``--parent-pid``)."""

    BACKOFF_S, BACKOFF_CAP_S, POLL_S = 1.0, 60.0, 0.5
    #: at shutdown: time to finish the current cell, then to stop it once interrupted
    FINISH_S, INTERRUPT_S = 5.0, 20.0

    def __init__(self, cmd: list[str], n: int, db_url: str) -> None:
        self.cmd, self.n, self.db_url = cmd, n, db_url
        self.children: list[subprocess.Popen[bytes] | None] = []
        self.restarts = [0] * n
        self._due: list[float] = [0.0] * n
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._supervisor: threading.Thread | None = None

    def _spawn(self, i: int) -> subprocess.Popen[bytes]:
        # the webhook secret stays with the intake: workers do not need it; the database
        # URL (a password in it, maybe) goes in the environment, never on the command
        # line that every user of the machine can read (ps, /proc/PID/cmdline)
        env = {k: v for k, v in os.environ.items() if k != settings.WEBHOOK_SECRET.name}
        env[settings.DB.name] = self.db_url
        name = f"{socket.gethostname()}:{os.getpid()}:w{i}"
        if self.restarts[i]:
            name += f".{self.restarts[i]}"  # a new lease owner: never the dead one's name
        return subprocess.Popen(
            [*self.cmd, "--name", name, "--parent-pid", str(os.getpid())], env=env
        )

    def start(self) -> None:
        with self._lock:
            self.children = [self._spawn(i) for i in range(self.n)]
        if self.n:
            self._supervisor = threading.Thread(target=self._supervise, daemon=True)
            self._supervisor.start()

    def _supervise(self) -> None:
        log = logging.getLogger("harness.serve")
        while not self._stopping.wait(self.POLL_S):
            with self._lock:
                for i, child in enumerate(self.children):
                    if self._stopping.is_set():
                        return
                    now = time.monotonic()
                    if child is not None:
                        code = child.poll()
                        if code is None:
                            continue
                        delay = min(self.BACKOFF_CAP_S, self.BACKOFF_S * 2 ** self.restarts[i])
                        log.error(
                            "worker w%d (pid %d) exited with code %s; restarting it in %.0f s",
                            i,
                            child.pid,
                            code,
                            delay,
                        )
                        self.children[i] = None
                        self._due[i] = now + delay
                    elif now >= self._due[i]:
                        self.restarts[i] += 1
                        self.children[i] = self._spawn(i)
                        log.warning(
                            "worker w%d restarted (pid %d, restart %d)",
                            i,
                            self.children[i].pid,  # type: ignore[union-attr]
                            self.restarts[i],
                        )

    def health(self) -> dict[str, object]:
        """Workers running and down (for ``/healthz``)."""
        with self._lock:
            down = [
                f"w{i}" for i, c in enumerate(self.children) if c is None or c.poll() is not None
            ]
        return {"workers": self.n, "down": down, "restarts": sum(self.restarts)}

    def stop(self) -> None:
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=10)
        with self._lock:
            alive = [c for c in self.children if c is not None]
            # SIGTERM: finish the current cell; a second one interrupts it (the run is
            # recorded cancelled and its step stopped); only then SIGKILL
            for grace_s in (self.FINISH_S, self.INTERRUPT_S):
                for child in alive:
                    if child.poll() is None:
                        child.terminate()
                deadline = time.monotonic() + grace_s
                for child in alive:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        child.wait(timeout=max(0.0, deadline - time.monotonic()))
            for child in alive:
                if child.poll() is None:
                    child.kill()
                    child.wait()
            self.children.clear()
