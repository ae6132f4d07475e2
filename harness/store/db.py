"""Engines and migrations: SQLite by default (WAL), PostgreSQL by URL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from harness.errors import StoreError

MIGRATIONS = Path(__file__).with_name("migrations")


def default_db_url() -> str:
    """``$HARNESS_DB``, else a SQLite file under ``$XDG_DATA_HOME/harness`` (created)."""
    if os.environ.get("HARNESS_DB"):
        return os.environ["HARNESS_DB"]
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    directory = base / "harness"
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / 'harness.db'}"


def normalize_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(
            f"'{url}' is not a database URL",
            hint="use sqlite:///path/to/harness.db or postgresql://user@host:5432/dbname",
        ) from exc
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    if not parsed.drivername.startswith(("sqlite", "postgresql")):
        raise StoreError(f"unsupported database '{parsed.drivername}': use SQLite or PostgreSQL")
    return parsed


def masked(url: URL | str) -> str:
    u = make_url(url) if isinstance(url, str) else url
    return u.render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def create_db_engine(url: str) -> Engine:
    parsed = normalize_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration; cheap when it is current."""
    try:
        with engine.begin() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
            if current == head_revision():
                return
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot open or migrate the database {masked(engine.url)}: "
            f"{str(exc.orig if getattr(exc, 'orig', None) else exc).strip().splitlines()[0]}"
        ) from exc
