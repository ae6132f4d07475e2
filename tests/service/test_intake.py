"""Group commit of deliveries, on SQLite (on the event loop) and PostgreSQL (in a thread)."""

from __future__ import annotations

import asyncio
import concurrent.futures

from harness.service.intake import GroupCommit
from harness.store import Store
from harness.store.deliveries import Delivery, delivery_counts, list_deliveries


def test_concurrent_deliveries_are_stored_once_each(db_url: str) -> None:
    with Store.open(db_url) as store:
        writer = GroupCommit(store, max_batch=7)

        async def send_all() -> list[bool]:
            ids = [f"d-{i}" for i in range(30)] + ["d-3", "d-3", "d-29"]  # redeliveries
            return await asyncio.gather(
                *(writer.record(Delivery(i, "push", None, "o/r", "{}")) for i in ids)
            )

        # a fresh thread: asyncio.run() must not meet another library's running loop
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            results = pool.submit(asyncio.run, send_all()).result()
        assert results[:30] == [True] * 30
        assert results[30:] == [False, False, False]
        assert delivery_counts(store) == {"push": 30}
        assert len(list_deliveries(store, status="received", limit=100)) == 30
