"""service: pull_requests, queue, owed_reports, outbox, github_objects; deliveries.detail;
runs.origin (result bundles)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("webhook_deliveries", sa.Column("detail", sa.Text(), nullable=True))
    op.add_column("runs", sa.Column("origin", sa.String(64), nullable=True))
    op.create_index("uq_runs_origin", "runs", ["origin"], unique=True)
    op.create_table(
        "pull_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("repository", sa.String(200), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("head_sha", sa.String(64), nullable=False),
        sa.Column("head_label", sa.Text(), nullable=True),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("association", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("approved_sha", sa.String(64), nullable=True),
        sa.Column("approved_by", sa.String(100), nullable=True),
        sa.Column("installation_id", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pull_requests"),
        sa.UniqueConstraint("repository", "number", name="uq_pull_requests_repository_number"),
    )
    op.create_table(
        "queue",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(40), nullable=True),
        sa.Column("repository", sa.String(200), nullable=False),
        sa.Column("pr_number", sa.Integer(), nullable=True),
        sa.Column("head_sha", sa.String(64), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("cell", sa.String(255), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_expires_at", TS, nullable=True),
        sa.Column("heartbeat_at", TS, nullable=True),
        sa.Column("not_before", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("delivery_id", sa.String(64), nullable=True),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_queue_job_id_jobs"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_queue_run_id_runs"),
        sa.PrimaryKeyConstraint("id", name="pk_queue"),
    )
    op.create_index("ix_queue_state_priority_id", "queue", ["state", "priority", "id"])
    op.create_index(
        "ix_queue_repository_pr_number_state", "queue", ["repository", "pr_number", "state"]
    )
    op.create_table(
        "owed_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("repository", sa.String(200), nullable=False),
        sa.Column("pr_number", sa.Integer(), nullable=True),
        sa.Column("head_sha", sa.String(64), nullable=False),
        sa.Column("cell", sa.String(255), nullable=False),
        sa.Column("context", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("promised_at", TS, nullable=False),
        sa.Column("deadline_at", TS, nullable=False),
        sa.Column("reported_at", TS, nullable=True),
        sa.Column("flagged_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_owed_reports"),
        sa.UniqueConstraint(
            "repository", "head_sha", "cell", name="uq_owed_reports_repository_head_sha_cell"
        ),
    )
    op.create_index("ix_owed_reports_state_deadline_at", "owed_reports", ["state", "deadline_at"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("repository", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("payload", JSONDoc, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_expires_at", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_state_next_attempt_at", "outbox", ["state", "next_attempt_at"])
    op.create_index("ix_outbox_repository_key", "outbox", ["repository", "key"])
    op.create_table(
        "github_objects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("repository", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("object_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_github_objects"),
        sa.UniqueConstraint(
            "repository", "kind", "key", name="uq_github_objects_repository_kind_key"
        ),
    )


def downgrade() -> None:
    op.drop_table("github_objects")
    op.drop_index("ix_outbox_repository_key", table_name="outbox")
    op.drop_index("ix_outbox_state_next_attempt_at", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("ix_owed_reports_state_deadline_at", table_name="owed_reports")
    op.drop_table("owed_reports")
    op.drop_index("ix_queue_repository_pr_number_state", table_name="queue")
    op.drop_index("ix_queue_state_priority_id", table_name="queue")
    op.drop_table("queue")
    op.drop_table("pull_requests")
    op.drop_column("webhook_deliveries", "detail")
    op.drop_index("uq_runs_origin", table_name="runs")
    op.drop_column("runs", "origin")
