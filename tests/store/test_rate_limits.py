"""Rate limits in the store: limits in a row counted until a success clears them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from harness.store import Store
from harness.store.rate_limits import limits_t


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'h.db'}")


def test_rate_limits_count_hits_in_a_row_until_cleared(store: Store) -> None:
    with store.transaction("t") as tx:
        assert tx.rate_limits.hit("token") == 1
        assert tx.rate_limits.hit("token") == 2
    with store.transaction("t") as tx:
        tx.rate_limits.clear("token")
        assert tx.rate_limits.hit("token") == 1
        hits = tx.connection.execute(select(limits_t.c.hits)).scalars().all()
    assert hits == [1]
