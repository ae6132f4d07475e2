"""Units of work: Store.transaction commits or rolls back as one, says what failed, and
marks the thread as inside a write transaction; Store.reading only reads."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from harness.errors import StoreError
from harness.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'h.db'}")


def test_a_unit_of_work_commits_as_one_or_not_at_all(store: Store) -> None:
    def half_way() -> None:
        with store.transaction("t") as tx:
            tx.rate_limits.hit("token")
            raise RuntimeError("half way")

    with pytest.raises(RuntimeError, match="half way"):
        half_way()
    with store.reading("t") as r:
        assert r.rate_limits.known() == {}
    with store.transaction("t") as tx:
        tx.rate_limits.hit("token")
        tx.rate_limits.hit("installation:7")
    with store.reading("t") as r:
        assert set(r.rate_limits.known()) == {"token", "installation:7"}
        assert not r.writing


def test_in_transaction_is_set_inside_a_write_unit_of_work_of_this_thread_only(
    store: Store,
) -> None:
    seen: list[bool] = []
    assert not store.in_transaction
    with store.transaction("t"):
        assert store.in_transaction
        other = threading.Thread(target=lambda: seen.append(store.in_transaction))
        other.start()
        other.join()
    assert seen == [False]
    assert not store.in_transaction
    with store.reading("t"):
        assert not store.in_transaction

    def failing() -> None:
        with store.transaction("t"):
            raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        failing()
    assert not store.in_transaction


def test_a_database_error_names_what_was_being_done(store: Store) -> None:
    with (
        pytest.raises(StoreError, match="recording a thing failed"),
        store.transaction("recording a thing") as tx,
    ):
        tx.connection.exec_driver_sql("INSERT INTO no_such_table VALUES (1)")
