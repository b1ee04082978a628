"""A choice after idle: idle minutes a person counted as work (rollups.idle_kept_minutes).

Older minutes hold no ``idle_kept`` state, so every existing bucket's count is 0 and nothing is
recomputed: the column arrives with ``server_default 0``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``activity_rollups.idle_kept_minutes`` (0 for every existing bucket)."""
    with op.batch_alter_table("activity_rollups") as batch:
        batch.add_column(sa.Column("idle_kept_minutes", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    """Drop the column (the minutes keep their ``idle_kept`` state; a rebuild would not count it)."""
    with op.batch_alter_table("activity_rollups") as batch:
        batch.drop_column("idle_kept_minutes")
