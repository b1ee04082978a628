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

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger(__name__)


# The tables as this revision knows them (never the live models, which move on).
_SAMPLES = sa.table(
    "activity_samples",
    sa.column("user_id", sa.Integer()),
    sa.column("minute_start", sa.DateTime(timezone=True)),
    sa.column("state", sa.String(16)),
    sa.column("active_seconds", sa.Integer()),
    sa.column("keys", sa.Integer()),
    sa.column("clicks", sa.Integer()),
    sa.column("scrolls", sa.Integer()),
    sa.column("mouse_px", sa.Integer()),
)

_COUNTS = ("keys", "clicks", "scrolls", "mouse_px")

_STATES = ("tracking", "idle", "paused", "suspended")

_ROLLUP_COLUMNS = (
    "user_id", "bucket_start", "sample_minutes", "tracking_minutes", "idle_minutes", "paused_minutes",
    "suspended_minutes", "active_seconds", *_COUNTS,
)

_ROLLUPS = sa.table("activity_rollups", *(sa.column(name) for name in _ROLLUP_COLUMNS))

_BUCKET_SECONDS = 15 * 60

# The start of a minute's 15-minute UTC bucket, in the form each dialect stores timestamps:
# SQLite keeps naive UTC text 'YYYY-MM-DD HH:MM:SS.ffffff' (compared as text, so match it exactly).
_BUCKET_START = {
    "sqlite": (
        f"(datetime(CAST(strftime('%s', minute_start) AS INTEGER) / {_BUCKET_SECONDS} * {_BUCKET_SECONDS},"
        " 'unixepoch') || '.000000')"
    ),
    "postgresql": (
        f"to_timestamp(floor(EXTRACT(EPOCH FROM minute_start) / {_BUCKET_SECONDS}) * {_BUCKET_SECONDS})"
    ),
}


def _backfill() -> int:
    """Fill activity_rollups from every stored minute (the GROUP BY the server's upsert runs per bucket)."""
    bind = op.get_bind()
    samples = _SAMPLES.c
    bucket: sa.ColumnClause[object] = sa.literal_column(_BUCKET_START[bind.dialect.name])
    tracking = samples.state == "tracking"
    query = (
        sa.select(
            samples.user_id,
            bucket,
            sa.func.count(),
            *(sa.func.sum(sa.case((samples.state == state, 1), else_=0)) for state in _STATES),
            sa.func.sum(sa.case((tracking, samples.active_seconds), else_=0)),
            *(sa.func.sum(samples[name]) for name in _COUNTS),
        )
        .group_by(samples.user_id, bucket)
    )
    bind.execute(sa.insert(_ROLLUPS).from_select(list(_ROLLUP_COLUMNS), query))
    return int(bind.scalar(sa.select(sa.func.count()).select_from(_ROLLUPS)) or 0)


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
    buckets = _backfill()
    logger.info("activity rollup backfilled: %s buckets", buckets)


def downgrade() -> None:
    """Drop the rollup (the minutes stay)."""
    op.drop_table("activity_rollups")
