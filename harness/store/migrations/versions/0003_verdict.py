"""runs.base_sha, runs.is_default_branch, reruns: what the verdict needs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("runs", sa.Column("base_sha", sa.String(64), nullable=True))
    op.add_column("runs", sa.Column("is_default_branch", sa.Boolean(), nullable=True))
    op.create_table(
        "reruns",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("test_id", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_reruns_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_reruns"),
    )
    op.create_index("ix_reruns_run_id_test_id", "reruns", ["run_id", "test_id"])


def downgrade() -> None:
    op.drop_index("ix_reruns_run_id_test_id", table_name="reruns")
    op.drop_table("reruns")
    # plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35): rebuilding ``runs`` the batch way
    # would cascade-delete every result on a database with foreign keys on
    op.drop_column("runs", "is_default_branch")
    op.drop_column("runs", "base_sha")
