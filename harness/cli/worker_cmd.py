"""``harness worker``: run queued cells and post their reports (see
:mod:`harness.service.worker`)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from harness import settings
from harness.cli.options import F, db_option, default_cache_dir, suites_option
from harness.codehost.reporters import ReporterContext, load_reporters
from harness.config.loader import default_suites_dir
from harness.config.service import ServiceConfig, default_config_path, load_service_config
from harness.errors import ConfigError
from harness.executors.registry import choose_executor, executor_choices, make_executor
from harness.service.dispatch_actions import DISPATCH
from harness.source.mirrors import mirrors
from harness.store import Store

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT)
    for noisy in ("urllib3", "github", "docker", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def service_config(config_file: Path | None, suites_dir: Path) -> ServiceConfig:
    path = config_file or default_config_path(suites_dir)
    if config_file is None and not path.is_file():
        raise ConfigError(
            f"no service configuration at {path}",
            hint="create it (see suites/service/config.yaml in the repository) or pass --config",
        )
    return load_service_config(path)


def config_option(f: F) -> F:
    return click.option(
        "--config",
        "config_file",
        type=click.Path(path_type=Path, dir_okay=False, exists=True),
        help="Service configuration (upstreams, trust, levels). "
        "Default: SUITES/service/config.yaml.",
    )(f)


@click.command(short_help="Run the service's queue: deliveries, cells and reports.")
@click.option(
    "--executor",
    type=click.Choice([*executor_choices(), DISPATCH]),
    default="auto",
    show_default=True,
    help="local (host cells in virtualenvs) or docker (image cells in containers); auto: "
    "docker when an engine answers; github-actions: send each cell to the CI repository's "
    "workflow (repository_dispatch) and wait for its results (POST /api/results); or a "
    "plugin's executor. Untrusted pull requests belong in docker (an executor that "
    "declares isolation).",
)
@click.option(
    "--lease",
    "lease_s",
    default=60.0,
    show_default=True,
    help="Lease seconds; heartbeats renew it.",
)
@click.option(
    "--poll", "poll_s", default=1.0, show_default=True, help="Seconds between idle polls."
)
@click.option("--once", is_flag=True, help="Stop when there is nothing left to do now.")
@click.option("--max-items", type=click.IntRange(1), help="Stop after running this many cells.")
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Mirrors, worktrees and environments. Default: $HARNESS_CACHE or ~/.cache/harness.",
)
@click.option(
    "--reports-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("reports/out"),
    show_default=True,
    envvar=settings.OUT.name,
    help="Logs and result files go to REPORTS_DIR/<job-id>/ (default: $HARNESS_OUT, else "
    "reports/out).",
)
@click.option("--name", help="Worker name in leases and logs (default host:pid:random).")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option("--parent-pid", type=int, hidden=True, help="Stop when this process is gone.")
@config_option
@db_option
@suites_option
def worker(
    executor: str,
    lease_s: float,
    poll_s: float,
    once: bool,
    max_items: int | None,
    cache_dir: Path | None,
    reports_dir: Path,
    name: str | None,
    verbose: bool,
    parent_pid: int | None,
    config_file: Path | None,
    db_url: str | None,
    suites_dir: Path | None,
) -> None:
    """Run the service's queue: apply webhook deliveries, run queued cells (one at a
    time, under a lease renewed by heartbeats), post reports to GitHub from the outbox and
    log overdue ones. Several workers may share a database (PostgreSQL for more than one
    machine).

    GitHub credentials: HARNESS_GITHUB_APP_ID + HARNESS_GITHUB_APP_KEY_FILE, or
    HARNESS_GITHUB_TOKEN / HARNESS_GITHUB_TOKEN_FILE; HARNESS_GITHUB_API_URL for GitHub
    Enterprise. Without them reports wait in the outbox. Chat notifications: an
    upstream's ``chat:`` block in the service configuration. Reporter plugins register
    the ``harness.reporters`` entry point.
    """
    from harness.service.dispatch import Plan
    from harness.service.worker import Worker, WorkerSettings

    setup_logging(verbose)
    mirrors()  # a malformed HARNESS_MIRRORS: a configuration error now, not per run
    log = logging.getLogger("harness.worker")
    suites_dir = suites_dir or default_suites_dir()
    config = service_config(config_file, suites_dir)
    chosen, note = (executor, None) if executor == DISPATCH else choose_executor(executor)
    if note:
        log.info(note)
    cache = (cache_dir or default_cache_dir()).resolve()
    plan = Plan.load(suites_dir, chosen)
    for problem in plan.problems(config):
        log.warning("configuration: %s", problem)
    store = Store.open(db_url)
    try:
        # every registered reporter configured here: GitHub (credentials), chat (webhooks
        # in the service configuration), plugins (harness.reporters)
        reporters = load_reporters(ReporterContext(store, config))
    except ConfigError:
        store.close()
        raise
    log.info("reporters: %s", ", ".join(sorted(reporters)) or "none")
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.info("signal %d: stopping after the current cell (again: interrupt it)", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        w = Worker(
            store,
            config,
            plan,
            None if chosen == DISPATCH else make_executor(chosen, cache),
            WorkerSettings(
                cache_dir=cache,
                reports_dir=reports_dir,
                lease_s=lease_s,
                poll_s=poll_s,
                max_items=max_items,
                parent_pid=parent_pid,
            ),
            None,
            name=name,
            reporters=reporters,
        )
        if once:
            while not stop.is_set() and w.turn():
                if max_items is not None and w.ran >= max_items:
                    break
        else:
            w.run(stop)
    finally:
        store.close()
