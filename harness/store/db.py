"""Engines and migrations: SQLite by default (WAL), PostgreSQL by URL.

Write transactions on SQLite start with ``BEGIN IMMEDIATE`` (they take the write lock at
once and wait for it up to the busy timeout), reads with a plain ``BEGIN``: a deferred
transaction that reads and then writes can fail at once with "database is locked" when
another writer got there first. Writers ask for this by using :func:`writer`.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from harness import settings
from harness.errors import StoreError

MIGRATIONS = Path(__file__).with_name("migrations")
#: SQLite waits this long for a lock before "database is locked".
BUSY_TIMEOUT_MS = 30_000
#: Execution option that makes a SQLite transaction ``BEGIN IMMEDIATE``.
WRITE_OPTION = "harness_write"
#: Any fixed number: the PostgreSQL advisory lock held while migrating.
_PG_LOCK_KEY = 0x6861726E  # "harn"
#: Alembic keeps its running context in module globals: one migration per process at a time.
_MIGRATION_LOCK = threading.Lock()
_PASSWORD = re.compile(r"(://[^:/@\s]*):[^@\s]*@")
URL_HINT = "use sqlite:///path/to/harness.db or postgresql://user@host:5432/dbname"


def default_db_url() -> str:
    """``$HARNESS_DB``, else a SQLite file under ``$XDG_DATA_HOME/harness`` (created)."""
    if url := settings.DB.get():
        return url
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    directory = base / "harness"
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / 'harness.db'}"


def mask_url(url: URL | str) -> str:
    """The URL for messages: the password, if any, is ``***``."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return _PASSWORD.sub(r"\1:***@", url)


def parse_url(url: str) -> URL:
    """Parse ``url``; ``postgresql://`` means psycopg 3. Raises :class:`StoreError`."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise StoreError(f"'{mask_url(url)}' is not a database URL", hint=URL_HINT) from exc
    backend, _, driver = parsed.drivername.partition("+")
    if backend in {"postgresql", "postgres"}:
        return parsed.set(drivername=f"postgresql+{driver or 'psycopg'}")
    if backend != "sqlite":
        raise StoreError(
            f"unsupported database '{parsed.drivername}' in {mask_url(parsed)}", hint=URL_HINT
        )
    return parsed


def error_line(exc: BaseException) -> str:
    """The first line of the driver's message, without SQLAlchemy's decoration."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event (below) emit BEGIN instead of the sqlite3 module.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def create_db_engine(url: str) -> Engine:
    """An engine for ``url`` (see :func:`parse_url`); nothing is connected yet."""
    parsed = parse_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = _sqlite_engine(parsed)
        else:
            engine = create_engine(
                parsed,
                pool_pre_ping=True,
                connect_args={"connect_timeout": 10, "application_name": "harness"},
            )
    except ImportError as exc:
        raise StoreError(
            f"no driver for {mask_url(parsed)}: {exc}",
            hint="install PostgreSQL support: pip install 'accel-harness[postgres]'",
        ) from exc
    except (OSError, ArgumentError) as exc:
        raise StoreError(f"cannot open the database {mask_url(parsed)}: {exc}") from exc
    return engine


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database in {"", ":memory:"}:
        # One shared connection, so that every thread sees the same (migrated) database.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def writer(engine: Engine) -> Engine:
    """``engine`` for write transactions (``BEGIN IMMEDIATE`` on SQLite)."""
    return engine.execution_options(**{WRITE_OPTION: True})


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, without an ini file (works from an installed wheel)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _store_errors(engine: Engine, doing: str) -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot {doing} the database {mask_url(engine.url)}: {error_line(exc)}"
        ) from exc


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration; one read when it is current.

    Safe when several threads or processes open the same database at once: migrations are
    serialised (a process lock, plus an advisory lock on PostgreSQL or the write lock on
    SQLite), and whoever comes second finds the schema current.
    """
    head = head_revision()
    with _store_errors(engine, "open"), engine.connect() as conn:
        if current_revision(conn) == head:
            return
    with (
        _store_errors(engine, "migrate"),
        _MIGRATION_LOCK,
        writer(engine).begin() as conn,
    ):
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
        current = current_revision(conn)
        if current == head:
            return
        try:
            command.upgrade(alembic_config(conn), "head")
        except CommandError as exc:
            raise StoreError(
                f"cannot migrate the database {mask_url(engine.url)} from revision "
                f"{current}: {exc}",
                hint="was it written by a newer version of the harness? upgrade the harness",
            ) from exc
