"""Range reports: a 15-minute rollup of the activity minutes, backfilled from the stored minutes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.db import rollups

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger(__name__)


def upgrade() -> None:
    """Add activity_rollups and fill it from activity_samples."""
    op.create_table(
        "activity_rollups",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sample_minutes", sa.Integer(), nullable=False),
        sa.Column("tracking_minutes", sa.Integer(), nullable=False),
        sa.Column("idle_minutes", sa.Integer(), nullable=False),
        sa.Column("paused_minutes", sa.Integer(), nullable=False),
        sa.Column("suspended_minutes", sa.Integer(), nullable=False),
        sa.Column("active_seconds", sa.Integer(), nullable=False),
        sa.Column("keys", sa.BigInteger(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("scrolls", sa.BigInteger(), nullable=False),
        sa.Column("mouse_px", sa.BigInteger(), nullable=False),
        # The primary key (user_id, bucket_start) serves every range read.
        sa.PrimaryKeyConstraint("user_id", "bucket_start", name="pk_activity_rollups"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_activity_rollups_user_id_users", ondelete="CASCADE"
        ),
    )
    # The same GROUP BY the upsert runs per bucket, over every stored minute.
    buckets = rollups.rebuild_rollup(op.get_bind())
    logger.info("activity rollup backfilled: %s buckets", buckets)


def downgrade() -> None:
    """Drop the rollup (the minutes stay)."""
    op.drop_table("activity_rollups")
