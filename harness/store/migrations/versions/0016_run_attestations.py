"""run_attestations: the signed in-toto attestation each run's bundle carried, verified
against the runner's registered key, served at /api/runs/ID/attestation

Revision ID: 0016_run_attestations
Revises: 0015_participation
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016_run_attestations"
down_revision = "0015_participation"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "run_attestations",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("runner", sa.String(200), nullable=False),
        sa.Column("envelope", _JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_run_attestations_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", name="pk_run_attestations"),
    )


def downgrade() -> None:
    op.drop_table("run_attestations")
