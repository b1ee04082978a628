"""Authenticator apps and lasting sessions: TOTP secrets, recovery codes, sliding tokens, session details.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing yet: the revision keeps its place in the chain while its change is built."""


def downgrade() -> None:
    """Nothing yet."""
