"""The employee's side: deletions by the person, captures held back on the device, retention runs.

screenshot_deletions gains ``kind`` ("admin", "owner", "withheld") and ``device_uid``, its ``key``
becomes optional (a capture held back on the device never had a stored object), and an index serves
the diary's per-person, per-day look-up. retention_runs is the purge's audit, one row per run.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the deletion kind and device, make the key optional, create retention_runs."""
    with op.batch_alter_table("screenshot_deletions") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="admin"))
        batch.add_column(sa.Column("device_uid", sa.String(32), nullable=True))
        batch.alter_column("key", existing_type=sa.String(512), nullable=True)
    op.create_index(
        "ix_screenshot_deletions_username_taken", "screenshot_deletions", ["username", "taken_at"]
    )
    op.create_table(
        "retention_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("finished_at", _utc(), nullable=True),
        sa.Column("scheduled_day", sa.Date(), nullable=True),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("screenshot_retention_days", sa.Integer(), nullable=False),
        sa.Column("activity_retention_days", sa.Integer(), nullable=False),
        sa.Column("screenshots", sa.Integer(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("rollups", sa.Integer(), nullable=False),
        sa.Column("deletion_entries", sa.Integer(), nullable=False),
        sa.Column("sign_in_rows", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_retention_runs"),
        sa.UniqueConstraint("scheduled_day", name="uq_retention_runs_scheduled_day"),
    )


def downgrade() -> None:
    """Drop retention_runs and the new columns (held-back entries, which have no key, go too)."""
    op.drop_table("retention_runs")
    op.drop_index("ix_screenshot_deletions_username_taken", table_name="screenshot_deletions")
    op.execute(sa.text("DELETE FROM screenshot_deletions WHERE key IS NULL"))
    with op.batch_alter_table("screenshot_deletions") as batch:
        batch.alter_column("key", existing_type=sa.String(512), nullable=False)
        batch.drop_column("device_uid")
        batch.drop_column("kind")
