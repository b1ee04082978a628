"""People and passwords: one-time links (invitation, password reset, email change), the people audit.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create one_time_links and people_audit."""
    op.create_table(
        "one_time_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("used_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_one_time_links"),
        sa.UniqueConstraint("token_hash", name="uq_one_time_links_token_hash"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_one_time_links_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_one_time_links_user_kind", "one_time_links", ["user_id", "kind"])
    op.create_index("ix_one_time_links_expires_at", "one_time_links", ["expires_at"])
    op.create_table(
        "people_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("detail", sa.String(300), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_people_audit"),
    )
    op.create_index("ix_people_audit_at", "people_audit", ["at"])


def downgrade() -> None:
    """Drop both tables."""
    op.drop_index("ix_people_audit_at", table_name="people_audit")
    op.drop_table("people_audit")
    op.drop_index("ix_one_time_links_expires_at", table_name="one_time_links")
    op.drop_index("ix_one_time_links_user_kind", table_name="one_time_links")
    op.drop_table("one_time_links")
