"""participation and participation_changes: each upstream's level as the service runs it
(moved by its SLOs or pinned), the last SLO evaluation, and the history of changes

Revision ID: 0015_participation
Revises: 0012_bisection_scheduling
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015_participation"
down_revision = "0012_bisection_scheduling"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "participation",
        sa.Column("repository", sa.String(255), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slo", _JSON, nullable=True),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("repository", name="pk_participation"),
    )
    op.create_table(
        "participation_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("repository", sa.String(255), nullable=False),
        sa.Column("from_level", sa.String(16), nullable=True),
        sa.Column("to_level", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("by", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_participation_changes"),
    )
    op.create_index(
        "ix_participation_changes_repository_id",
        "participation_changes",
        ["repository", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_participation_changes_repository_id", table_name="participation_changes")
    op.drop_table("participation_changes")
    op.drop_table("participation")
