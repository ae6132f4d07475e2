"""Alembic environment, configured programmatically by :mod:`harness.store.db`.

The caller passes an open connection (inside a transaction) as
``config.attributes["connection"]``; with only ``sqlalchemy.url`` set (a developer running
Alembic by hand) an engine is made from it the same way the store makes one.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from harness.store.models import Base


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


config = context.config
given = config.attributes.get("connection")
if given is not None:
    run(given)
else:
    from harness.store.db import create_db_engine

    engine = create_db_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as conn:
            run(conn)
    finally:
        engine.dispose()
