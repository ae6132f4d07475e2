"""op_results, op_fallbacks: the op coverage matrix and CPU fallbacks per run

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "op_results",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("op", sa.String(128), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("supported", sa.Boolean(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_op_results_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_op_results"),
    )
    op.create_index("ix_op_results_run_id_op", "op_results", ["run_id", "op"])
    op.create_table(
        "op_fallbacks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(50), nullable=False),
        sa.Column("op", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_op_fallbacks_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_op_fallbacks"),
    )
    op.create_index("ix_op_fallbacks_run_id", "op_fallbacks", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_op_fallbacks_run_id", table_name="op_fallbacks")
    op.drop_table("op_fallbacks")
    op.drop_index("ix_op_results_run_id_op", table_name="op_results")
    op.drop_table("op_results")
