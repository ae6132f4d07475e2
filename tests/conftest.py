"""Shared fixtures: databases (a fresh SQLite file, or a fresh database on a real
PostgreSQL cluster that :mod:`tests.pg` starts once per test session).

A test that takes ``db_url`` runs twice, on SQLite and on PostgreSQL. Without PostgreSQL
binaries the PostgreSQL half is skipped, except in CI (``HARNESS_REQUIRE_TOOLS=1``), where
a missing tool is a failure: CI must test everything.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.llama_cpp import build_test_backend_ops, llama_cpp_source
from tests.pg import PostgresCluster, find_pg_bin


def missing_tool(reason: str) -> None:
    """Skip locally, fail in CI (HARNESS_REQUIRE_TOOLS=1)."""
    if os.environ.get("HARNESS_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{reason} (HARNESS_REQUIRE_TOOLS=1 requires it)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of the ``harness_test`` database on a throwaway cluster, for the whole session
    (with pytest-xdist, one cluster per worker)."""
    bindir = find_pg_bin()
    if bindir is None:
        missing_tool("PostgreSQL server binaries not found (Debian: apt-get install postgresql)")
    assert bindir is not None
    with PostgresCluster(bindir) as cluster:
        yield cluster.url()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new database on the session cluster
    (dropped afterwards, even if a test left connections open)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'harness.db'}"
        return
    import psycopg
    from psycopg import sql

    server: str = request.getfixturevalue("postgres_url")
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield server.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def llama_source() -> Path:
    """llama.cpp's source tree as the llama-cpp-python sdist vendors it (upstream's files)."""
    try:
        return llama_cpp_source()
    except RuntimeError as exc:
        missing_tool(f"could not get llama.cpp's source (the llama-cpp-python sdist): {exc}")
        raise


@pytest.fixture(scope="session")
def backend_ops() -> Path:
    for tool in ("cmake", "g++"):
        if shutil.which(tool) is None:
            missing_tool(f"{tool} not found (Debian: apt-get install cmake g++)")
    try:
        return build_test_backend_ops()
    except RuntimeError as exc:
        missing_tool(f"could not build llama.cpp's test-backend-ops: {exc}")
        raise
