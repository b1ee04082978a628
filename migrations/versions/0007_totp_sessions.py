"""Authenticator apps and lasting sessions: TOTP secrets, recovery codes, sliding tokens, session details.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the TOTP columns, the session details, the recovery codes and the sign-in policies."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("totp_secret", sa.String(255), nullable=True))
        batch.add_column(sa.Column("totp_enabled_at", _utc(), nullable=True))
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("login_challenges") as batch:
        batch.add_column(sa.Column("method", sa.String(8), nullable=False, server_default="email"))
    with op.batch_alter_table("auth_tokens") as batch:
        batch.add_column(sa.Column("last_used_at", _utc(), nullable=True))
        batch.add_column(sa.Column("device_name", sa.String(128), nullable=True))
        batch.add_column(sa.Column("address", sa.String(64), nullable=True))
        batch.add_column(sa.Column("kind", sa.String(8), nullable=False, server_default="desktop"))
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(sa.Column("last_seen_at", _utc(), nullable=True))
        batch.add_column(sa.Column("address", sa.String(64), nullable=True))
        batch.add_column(sa.Column("user_agent", sa.String(256), nullable=True))
    op.create_table(
        "totp_recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("used_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_totp_recovery_codes"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_totp_recovery_codes_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_totp_recovery_codes_user_id", "totp_recovery_codes", ["user_id"])
    op.create_table(
        "sign_in_policies",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_sign_in_policies"),
    )


def downgrade() -> None:
    """Drop the new tables and columns."""
    op.drop_table("sign_in_policies")
    op.drop_index("ix_totp_recovery_codes_user_id", table_name="totp_recovery_codes")
    op.drop_table("totp_recovery_codes")
    with op.batch_alter_table("web_sessions") as batch:
        for name in ("user_agent", "address", "last_seen_at"):
            batch.drop_column(name)
    with op.batch_alter_table("auth_tokens") as batch:
        for name in ("kind", "address", "device_name", "last_used_at"):
            batch.drop_column(name)
    with op.batch_alter_table("login_challenges") as batch:
        batch.drop_column("method")
    with op.batch_alter_table("users") as batch:
        for name in ("totp_last_step", "totp_enabled_at", "totp_secret"):
            batch.drop_column(name)
