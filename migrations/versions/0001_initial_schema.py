"""Initial schema: accounts, sign-in challenges, tokens, throttling, config + audit, activity, screenshots.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every table of the first release."""
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_table(
        "login_challenges",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("last_sent_at", _utc(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", _utc(), nullable=True),
        sa.Column("locked_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_login_challenges"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_login_challenges_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_login_challenges_user_id", "login_challenges", ["user_id"])
    op.create_table(
        "auth_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("revoked_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_auth_tokens"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_auth_tokens_user_id_users", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("token_hash", name="uq_auth_tokens_token_hash"),
    )
    op.create_index("ix_auth_tokens_user_id", "auth_tokens", ["user_id"])
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("failed_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_failures"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_login_failures_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_login_failures_user_time", "login_failures", ["user_id", "failed_at"])
    op.create_table(
        "config_global",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_config_global"),
    )
    op.create_table(
        "config_user_overrides",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "key", name="pk_config_user_overrides"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_config_user_overrides_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "config_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(80), nullable=False),
        sa.Column("target_user_id", sa.Integer(), nullable=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("old_value", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("new_value", sa.JSON(none_as_null=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_config_audit"),
        sa.ForeignKeyConstraint(
            ["target_user_id"], ["users.id"], name="fk_config_audit_target_user_id_users", ondelete="SET NULL"
        ),
    )
    op.create_table(
        "activity_samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("minute_start", _utc(), nullable=False),
        sa.Column("active_seconds", sa.Integer(), nullable=False),
        sa.Column("keys", sa.Integer(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("scrolls", sa.Integer(), nullable=False),
        sa.Column("mouse_px", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("utc_offset_minutes", sa.Integer(), nullable=False),
        sa.Column("received_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_activity_samples"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_activity_samples_user_id_users", ondelete="CASCADE"
        ),
        # Also serves every query by (user, minute range).
        sa.UniqueConstraint("user_id", "minute_start", name="uq_activity_samples_user_minute"),
    )
    op.create_table(
        "screenshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("taken_at", _utc(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("blurred", sa.Boolean(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("uploaded_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_screenshots"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_screenshots_user_id_users", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("key", name="uq_screenshots_key"),
    )
    op.create_index("ix_screenshots_user_taken", "screenshots", ["user_id", "taken_at"])


def downgrade() -> None:
    """Drop every table (loses all data; for development only)."""
    op.drop_index("ix_screenshots_user_taken", table_name="screenshots")
    op.drop_table("screenshots")
    op.drop_table("activity_samples")
    op.drop_table("config_audit")
    op.drop_table("config_user_overrides")
    op.drop_table("config_global")
    op.drop_index("ix_login_failures_user_time", table_name="login_failures")
    op.drop_table("login_failures")
    op.drop_index("ix_auth_tokens_user_id", table_name="auth_tokens")
    op.drop_table("auth_tokens")
    op.drop_index("ix_login_challenges_user_id", table_name="login_challenges")
    op.drop_table("login_challenges")
    op.drop_table("users")
