"""Alembic environment: configured programmatically by :mod:`harness.store.db`."""

from __future__ import annotations

from alembic import context

from harness.store.models import Base

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
