"""Minutes whose input was not counted (issue 15): the count columns may hold NULL.

A device that cannot see input events (a Wayland session without access to ``/dev/input``)
reports its counts as ``null``, "not counted", never 0. ``activity_samples`` keeps them as NULL and
``activity_rollups`` sums them as SQL does (NULL only when no minute of the bucket was counted).
Existing rows keep their numbers: every one of them was counted.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = ("keys", "clicks", "scrolls", "mouse_px")

# (table, the counts' column type): fifteen minutes of counts may pass 2**31 (migration 0003).
_TABLES: tuple[tuple[str, type[sa.types.TypeEngine[int]]], ...] = (
    ("activity_samples", sa.Integer),
    ("activity_rollups", sa.BigInteger),
)


def upgrade() -> None:
    """Let the counts of ``activity_samples`` and ``activity_rollups`` be NULL (not counted)."""
    for table, count_type in _TABLES:
        with op.batch_alter_table(table) as batch:
            for name in _COUNTS:
                batch.alter_column(name, existing_type=count_type(), nullable=True)


def downgrade() -> None:
    """Back to NOT NULL; an uncounted minute or bucket becomes 0 (the old schema cannot say "not counted")."""
    bind = op.get_bind()
    for table, count_type in _TABLES:
        columns = sa.table(table, *(sa.column(name, count_type()) for name in _COUNTS))
        for name in _COUNTS:
            bind.execute(sa.update(columns).where(columns.c[name].is_(None)).values({name: 0}))
        with op.batch_alter_table(table) as batch:
            for name in _COUNTS:
                batch.alter_column(name, existing_type=count_type(), nullable=False)
