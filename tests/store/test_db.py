"""URLs, engines, SQLite settings and the errors a bad database gives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.errors import StoreError
from harness.store import Store, default_db_url
from harness.store.db import create_db_engine, mask_url, parse_url


def test_default_url_respects_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HARNESS_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_db_url() == f"sqlite:///{tmp_path / 'xdg' / 'harness' / 'harness.db'}"
    assert (tmp_path / "xdg" / "harness").is_dir()
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_db_url().endswith("/home/.local/share/harness/harness.db")
    monkeypatch.setenv("HARNESS_DB", "postgresql://u@h/db")
    assert default_db_url() == "postgresql://u@h/db"


def test_open_without_url_uses_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HARNESS_DB", f"sqlite:///{tmp_path / 'env.db'}")
    with Store.open() as store:
        assert store.list_runs() == []
    assert (tmp_path / "env.db").is_file()


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u@h:5432/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
        ("sqlite://", "sqlite"),
    ],
)
def test_parse_url(url: str, driver: str) -> None:
    assert parse_url(url).drivername == driver


def test_masking_hides_passwords() -> None:
    assert mask_url(parse_url("postgresql://me:pw@h/db")) == "postgresql+psycopg://me:***@h/db"
    assert mask_url("postgresql://me:p%40w@h:bad/db") == "postgresql://me:***@h:bad/db"
    assert mask_url("sqlite:///a.db") == "sqlite:///a.db"


def test_sqlite_settings(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as store, store.engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
        }
        assert (tmp_path / "h.db-wal").exists()  # while connections are open
    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "synchronous": 1,
        "busy_timeout": 30000,
    }


def test_sqlite_creates_parent_directories(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'a' / 'b' / 'h.db'}"):
        pass
    assert (tmp_path / "a" / "b" / "h.db").is_file()


def test_in_memory_sqlite_is_shared_between_threads() -> None:
    import threading

    with Store.open("sqlite://") as store:
        ids: list[list[int]] = []
        t = threading.Thread(target=lambda: ids.append([r.id for r in store.list_runs()]))
        t.start()
        t.join()
        assert ids == [[]]  # the other thread saw the migrated schema


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://u:hunter2@h/db", "unsupported database 'mysql'"),
        ("postgresql://u:hunter2@h:notaport/db", "is not a database URL"),
    ],
)
def test_bad_urls_give_clear_errors(url: str, expected: str) -> None:
    with pytest.raises(StoreError, match=expected) as info:
        Store.open(url)
    assert "hunter2" not in str(info.value)
    assert "sqlite:///" in (info.value.hint or "")


def test_unreachable_postgres_names_url_without_password() -> None:
    with pytest.raises(StoreError) as info:
        Store.open("postgresql://harness:s3cret@127.0.0.1:1/nope")
    text = str(info.value)
    assert "s3cret" not in text
    assert "postgresql+psycopg://harness:***@127.0.0.1:1/nope" in text
    assert "cannot open the database" in text
    assert "refused" in text.lower() or "connect" in text.lower()  # the driver's reason


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_sqlite_directory(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="cannot open the database"):
            Store.open(f"sqlite:///{tmp_path / 'sub' / 'h.db'}")
    finally:
        tmp_path.chmod(0o700)


def test_sqlite_path_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match=r"cannot open the database sqlite:///.*dir\.db: "):
        Store.open(f"sqlite:///{tmp_path / 'dir.db'}")


def test_engine_is_lazy(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'lazy.db'}")
    assert not (tmp_path / "lazy.db").exists()
    engine.dispose()
