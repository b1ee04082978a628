"""Work-diary figures at scale: 50 users x 30 days of per-minute samples + 20,000 screenshot records.

    .venv/bin/python bench/bench_reports.py [--postgresql URL] [--skip-sqlite]

Seeds a fresh database (SQLite in a temp dir; PostgreSQL in a throwaway schema when a URL is
given or VINOVA_TEST_DATABASE_URL is set) with bulk inserts (executemany / COPY) and fills the
15-minute rollup with ``rollups.rebuild_rollup`` (the upsert's SQL), then times on the server
side: one user's diary day, the 30-day team report, the CSV export of that report and Team
today, both as the server/reports/ call and as the whole /admin request through Flask (template
included).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

import sqlalchemy
from sqlalchemy import insert, select

import time_manager
from contract.activity import MAX_SAMPLES_PER_BATCH, MinuteSample
from server.db import activity_data, database, models, rollups
from server.db.database import Database
from server.db.users import find_user
from server.reports.csv_export import write_report_csv
from server.reports.days import Report, team_report
from server.reports.diary import DiaryDay, diary_day
from server.reports.team import team_today
from server.reports.zones import user_zones

USER_COUNT = 50
DAY_COUNT = 30
WORK_MINUTES_PER_DAY = 8 * 60
SCREENSHOT_COUNT = 20_000
NOW = datetime(2026, 11, 25, 23, 0, tzinfo=UTC)
ZONES = ("America/New_York", "Asia/Kolkata", "Europe/Berlin", "UTC", "America/Los_Angeles")
STATES = ("tracking",) * 17 + ("idle", "paused", "suspended")


# Every fifth user also runs an idle laptop through the first LAPTOP_MINUTES_PER_DAY of each work day:
# the reports merge it away (the desktop is at least as active, and tracking wins a tie).
LAPTOP_EVERY_NTH_USER = 5
LAPTOP_MINUTES_PER_DAY = 120


def laptop_rows(user_id: int, device_id: int, zone: str, first_day: date) -> Iterator[tuple[Any, ...]]:
    """Rows of COLUMNS for the idle second device of some users."""
    for day_number in range(DAY_COUNT):
        day_start, _ = time_manager.local_day_bounds(first_day + timedelta(days=day_number), zone)
        work_start = day_start + timedelta(hours=9)
        offset = time_manager.utc_offset_minutes(work_start, zone)
        for minute in range(LAPTOP_MINUTES_PER_DAY):
            yield (
                user_id, device_id, work_start + timedelta(minutes=minute), 0, 0, 0, 0, 0, "idle", zone,
                offset,
            )


def sample_rows(
    user_id: int, device_id: int, zone: str, first_day: date, rng: random.Random
) -> Iterator[tuple[Any, ...]]:
    """Rows of COLUMNS: 8 working hours a day from 09:00 local, random activity and states."""
    for day_number in range(DAY_COUNT):
        day_start, _ = time_manager.local_day_bounds(first_day + timedelta(days=day_number), zone)
        work_start = day_start + timedelta(hours=9)
        offset = time_manager.utc_offset_minutes(work_start, zone)
        for minute in range(WORK_MINUTES_PER_DAY):
            state = rng.choice(STATES)
            active = rng.randint(0, 60) if state == "tracking" else 0
            keys = rng.randint(0, 120) if active else 0
            yield (
                user_id, device_id, work_start + timedelta(minutes=minute), active, keys, keys // 4, 0,
                active * 40, state, zone, offset,
            )


COLUMNS = (
    "user_id", "device_id", "minute_start", "active_seconds", "keys", "clicks", "scrolls", "mouse_px",
    "state", "timezone", "utc_offset_minutes",
)


def seed(database: database.Database) -> tuple[float, int, int, float]:
    """Fill users, samples, rollup and screenshots; return (seconds, samples, screenshots, rollup seconds)."""
    started = time.perf_counter()
    rng = random.Random(7)
    first_day = (NOW - timedelta(days=DAY_COUNT)).date()
    with database.session() as session:
        session.execute(
            insert(models.User),
            [
                {"username": f"user{n:02d}", "email": f"user{n:02d}@example.com", "password_hash": "-",
                 "is_admin": False, "is_enabled": True, "created_at": NOW}
                for n in range(USER_COUNT)
            ],
        )
        users = list(session.execute(select(models.User.id, models.User.username).order_by(models.User.id)))
        device_rows = [
            {"user_id": user_id, "uid": uid, "name": uid, "first_seen_at": NOW, "last_seen_at": NOW}
            for user_id, _ in users
            for uid in (("default", "b" * 32) if user_id % LAPTOP_EVERY_NTH_USER == 0 else ("default",))
        ]
        session.execute(insert(models.Device), device_rows)
        device_ids = {
            (int(user_id), uid): int(device_id)
            for device_id, user_id, uid in session.execute(
                select(models.Device.id, models.Device.user_id, models.Device.uid)
            )
        }

    def user_rows(user_id: int) -> Iterator[tuple[Any, ...]]:
        zone = ZONES[user_id % len(ZONES)]
        yield from sample_rows(user_id, device_ids[(user_id, "default")], zone, first_day, rng)
        if (user_id, "b" * 32) in device_ids:
            yield from laptop_rows(user_id, device_ids[(user_id, "b" * 32)], zone, first_day)
    sample_count = 0
    if database.dialect_name == "postgresql":
        raw = database.engine.raw_connection()
        try:
            cursor = raw.cursor()
            with cursor.copy(
                f"COPY activity_samples ({', '.join(COLUMNS)}, received_at) FROM STDIN"
            ) as copy:
                for user_id, _ in users:
                    for row in user_rows(user_id):
                        copy.write_row((*row, NOW))
                        sample_count += 1
            raw.commit()
        finally:
            raw.close()
    else:
        table = models.ActivitySample
        with database.engine.begin() as connection:
            for user_id, _ in users:
                batch = [
                    {**dict(zip(COLUMNS, row, strict=True)), "received_at": NOW}
                    for row in user_rows(user_id)
                ]
                connection.execute(insert(table), batch)
                sample_count += len(batch)
    rollup_started = time.perf_counter()
    with database.engine.begin() as connection:
        rollups.rebuild_rollup(connection)
    rollup_seconds = time.perf_counter() - rollup_started
    per_user = SCREENSHOT_COUNT // USER_COUNT
    shots = []
    for user_id, username in users:
        for n in range(per_user):
            taken = datetime.combine(first_day, datetime.min.time(), UTC) + timedelta(
                minutes=n * (DAY_COUNT * 24 * 60 // per_user) + 7
            )
            shots.append({
                "user_id": user_id, "key": f"{username}/{taken:%Y/%m/%d/%H%M%S}Z-{n:016x}.jpg",
                "taken_at": taken, "timezone": "UTC", "blurred": n % 3 == 0, "width": 1920, "height": 1080,
                "size_bytes": 150_000, "sha256": f"{n:064x}", "uploaded_at": NOW,
            })
    with database.engine.begin() as connection:
        connection.execute(insert(models.Screenshot), shots)
        connection.execute(sqlalchemy.text("ANALYZE"))
    return time.perf_counter() - started, sample_count, len(shots), rollup_seconds


def timed(action: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median and max wall time in milliseconds over ``repeats`` runs (after one warm-up)."""
    action()
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs), max(runs)


def measure(database: database.Database, url: str, data_dir: Path) -> None:
    """Print the figures for one seeded database."""
    last_day = NOW.date() - timedelta(days=1)
    first_day = last_day - timedelta(days=DAY_COUNT - 1)
    shown_day = last_day - timedelta(days=2)

    def diary() -> DiaryDay:
        with database.session() as session:
            user = find_user(session, "user01")
            assert user is not None
            zone = user_zones(session, [user])[user.id]
            return diary_day(session, user, shown_day, zone)

    def report() -> Report:
        with database.session() as session:
            return team_report(session, first_day, last_day)

    def report_csv() -> str:
        buffer = io.StringIO()
        write_report_csv(report(), buffer)
        return buffer.getvalue()

    def team() -> object:
        with database.session() as session:
            return team_today(session, NOW)

    day = diary()
    print(f"  diary day sanity: {day.totals.sample_minutes} minutes, {day.screenshot_count} screenshots")
    csv_lines = [line for line in report_csv().splitlines() if not line.startswith("#")]
    rows = len(list(csv.DictReader(csv_lines)))
    print(f"  report CSV sanity: {rows} user-day rows")
    _check_report_against_minutes(database, report())
    for name, action, repeats in (
        ("diary day (diary.diary_day)", diary, 30),
        ("30-day team report (days.team_report)", report, 10),
        ("CSV export of that report", report_csv, 10),
        ("team today (team.team_today)", team, 10),
    ):
        median, worst = timed(action, repeats)
        print(f"  {name:48s} median {median:7.1f} ms   max {worst:7.1f} ms")
    _measure_pages(url, data_dir, shown_day, first_day, last_day)
    _measure_upserts(database)


def _check_report_against_minutes(database: database.Database, report: Report) -> None:
    """Stop unless the report's totals equal SQL sums over the raw minutes of each user's local range."""
    samples = models.ActivitySample
    desktops = select(models.Device.id).where(models.Device.uid == "default")
    tracking_minutes = active_seconds = 0
    with database.session() as session:
        for user in report.users:
            start, _ = time_manager.local_day_bounds(report.first_day, user.zone.name)
            _, end = time_manager.local_day_bounds(report.last_day, user.zone.name)
            tracking = (
                samples.user_id == user.user_id, samples.minute_start >= start, samples.minute_start < end,
                samples.state == "tracking", samples.device_id.in_(desktops),
            )
            tracking_minutes += int(session.scalar(select(sqlalchemy.func.count()).where(*tracking)) or 0)
            active_seconds += int(session.scalar(select(sqlalchemy.func.sum(samples.active_seconds)).where(
                *tracking)) or 0)
    assert (report.total.tracking_minutes, report.total.active_seconds) == (tracking_minutes, active_seconds)
    print(f"  report sanity: {tracking_minutes:,} tracked minutes, as summed from the raw minutes"
          " (the idle laptops merged away)")


def _measure_upserts(database: database.Database) -> None:
    """The write path: what POST /activity's upsert (minutes + rollup buckets) costs per batch."""
    with database.session() as session:
        user = find_user(session, "user01")
        assert user is not None
        user_id = user.id
    start = NOW - timedelta(days=2)

    def batch(count: int) -> list[MinuteSample]:
        return [
            MinuteSample(
                start + timedelta(minutes=n), 30, 40, 5, 0, 900, "tracking", "UTC", 0
            )
            for n in range(count)
        ]

    for name, records in (("upsert 2 minutes (a live agent)", batch(2)),
                          ("upsert 1,000 minutes (a backlog)", batch(MAX_SAMPLES_PER_BATCH))):
        def upsert(records: list[MinuteSample] = records) -> None:
            with database.session() as session:
                activity_data.upsert_activity(session, user_id, records, NOW)

        median, worst = timed(upsert, 10)
        print(f"  {name:48s} median {median:7.1f} ms   max {worst:7.1f} ms")


def _measure_pages(url: str, data_dir: Path, shown_day: date, first_day: date, last_day: date) -> None:
    sys.path.insert(0, str(PROJECT_DIR / "tests"))
    from server_support import FakeClock, make_app

    app = make_app(url, data_dir, clock=FakeClock(NOW))
    context = app.extensions["vinova"]
    context.auth.create_user("benchadmin", "bench@example.com", "bench password 1", admin=True)
    token = context.auth.issue_token_for_tests("benchadmin") if hasattr(
        context.auth, "issue_token_for_tests") else None
    client = app.test_client()
    if token is None:
        from server_support import latest_code

        login = client.post("/auth/login", json={"username": "benchadmin", "password": "bench password 1"})
        code = latest_code(data_dir, "bench@example.com")
        token = client.post(
            "/auth/verify", json={"challenge_id": login.get_json()["challenge_id"], "code": code}
        ).get_json()["token"]
    with client.session_transaction() as browser_session:
        browser_session["token"] = token
    for name, path, repeats in (
        ("GET /admin/diary/user01/<day>", f"/admin/diary/user01/{shown_day}", 30),
        ("GET /admin/report (30 days)", f"/admin/report?from={first_day}&to={last_day}", 10),
        ("GET /admin/report.csv (30 days)", f"/admin/report.csv?from={first_day}&to={last_day}", 10),
        ("GET /admin/team", "/admin/team", 10),
    ):
        def request(path: str = path) -> None:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)

        median, worst = timed(request, repeats)
        print(f"  {name:48s} median {median:7.1f} ms   max {worst:7.1f} ms")
    context.database.dispose()


@contextmanager
def postgresql_schema(base_url: str) -> Iterator[str]:
    """A throwaway schema on the server at ``base_url``; yields a URL that uses it."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = sqlalchemy.create_engine(base_url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def run_one(label: str, url: str, data_dir: Path) -> None:
    """Migrate, seed and measure one database."""
    database = Database(url)
    database.migrate()
    seconds, samples, shots, rollup_seconds = seed(database)
    print(
        f"{label}: seeded {samples:,} minute samples and {shots:,} screenshots in {seconds:.1f} s"
        f" (of which {rollup_seconds:.1f} s filling the 15-minute rollup)"
    )
    measure(database, url, data_dir)
    database.dispose()


def main() -> None:
    """Run on SQLite and (when configured) PostgreSQL."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgresql", default=os.environ.get("VINOVA_TEST_DATABASE_URL", ""))
    parser.add_argument("--skip-sqlite", action="store_true")
    arguments = parser.parse_args()
    if not arguments.skip_sqlite:
        with tempfile.TemporaryDirectory() as directory:
            run_one("SQLite", f"sqlite:///{Path(directory) / 'bench.db'}", Path(directory))
    if arguments.postgresql:
        with tempfile.TemporaryDirectory() as directory, postgresql_schema(arguments.postgresql) as url:
            run_one("PostgreSQL", url, Path(directory))
    else:
        print("PostgreSQL skipped: pass --postgresql URL or set VINOVA_TEST_DATABASE_URL")


if __name__ == "__main__":
    main()
