"""Migrations: applied on open, idempotent, matching the models, safe to race."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from harness.errors import StoreError
from harness.store import Store
from harness.store.db import alembic_config, create_db_engine, head_revision, upgrade
from harness.store.models import Base

TABLES = {"jobs", "environments", "runs", "results"}


def test_open_migrates_an_empty_database(db_url: str) -> None:
    with Store.open(db_url) as store:
        inspector = sa.inspect(store.engine)
        assert TABLES | {"alembic_version"} <= set(inspector.get_table_names())
        indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("runs")}
        assert indexes["ix_runs_cell_started_at"] == ["cell", "started_at"]
        assert indexes["ix_runs_suite_backend_started_at"] == ["suite", "backend", "started_at"]
        assert indexes["ix_runs_sha"] == ["sha"]
        indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("results")}
        assert indexes == {
            "ix_results_run_id_id": ["run_id", "id"],
            "ix_results_test_id_run_id": ["test_id", "run_id"],
        }
        fks = inspector.get_foreign_keys("results")
        assert fks[0]["referred_table"] == "runs"
        assert fks[0]["options"].get("ondelete") == "CASCADE"
        with store.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == head_revision()


def test_models_match_migrations(db_url: str) -> None:
    """What ``alembic check`` does: autogenerate against the migrated schema finds nothing."""
    engine = create_db_engine(db_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_reopening_does_not_migrate_again(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    Store.open(db_url).close()

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("migrated a current database")

    monkeypatch.setattr(command, "upgrade", refuse)
    for _ in range(3):
        with Store.open(db_url) as store:
            assert store.list_runs() == []


def test_downgrade_and_upgrade_again(db_url: str) -> None:
    engine = create_db_engine(db_url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert not TABLES & set(sa.inspect(engine).get_table_names())
        upgrade(engine)
        assert set(sa.inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()


def test_concurrent_first_opens(db_url: str) -> None:
    """Several threads open a brand-new database at once: one migrates, all succeed."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            barrier.wait()
            with Store.open(db_url) as store:
                store.create_job("cli", "x", None)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_database_from_a_newer_harness(db_url: str) -> None:
    Store.open(db_url).close()
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
    engine.dispose()
    with pytest.raises(StoreError, match="from revision f00dfeed") as info:
        Store.open(db_url)
    assert "newer version" in (info.value.hint or "")
