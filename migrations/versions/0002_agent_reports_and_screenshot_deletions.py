"""Work diary: the agents' upload backlog and the audit of deleted screenshots.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add agent_reports and screenshot_deletions."""
    op.create_table(
        "agent_reports",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("uploads_waiting", sa.Integer(), nullable=False),
        sa.Column("kept_aside", sa.Integer(), nullable=False),
        sa.Column("reported_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_agent_reports"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_agent_reports_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "screenshot_deletions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        # Kept as text (not a foreign key) so the entry outlives the account and the screenshot.
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("taken_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_screenshot_deletions"),
    )
    op.create_index("ix_screenshot_deletions_at", "screenshot_deletions", ["at"])


def downgrade() -> None:
    """Drop both tables."""
    op.drop_index("ix_screenshot_deletions_at", table_name="screenshot_deletions")
    op.drop_table("screenshot_deletions")
    op.drop_table("agent_reports")
