"""runs.subset, runs.args: the selection a run made, so a baseline is one of the same
selection; runs.seeds and reruns.ordering: the pytest-randomly test order a run and each
rerun used, so an order-dependent failure is told from a flaky one

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("subset", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("args", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column(
                "seeds",
                sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                nullable=True,
            )
        )
    with op.batch_alter_table("reruns") as batch:
        batch.add_column(sa.Column("ordering", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reruns") as batch:
        batch.drop_column("ordering")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("seeds")
        batch.drop_column("args")
        batch.drop_column("subset")
