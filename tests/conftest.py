"""Shared fixtures: databases (SQLite and a real PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg import PostgresCluster, find_pg_bin

REQUIRE_TOOLS = os.environ.get("HARNESS_REQUIRE_TOOLS") == "1"


def missing_tool(reason: str) -> None:
    """Skip locally, fail in CI (HARNESS_REQUIRE_TOOLS=1): CI must test everything."""
    if REQUIRE_TOOLS:
        pytest.fail(f"{reason} (HARNESS_REQUIRE_TOOLS=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresCluster]:
    bindir = find_pg_bin()
    if bindir is None:
        missing_tool("PostgreSQL server binaries not found (Debian: apt-get install postgresql)")
    assert bindir is not None
    cluster = PostgresCluster(bindir)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresCluster) -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    import sqlalchemy as sa

    name = f"harness_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(
        postgres_server.url("postgres").replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield postgres_server.url(name)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'harness.db'}"
    return str(request.getfixturevalue("postgres_url"))
