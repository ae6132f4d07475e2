"""Results uploads in the store: the first answer per archive and caller, kept a while."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from harness.store import Store
from harness.store.rows import now


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'h.db'}")


def test_uploads_keep_the_first_answer_per_digest_and_caller(store: Store) -> None:
    with store.transaction("t") as tx:
        tx.uploads.remember("d1", "hmac", [{"run": 1}])
        tx.uploads.remember("d1", "hmac", [{"run": 2}])  # a concurrent resend: first kept
        tx.uploads.remember("d2", "hmac", [{"run": 3}])
    with store.reading("t") as r:
        assert r.uploads.answer("d1", "hmac") == [{"run": 1}]
        assert r.uploads.answer("d1", "oidc:9") is None
    with store.transaction("t") as tx:
        tx.uploads.forget_before(now() + timedelta(seconds=1))
    with store.reading("t") as r:
        assert r.uploads.answer("d2", "hmac") is None
