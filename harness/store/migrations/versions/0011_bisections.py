"""bisections and bisection_probes: ``harness bisect``'s searches for a first bad
commit, each with the commits it probed, their verdicts, evidence and the runs used

Revision ID: 0011_bisections
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011_bisections"
down_revision = "0010"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "bisections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(40), nullable=True),
        sa.Column("cell", sa.String(255), nullable=False),
        sa.Column("suite", sa.String(100), nullable=False),
        sa.Column("tests", _JSON, nullable=False),
        sa.Column("good_sha", sa.String(64), nullable=False),
        sa.Column("bad_sha", sa.String(64), nullable=False),
        sa.Column("candidates", sa.Integer(), nullable=False),
        sa.Column("max_probes", sa.Integer(), nullable=False),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("first_bad", sa.String(64), nullable=True),
        sa.Column("suspects", _JSON, nullable=True),
        sa.Column("flaky", _JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_bisections_job_id_jobs"),
        sa.PrimaryKeyConstraint("id", name="pk_bisections"),
    )
    op.create_index("ix_bisections_cell_created_at", "bisections", ["cell", "created_at"])
    op.create_table(
        "bisection_probes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("bisection_id", sa.Integer(), nullable=False),
        sa.Column("sha", sa.String(64), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("run_ids", _JSON, nullable=False),
        sa.Column("reused", sa.Boolean(), nullable=False),
        sa.Column("outcomes", _JSON, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bisection_id"],
            ["bisections.id"],
            name="fk_bisection_probes_bisection_id_bisections",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_bisection_probes"),
    )
    op.create_index(
        "ix_bisection_probes_bisection_id_id", "bisection_probes", ["bisection_id", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_bisection_probes_bisection_id_id", table_name="bisection_probes")
    op.drop_table("bisection_probes")
    op.drop_index("ix_bisections_cell_created_at", table_name="bisections")
    op.drop_table("bisections")
