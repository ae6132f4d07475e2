"""jobs, environments, runs, results

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the types in harness.store.models (a migration must not change when the
# models do): BIGINT/JSONB on PostgreSQL, INTEGER (the rowid)/JSON text on SQLite.
BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("pattern", sa.Text(), nullable=False),
        sa.Column("ref", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_table(
        "environments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("data", JSONDoc, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_environments"),
        sa.UniqueConstraint("digest", name="uq_environments_digest"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(40), nullable=True),
        sa.Column("cell", sa.String(255), nullable=False),
        sa.Column("suite", sa.String(100), nullable=False),
        sa.Column("backend", sa.String(50), nullable=False),
        sa.Column("variant", sa.String(100), nullable=False),
        sa.Column("upstream", sa.String(255), nullable=False),
        sa.Column("ref", sa.Text(), nullable=True),
        sa.Column("sha", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("executor", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("n_passed", sa.Integer(), nullable=False),
        sa.Column("n_failed", sa.Integer(), nullable=False),
        sa.Column("n_error", sa.Integer(), nullable=False),
        sa.Column("n_skipped", sa.Integer(), nullable=False),
        sa.Column("n_xfailed", sa.Integer(), nullable=False),
        sa.Column("n_xpassed", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=True),
        sa.Column("log_dir", sa.Text(), nullable=True),
        sa.Column("out_dir", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_runs_job_id_jobs"),
        sa.ForeignKeyConstraint(
            ["environment_id"], ["environments.id"], name="fk_runs_environment_id_environments"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_cell_started_at", "runs", ["cell", "started_at"])
    op.create_index("ix_runs_suite_backend_started_at", "runs", ["suite", "backend", "started_at"])
    op.create_index("ix_runs_sha", "runs", ["sha"])
    op.create_index("ix_runs_job_id", "runs", ["job_id"])
    op.create_table(
        "results",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("test_id", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_results_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_results"),
    )
    op.create_index("ix_results_run_id_id", "results", ["run_id", "id"])
    op.create_index("ix_results_test_id_run_id", "results", ["test_id", "run_id"])


def downgrade() -> None:
    op.drop_table("results")
    op.drop_table("runs")
    op.drop_table("environments")
    op.drop_table("jobs")
