"""Every monitor its own image: screenshots.monitor.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add screenshots.monitor (0-based); every screenshot registered before it was of monitor 0."""
    with op.batch_alter_table("screenshots") as batch:
        batch.add_column(sa.Column("monitor", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    """Drop screenshots.monitor (the images of one moment stay, without their monitor's number)."""
    with op.batch_alter_table("screenshots") as batch:
        batch.drop_column("monitor")
