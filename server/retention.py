"""Data that does not live forever: the purge of expired screenshots, minutes, rollups and sign-in rows.

``VINOVA_SCREENSHOT_RETENTION_DAYS`` (default 180) and ``VINOVA_ACTIVITY_RETENTION_DAYS`` (default
730; 0 keeps either forever) say how long the server keeps them. :func:`purge` removes:

* screenshots taken before the screenshot cutoff: image and thumbnail from the store, then the row;
* activity minutes and their 15-minute rollup buckets before the activity cutoff (rounded down to a
  bucket start, so no bucket is left summing minutes that are gone), and deletion-log entries of
  captures taken before it;
* sign-in challenges and tokens expired or revoked more than a day ago, expired browser sessions
  and expired one-time links.

Each run writes one ``retention_runs`` row with its counts. :class:`DailyPurge` runs it once a UTC
day inside ``python app.py``: a run claims its day in the database first, so with several nodes
exactly one runs it. ``flask --app app purge [--dry-run]`` runs it on demand. Every step deletes
what is expired *now*, so two runs at once (the CLI beside a node) delete nothing twice and fail
nothing: an object already gone is fine and a row already deleted is not counted again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from server.context import ServerContext, services, services_of
from server.db import challenges, links, retention_runs
from server.db.models import (
    ActivityRollup,
    ActivitySample,
    AuthToken,
    LoginChallenge,
    Screenshot,
    ScreenshotDeletion,
    WebSession,
)
from server.db.retention_runs import PurgeCounts
from server.db.rollups import rollup_bucket_start
from server.stores.thumbnails import delete_with_thumbnail

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
MINUTE_BATCH_SIZE = 10_000
# Expired sign-in challenges and tokens are kept a day (as the sign-in's own clean-up does).
SIGN_IN_GRACE = timedelta(days=1)
DAILY_CHECK_SECONDS = 3600.0
FIRST_CHECK_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """Before which moments data goes (None: that kind is kept forever)."""

    screenshots: datetime | None
    activity: datetime | None


def cutoffs(screenshot_days: int, activity_days: int, now: datetime) -> Cutoffs:
    """The cutoffs of a run at ``now``; the activity one is a rollup bucket start."""
    screenshot_cutoff = now - timedelta(days=screenshot_days) if screenshot_days > 0 else None
    activity_cutoff = rollup_bucket_start(now - timedelta(days=activity_days)) if activity_days > 0 else None
    return Cutoffs(screenshot_cutoff, activity_cutoff)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _count(session: Session, statement: Any) -> int:
    return int(session.scalar(statement) or 0)


def _purge_screenshots(context: ServerContext, cutoff: datetime) -> int:
    """Delete the store objects, then the rows, a batch at a time (a crash between leaves rows to retry)."""
    removed = 0
    while True:
        with context.database.session() as session:
            batch = session.execute(
                select(Screenshot.id, Screenshot.key).where(Screenshot.taken_at < cutoff)
                .order_by(Screenshot.id).limit(BATCH_SIZE)
            ).all()
        if not batch:
            return removed
        for _, key in batch:
            delete_with_thumbnail(context.object_store, key)
        with context.database.session() as session:
            result = session.execute(delete(Screenshot).where(Screenshot.id.in_([row.id for row in batch])))
            removed += _rowcount(result)
        if len(batch) < BATCH_SIZE:
            return removed


def _purge_activity(context: ServerContext, cutoff: datetime) -> tuple[int, int, int]:
    """Delete minutes, rollup buckets and deletion-log entries before ``cutoff``; return the three counts."""
    minutes = 0
    while True:
        with context.database.session() as session:
            ids = (
                select(ActivitySample.id).where(ActivitySample.minute_start < cutoff).limit(MINUTE_BATCH_SIZE)
            )
            removed = _rowcount(session.execute(
                delete(ActivitySample).where(ActivitySample.id.in_(ids.scalar_subquery()))
                .execution_options(synchronize_session=False)
            ))
        minutes += removed
        if removed < MINUTE_BATCH_SIZE:
            break
    with context.database.session() as session:
        rollups = _rowcount(session.execute(
            delete(ActivityRollup).where(ActivityRollup.bucket_start < cutoff)
        ))
        entries = _rowcount(session.execute(
            delete(ScreenshotDeletion).where(ScreenshotDeletion.taken_at < cutoff)
        ))
    return minutes, rollups, entries


def _purge_sign_in(context: ServerContext, now: datetime) -> int:
    with context.database.session() as session:
        return challenges.purge_expired(session, now, SIGN_IN_GRACE) + links.purge_expired(session, now)


def _count_expired(context: ServerContext, limits: Cutoffs, now: datetime) -> PurgeCounts:
    """What a purge at ``now`` would remove (the dry run)."""
    grace_cutoff = now - SIGN_IN_GRACE
    with context.database.session() as session:
        screenshots = minutes = rollups = entries = 0
        count = select(func.count())
        if limits.screenshots is not None:
            screenshots = _count(session, count.where(Screenshot.taken_at < limits.screenshots))
        if limits.activity is not None:
            minutes = _count(session, count.where(ActivitySample.minute_start < limits.activity))
            rollups = _count(session, count.where(ActivityRollup.bucket_start < limits.activity))
            entries = _count(session, count.where(ScreenshotDeletion.taken_at < limits.activity))
        sign_in = (
            _count(session, select(func.count()).where(LoginChallenge.expires_at < grace_cutoff))
            + _count(session, select(func.count()).where(
                or_(AuthToken.expires_at < grace_cutoff, AuthToken.revoked_at < grace_cutoff)))
            + _count(session, select(func.count()).where(WebSession.expires_at < now))
            + _count(session, select(func.count()).where(links.OneTimeLink.expires_at <= now))
        )
    return PurgeCounts(screenshots, minutes, rollups, entries, sign_in)


def purge(
    context: ServerContext, *, now: datetime, dry_run: bool = False, scheduled_day: date | None = None,
    trigger: str = "command",
) -> PurgeCounts | None:
    """Run the purge at ``now`` and write its audit row; None when ``scheduled_day`` was already claimed.

    A dry run only counts what would go and writes nothing.
    """
    settings = context.settings
    limits = cutoffs(settings.screenshot_retention_days, settings.activity_retention_days, now)
    if dry_run:
        return _count_expired(context, limits, now)
    with context.database.session() as session:
        run_id = retention_runs.claim_run(
            session, started_at=now, scheduled_day=scheduled_day, trigger=trigger,
            screenshot_days=settings.screenshot_retention_days,
            activity_days=settings.activity_retention_days,
        )
    if run_id is None:
        logger.info("the purge of %s already ran on another node", scheduled_day)
        return None
    screenshots = _purge_screenshots(context, limits.screenshots) if limits.screenshots is not None else 0
    minutes = rollups = entries = 0
    if limits.activity is not None:
        minutes, rollups, entries = _purge_activity(context, limits.activity)
    counts = PurgeCounts(screenshots, minutes, rollups, entries, _purge_sign_in(context, now))
    with context.database.session() as session:
        retention_runs.finish_run(session, run_id, counts, context.now())
    logger.info("purge done: %s", ", ".join(f"{name} {value}" for name, value in counts.as_dict().items()))
    return counts


class DailyPurge:
    """The purge once a UTC day on a daemon thread of ``python app.py``; :meth:`stop` ends it at once.

    It looks every ``check_seconds`` (an hour) whether today's run is still to do, so a node that
    restarts often still runs it, and a day another node claimed is skipped.
    """

    def __init__(
        self, app: Flask, *, check_seconds: float = DAILY_CHECK_SECONDS,
        first_check_seconds: float = FIRST_CHECK_SECONDS,
    ) -> None:
        self._app = app
        self._check_seconds = check_seconds
        self._first_check_seconds = first_check_seconds
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._done_day: date | None = None

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="daily-purge", daemon=True)
            self._thread.start()

    def stop(self, timeout_seconds: float = 5.0) -> None:
        """Ask the thread to end and wait for it (a purge in progress finishes its current step first)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_seconds)

    def run_once(self) -> PurgeCounts | None:
        """Today's purge, unless this node or another already ran it; errors are logged, never raised."""
        context = services_of(self._app)
        now = context.now()
        today = now.date()
        if self._done_day == today:
            return None
        try:
            counts = purge(context, now=now, scheduled_day=today, trigger="daily")
        except Exception:
            logger.exception("the daily purge failed")
            return None
        self._done_day = today
        return counts

    def _loop(self) -> None:
        delay = self._first_check_seconds
        while not self._stopping.wait(delay):
            self.run_once()
            delay = self._check_seconds


@click.command("purge")
@with_appcontext
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted; change nothing.")
def purge_command(dry_run: bool) -> None:
    """Delete screenshots, minutes and sign-in rows past their retention now (one audit entry)."""
    context = services()
    settings = context.settings
    click.echo(f"retention: screenshots {_days_text(settings.screenshot_retention_days)}, "
               f"activity {_days_text(settings.activity_retention_days)}")
    counts = purge(context, now=context.now(), dry_run=dry_run)
    if counts is None:  # a run from the command line claims no day, so this does not happen
        raise click.ClickException("the purge did not run")
    verb = "would delete" if dry_run else "deleted"
    words = (f"{value} {name.replace('sign_in', 'sign-in').replace('_', ' ')}"
             for name, value in counts.as_dict().items())
    listed = ", ".join(words)
    click.echo(f"{verb}: {listed}")


def _days_text(days: int) -> str:
    return "kept forever" if days <= 0 else f"{days} days"


def register(app: Flask) -> None:
    """Add ``purge`` to ``app.cli``."""
    app.cli.add_command(purge_command)
