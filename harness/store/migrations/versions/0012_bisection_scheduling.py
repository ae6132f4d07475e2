"""bisections: kind (commits or stack), the service's own (origin ``auto``) queued and
leased like queue items, the runs they start from, a key that makes a scheduled one
exactly-once, and the stack answer; bisection_probes: the stack pins a probe ran with

Revision ID: 0012_bisection_scheduling
Revises: 0011_bisections
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012_bisection_scheduling"
down_revision = "0011_bisections"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("bisections") as batch:
        batch.add_column(sa.Column("kind", sa.String(8), nullable=False, server_default="commits"))
        batch.add_column(sa.Column("origin", sa.String(8), nullable=False, server_default="manual"))
        batch.add_column(sa.Column("repository", sa.String(255), nullable=True))
        batch.add_column(sa.Column("good_run_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("bad_run_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("dedup_key", sa.String(400), nullable=True))
        batch.add_column(sa.Column("lease_owner", sa.String(200), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("result", _JSON, nullable=True))
        batch.create_unique_constraint("uq_bisections_dedup_key", ["dedup_key"])
    op.create_index("ix_bisections_repository_status", "bisections", ["repository", "status"])
    with op.batch_alter_table("bisection_probes") as batch:
        batch.add_column(sa.Column("pins", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bisection_probes") as batch:
        batch.drop_column("pins")
    op.drop_index("ix_bisections_repository_status", table_name="bisections")
    with op.batch_alter_table("bisections") as batch:
        batch.drop_constraint("uq_bisections_dedup_key", type_="unique")
        for name in (
            "result",
            "attempts",
            "lease_expires_at",
            "lease_owner",
            "dedup_key",
            "bad_run_id",
            "good_run_id",
            "repository",
            "origin",
            "kind",
        ):
            batch.drop_column(name)
