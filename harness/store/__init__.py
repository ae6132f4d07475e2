"""Persistent history: jobs, runs, results and environment fingerprints.

SQLite (WAL) by default, PostgreSQL by URL (``--db``/``HARNESS_DB``); the schema is
managed by Alembic migrations that run when a store is opened.
"""

from __future__ import annotations

from harness.store.db import default_db_url
from harness.store.models import RunRecord
from harness.store.repository import NotFound, RunNotFound, Store
from harness.store.transaction import Transaction

__all__ = ["NotFound", "RunNotFound", "RunRecord", "Store", "Transaction", "default_db_url"]
