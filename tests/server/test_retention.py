"""The retention purge against the local store with a fake clock, on SQLite and PostgreSQL: what goes, what
stays, the audit row, the dry run, one daily run across two nodes, the CLI and the daily thread."""

from __future__ import annotations

import logging
import threading
import types
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from me_support import post_minutes, sample, upload
from server_support import Server, ServerSetup, make_app
from sqlalchemy import func, select
from support import wait_until

from server.context import services_of
from server.db import rollups
from server.db.models import ActivityRollup, ActivitySample, AuthToken, Screenshot, ScreenshotDeletion
from server.db.retention_runs import RetentionRun
from server.retention import DailyPurge, purge
from server.stores.thumbnails import thumbnail_bytes, thumbnail_key

START = datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC)
SCREENSHOT_DAYS = 30
ACTIVITY_DAYS = 60


@pytest.fixture
def server_setup() -> ServerSetup:
    """An admin (root) and ann, signed in at START; screenshots kept 30 days, minutes 60."""
    return ServerSetup(
        users={"root": True, "ann": False}, signed_in=True, start=START,
        overrides={"VINOVA_SCREENSHOT_RETENTION_DAYS": SCREENSHOT_DAYS,
                   "VINOVA_ACTIVITY_RETENTION_DAYS": ACTIVITY_DAYS},
    )


def _count(server: Server, model: type) -> int:
    with server.context.database.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _completed_runs(server: Server) -> int:
    with server.context.database.session() as session:
        query = select(func.count()).where(RetentionRun.completed.is_(True))
        return int(session.scalar(query) or 0)


def _rollup_rows(server: Server) -> list[tuple[datetime, int, int]]:
    with server.context.database.session() as session:
        return [
            (row.bucket_start, row.sample_minutes, row.active_seconds)
            for row in session.scalars(select(ActivityRollup).order_by(ActivityRollup.bucket_start))
        ]


def _history(server: Server) -> dict[int, dict[str, Any]]:
    """Day 0: 20 minutes, a screenshot; the same again 20 and 45 days later (the clock moves on)."""
    shots = {}
    for offset_days in (0, 20, 45):
        moment = START + timedelta(days=offset_days)
        server.clock.set(moment)
        server.tokens["ann"] = server.sign_in("ann")  # a fresh token: the clock jumped weeks
        base = moment.replace(second=0) - timedelta(minutes=30)
        post_minutes(server, "ann", [sample(base + timedelta(minutes=n), active=n + 1) for n in range(20)])
        shots[offset_days] = upload(server, "ann", moment - timedelta(seconds=5))
    return shots


def test_the_purge_removes_expired_screenshots_minutes_and_rollups_and_writes_one_audit_row(
    server: Server,
) -> None:
    shots = _history(server)
    store = server.context.object_store
    for shot in shots.values():
        assert store.object_size(shot["key"]) is not None
        assert thumbnail_bytes(store, shot["key"]) is not None  # the first view makes it
    with server.context.database.session() as session:
        session.add(ScreenshotDeletion(at=START, actor="root", username="ann", key="old", taken_at=START,
                                       kind="admin"))
    now = START + timedelta(days=70)
    server.clock.set(now)

    dry = purge(server.context, now=now, dry_run=True)
    assert dry is not None
    assert (dry.screenshots, dry.minutes, dry.rollups, dry.deletion_entries) == (2, 20, 2, 1)
    assert _count(server, Screenshot) == 3 and _count(server, RetentionRun) == 0

    counts = purge(server.context, now=now)
    assert counts is not None
    assert counts.screenshots == 2  # taken day 0 and day 20: older than 30 days on day 70
    assert counts.minutes == 20  # day 0 only: older than 60 days
    assert counts.rollups == 2 and counts.deletion_entries == 1
    for offset_days, shot in shots.items():
        kept = offset_days == 45
        assert (store.object_size(shot["key"]) is not None) is kept, offset_days
        assert (store.read_bytes(thumbnail_key(shot["key"])) is not None) is kept, offset_days
    assert _count(server, Screenshot) == 1
    assert _count(server, ActivitySample) == 40
    # What is left of the rollup is exactly what a rebuild from the remaining minutes gives.
    left = _rollup_rows(server)
    with server.context.database.session() as session:
        rollups.rebuild_rollup(session)
    assert _rollup_rows(server) == left and len(left) == 4
    with server.context.database.session() as session:
        [run] = session.scalars(select(RetentionRun)).all()
        assert (run.trigger, run.completed, run.screenshots, run.minutes, run.rollups) == (
            "command", True, 2, 20, 2
        )
        assert (run.screenshot_retention_days, run.activity_retention_days) == (30, 60)
        assert run.started_at == now
    again = purge(server.context, now=now)
    assert again is not None and again.screenshots == again.minutes == again.rollups == 0
    assert _count(server, RetentionRun) == 2


def test_expired_sign_in_rows_go_a_day_after_expiry(server: Server) -> None:
    tokens_before = _count(server, AuthToken)
    assert tokens_before == 2
    with server.context.database.session() as session:
        newest_expiry = session.scalar(select(func.max(AuthToken.expires_at)))
    assert newest_expiry is not None
    not_yet = purge(server.context, now=newest_expiry + timedelta(hours=23))
    assert not_yet is not None and _count(server, AuthToken) == tokens_before  # kept a day after expiry
    later = newest_expiry + timedelta(days=1, minutes=1)
    counts = purge(server.context, now=later)
    assert counts is not None and counts.sign_in_rows >= tokens_before
    assert _count(server, AuthToken) == 0


def test_zero_keeps_everything_forever(server: Server) -> None:
    shots = _history(server)
    app = make_app(
        server.context.settings.database_url, server.data_dir, clock=server.clock,
        VINOVA_SCREENSHOT_RETENTION_DAYS=0, VINOVA_ACTIVITY_RETENTION_DAYS=0,
    )
    try:
        counts = purge(services_of(app), now=START + timedelta(days=3000))
    finally:
        services_of(app).database.dispose()
    assert counts is not None and (counts.screenshots, counts.minutes, counts.rollups) == (0, 0, 0)
    assert _count(server, Screenshot) == len(shots) and _count(server, ActivitySample) == 60


def test_two_nodes_run_the_daily_purge_once_per_day(server: Server) -> None:
    _history(server)
    other_node = make_app(
        server.context.settings.database_url, server.data_dir, clock=server.clock,
        VINOVA_SCREENSHOT_RETENTION_DAYS=SCREENSHOT_DAYS, VINOVA_ACTIVITY_RETENTION_DAYS=ACTIVITY_DAYS,
    )
    try:
        now = START + timedelta(days=70)
        day = now.date()
        first = purge(server.context, now=now, scheduled_day=day, trigger="daily")
        second = purge(services_of(other_node), now=now + timedelta(minutes=5), scheduled_day=day,
                       trigger="daily")
        assert first is not None and first.screenshots == 2
        assert second is None
        tomorrow = purge(services_of(other_node), now=now + timedelta(days=1),
                         scheduled_day=day + timedelta(days=1), trigger="daily")
        assert tomorrow is not None
    finally:
        services_of(other_node).database.dispose()
    with server.context.database.session() as session:
        days = [run.scheduled_day for run in session.scalars(select(RetentionRun).order_by(RetentionRun.id))]
    assert days == [day, day + timedelta(days=1)]


def test_the_cli_purges_or_only_counts_with_dry_run(server: Server) -> None:
    _history(server)
    server.clock.set(START + timedelta(days=70))
    runner = server.app.test_cli_runner()
    dry = runner.invoke(args=["purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would delete: 2 screenshots, 20 minutes" in dry.output
    assert "retention: screenshots 30 days, activity 60 days" in dry.output
    assert _count(server, Screenshot) == 3
    done = runner.invoke(args=["purge"])
    assert done.exit_code == 0, done.output
    assert "deleted: 2 screenshots, 20 minutes" in done.output
    assert _count(server, Screenshot) == 1 and _count(server, RetentionRun) == 1


def test_the_daily_thread_runs_the_purge_and_stops_at_once(server: Server) -> None:
    _history(server)
    server.clock.set(START + timedelta(days=70))
    daily = DailyPurge(server.app, check_seconds=0.05, first_check_seconds=0.01)
    daily.start()
    try:
        wait_until(lambda: _completed_runs(server) == 1, timeout=10, message="the daily purge")
        assert _count(server, Screenshot) == 1
    finally:
        daily.stop()
    with server.context.database.session() as session:
        [run] = session.scalars(select(RetentionRun)).all()
        assert run.trigger == "daily" and run.scheduled_day == (START + timedelta(days=70)).date()
    # Checked many times since, it ran once: the day is done.
    assert _count(server, RetentionRun) == 1


def test_gunicorn_workers_each_start_the_daily_thread_and_stop_it_when_they_exit(server: Server) -> None:
    from server import gunicorn_conf

    def purge_threads() -> list[threading.Thread]:
        return [thread for thread in threading.enumerate() if thread.name == "daily-purge"]

    worker = types.SimpleNamespace(wsgi=server.app, pid=4321, log=logging.getLogger("gunicorn.error"))
    assert not purge_threads()
    gunicorn_conf.post_worker_init(worker)
    [thread] = purge_threads()
    assert thread.is_alive()
    gunicorn_conf.worker_exit(None, worker)
    thread.join(5)
    assert not thread.is_alive()
