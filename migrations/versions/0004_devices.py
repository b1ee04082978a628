"""Devices: minutes, screenshots and agent reports per (user, device); merged in every report.

Every user who has minutes or an agent report gets a "default" device; their minutes and their
agent report move to it (old agents keep landing there). ``agent_reports`` folds into ``devices``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger(__name__)

_DEFAULT_UID = "default"
_DEFAULT_NAME = "default device"


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


# The tables as this revision knows them (never the live models, which move on).
_SAMPLES = sa.table(
    "activity_samples",
    sa.column("id", sa.Integer()),
    sa.column("user_id", sa.Integer()),
    sa.column("device_id", sa.Integer()),
    sa.column("minute_start", _utc()),
    sa.column("received_at", _utc()),
    sa.column("active_seconds", sa.Integer()),
    sa.column("state", sa.String(16)),
)

_REPORTS = sa.table(
    "agent_reports",
    sa.column("user_id", sa.Integer()),
    sa.column("uploads_waiting", sa.Integer()),
    sa.column("kept_aside", sa.Integer()),
    sa.column("reported_at", _utc()),
)

_DEVICES = sa.table(
    "devices",
    sa.column("id", sa.Integer()),
    sa.column("user_id", sa.Integer()),
    sa.column("uid", sa.String(32)),
    sa.column("name", sa.String(64)),
    sa.column("first_seen_at", _utc()),
    sa.column("last_seen_at", _utc()),
    sa.column("uploads_waiting", sa.Integer()),
    sa.column("kept_aside", sa.Integer()),
    sa.column("reported_at", _utc()),
)


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    # SQLite hands back the naive UTC text it keeps.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _bind_moment(value: datetime | None, dialect: str) -> datetime | None:
    """A UTC moment in the form the dialect stores (SQLite: naive UTC text, as the models write)."""
    if value is None:
        return None
    return value.replace(tzinfo=None) if dialect == "sqlite" else value


def _default_devices() -> int:
    """One "default" device per user with minutes or a report, carrying that report; return how many."""
    bind = op.get_bind()
    dialect = bind.dialect.name
    samples = _SAMPLES.c
    seen: dict[int, list[datetime]] = {}
    query = sa.select(samples.user_id, sa.func.min(samples.minute_start), sa.func.max(samples.received_at))
    for user_id, first, last in bind.execute(query.group_by(samples.user_id)):
        seen[int(user_id)] = [moment for moment in (_as_utc(first), _as_utc(last)) if moment is not None]
    reports = {int(row.user_id): row for row in bind.execute(sa.select(_REPORTS))}
    rows = []
    for user_id in sorted({*seen, *reports}):
        report = reports.get(user_id)
        moments = [*seen.get(user_id, []), *([_as_utc(report.reported_at)] if report is not None else [])]
        known = [moment for moment in moments if moment is not None]
        rows.append({
            "user_id": user_id, "uid": _DEFAULT_UID, "name": _DEFAULT_NAME,
            "first_seen_at": _bind_moment(min(known), dialect),
            "last_seen_at": _bind_moment(max(known), dialect),
            "uploads_waiting": report.uploads_waiting if report is not None else None,
            "kept_aside": report.kept_aside if report is not None else None,
            "reported_at": report.reported_at if report is not None else None,
        })
    if rows:
        bind.execute(sa.insert(_DEVICES), rows)
    return len(rows)


def upgrade() -> None:
    """Add devices, file every minute under its user's default device, fold agent_reports in."""
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("first_seen_at", _utc(), nullable=False),
        sa.Column("last_seen_at", _utc(), nullable=False),
        sa.Column("uploads_waiting", sa.Integer(), nullable=True),
        sa.Column("kept_aside", sa.Integer(), nullable=True),
        sa.Column("minutes_set_aside", sa.Integer(), nullable=True),
        sa.Column("input_ok", sa.Boolean(), nullable=True),
        sa.Column("input_restarts", sa.Integer(), nullable=True),
        sa.Column("reported_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_devices_user_id_users", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("user_id", "uid", name="uq_devices_user_uid"),
    )
    devices = _default_devices()
    with op.batch_alter_table("activity_samples") as batch:
        batch.add_column(sa.Column("device_id", sa.Integer(), nullable=True))
    device_of_user = (
        sa.select(_DEVICES.c.id)
        .where(_DEVICES.c.user_id == _SAMPLES.c.user_id, _DEVICES.c.uid == _DEFAULT_UID)
        .scalar_subquery()
    )
    op.get_bind().execute(sa.update(_SAMPLES).values(device_id=device_of_user))
    with op.batch_alter_table("activity_samples") as batch:
        batch.alter_column("device_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_constraint("uq_activity_samples_user_minute", type_="unique")
        # (user, minute, device): unique per device; the leading (user, minute) serves range reads.
        batch.create_unique_constraint(
            "uq_activity_samples_user_minute_device", ["user_id", "minute_start", "device_id"]
        )
        batch.create_foreign_key(
            "fk_activity_samples_device_id_devices", "devices", ["device_id"], ["id"], ondelete="CASCADE"
        )
    with op.batch_alter_table("screenshots") as batch:
        batch.add_column(sa.Column("device_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_screenshots_device_id_devices", "devices", ["device_id"], ["id"], ondelete="SET NULL"
        )
    op.drop_table("agent_reports")
    logger.info("devices: %s default devices made for existing minutes and reports", devices)


def downgrade() -> None:
    """Back to one row per (user, minute): the most active device's minute stays (for development only)."""
    bind = op.get_bind()
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
    devices = _DEVICES.c
    newest = bind.execute(
        sa.select(devices.user_id, devices.uploads_waiting, devices.kept_aside, devices.reported_at)
        .where(devices.reported_at.is_not(None))
        .order_by(devices.user_id, devices.reported_at)
    )
    reports = {int(row.user_id): row for row in newest}
    if reports:
        bind.execute(sa.insert(_REPORTS), [
            {"user_id": user_id, "uploads_waiting": row.uploads_waiting or 0,
             "kept_aside": row.kept_aside or 0,
             "reported_at": row.reported_at}
            for user_id, row in reports.items()
        ])
    samples = _SAMPLES.c
    keep: dict[tuple[int, object], tuple[int, int]] = {}
    every_row = sa.select(samples.id, samples.user_id, samples.minute_start, samples.active_seconds)
    for row in bind.execute(every_row):
        slot = (int(row.user_id), row.minute_start)
        if slot not in keep or row.active_seconds > keep[slot][1]:
            keep[slot] = (int(row.id), int(row.active_seconds))
    kept_ids = {sample_id for sample_id, _ in keep.values()}
    every_id = [int(sample_id) for (sample_id,) in bind.execute(sa.select(samples.id))]
    dropped = [sample_id for sample_id in every_id if sample_id not in kept_ids]
    for first in range(0, len(dropped), 500):
        bind.execute(sa.delete(_SAMPLES).where(samples.id.in_(dropped[first:first + 500])))
    with op.batch_alter_table("screenshots") as batch:
        batch.drop_constraint("fk_screenshots_device_id_devices", type_="foreignkey")
        batch.drop_column("device_id")
    with op.batch_alter_table("activity_samples") as batch:
        batch.drop_constraint("fk_activity_samples_device_id_devices", type_="foreignkey")
        batch.drop_constraint("uq_activity_samples_user_minute_device", type_="unique")
        batch.create_unique_constraint("uq_activity_samples_user_minute", ["user_id", "minute_start"])
        batch.drop_column("device_id")
    op.drop_table("devices")
