"""The retention audit: one row per purge run with what it removed (server/retention.py runs the purge).

A daily run claims its UTC day first (``scheduled_day`` is unique), so when several server nodes
start the daily purge at the same time exactly one of them runs it; a run from the command line
claims no day and always runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Boolean, Date, Integer, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from server.db.models import Base, UtcDateTime

logger = logging.getLogger(__name__)


class RetentionRun(Base):
    """One purge run: when, by which trigger, the retention in force and how many rows/objects it removed."""

    __tablename__ = "retention_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # The UTC day a daily run claimed (unique: one daily run per day across nodes); None from the CLI.
    scheduled_day: Mapped[date | None] = mapped_column(Date(), nullable=True, unique=True)
    trigger: Mapped[str] = mapped_column(String(16))
    screenshot_retention_days: Mapped[int] = mapped_column(Integer)
    activity_retention_days: Mapped[int] = mapped_column(Integer)
    screenshots: Mapped[int] = mapped_column(Integer, default=0)
    minutes: Mapped[int] = mapped_column(Integer, default=0)
    rollups: Mapped[int] = mapped_column(Integer, default=0)
    deletion_entries: Mapped[int] = mapped_column(Integer, default=0)
    sign_in_rows: Mapped[int] = mapped_column(Integer, default=0)
    completed: Mapped[bool] = mapped_column(Boolean, default=False)


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    """What one purge removed (or, on a dry run, would remove)."""

    screenshots: int = 0
    minutes: int = 0
    rollups: int = 0
    deletion_entries: int = 0
    sign_in_rows: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts by name, as the CLI prints them."""
        return {
            "screenshots": self.screenshots, "minutes": self.minutes, "rollups": self.rollups,
            "deletion_entries": self.deletion_entries, "sign_in_rows": self.sign_in_rows,
        }


def claim_run(
    session: Session, *, started_at: datetime, scheduled_day: date | None, trigger: str,
    screenshot_days: int, activity_days: int,
) -> int | None:
    """Insert the run's audit row and return its id; None when another node claimed ``scheduled_day``."""
    run = RetentionRun(
        started_at=started_at, scheduled_day=scheduled_day, trigger=trigger,
        screenshot_retention_days=screenshot_days, activity_retention_days=activity_days,
    )
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:
        return None
    return run.id


def finish_run(session: Session, run_id: int, counts: PurgeCounts, finished_at: datetime) -> None:
    """Write the run's counts and mark it complete."""
    session.execute(
        update(RetentionRun).where(RetentionRun.id == run_id)
        .values(finished_at=finished_at, completed=True, **counts.as_dict())
    )


def last_run(session: Session) -> RetentionRun | None:
    """The newest completed run, or None."""
    query = select(RetentionRun).where(RetentionRun.completed.is_(True)).order_by(RetentionRun.id.desc())
    return session.scalars(query.limit(1)).first()


def recent_runs(session: Session, limit: int = 30) -> list[RetentionRun]:
    """The newest runs first."""
    return list(session.scalars(select(RetentionRun).order_by(RetentionRun.id.desc()).limit(limit)))
