"""The window's words, without a display: sign-in errors, durations, the status badge, summaries, scale."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from activity_tracker import ActivityTracker
from agent.engine import AgentStatus
from agent.minutes import ActivityTotals
from agent.window.formatting import (
    clock_text,
    config_change_text,
    count_text,
    describe_status,
    format_duration,
    format_interval,
    wait_text,
)
from agent.window.look import ui_scale_from_environment
from agent.window.plain_words import plain_text, scrub
from agent.window.presenter import MinuteSummaries
from agent.window.sign_in import sign_in_error_text
from agent.worker import UploadStatus
from battery_manager import BatteryReading
from contract.config_schema import AgentConfig
from contract.errors import AuthError, TransientError

SERVER_URL = "http://vinova.test:5000"


def test_sign_in_errors_are_plain_words() -> None:
    wrong = sign_in_error_text(AuthError("x", code="invalid_credentials"), SERVER_URL)
    assert wrong == "Wrong username or password."
    locked = sign_in_error_text(AuthError("x", code="too_many_attempts", retry_after_seconds=250), SERVER_URL)
    assert "locked" in locked and "4 min 10 s" in locked
    assert SERVER_URL in sign_in_error_text(TransientError("down"), SERVER_URL)
    assert "expired" in sign_in_error_text(AuthError("x", code="code_expired"), SERVER_URL)
    assert "already used" in sign_in_error_text(AuthError("x", code="code_used"), SERVER_URL)
    assert wait_text(None) == "a little while" and wait_text(60) == "1 min" and wait_text(5) == "5 s"


def test_durations_and_intervals_read_naturally() -> None:
    assert format_duration(41) == "41 s"
    assert format_duration(725) == "12 min 05 s"
    assert format_duration(3720) == "1 h 02 min"
    assert format_interval(300) == "5 min" and format_interval(90) == "90 s"
    assert format_interval(7200) == "2 h"


def _status(state: str = "tracking", **changes: Any) -> AgentStatus:
    values: dict[str, Any] = {
        "state": state, "offline": False, "samples_waiting": 0, "config": AgentConfig(),
        "config_changed_at": None, "battery": None, "session_expired": False,
    }
    values.update(changes)
    return AgentStatus(**values)


def _uploads(waiting: int = 0, offline: bool = False) -> UploadStatus:
    return UploadStatus(waiting=waiting, kept_aside=0, kept_aside_reasons={}, uploaded_total=0,
                        last_upload_at=None, offline=offline, next_retry_at=None)


def test_status_badge_names_each_state() -> None:
    assert describe_status(_status(), None, paused=False) == ("tracking", "Tracking")
    assert describe_status(_status("idle"), None, paused=False) == ("idle", "Idle")
    assert describe_status(_status(), None, paused=True) == ("paused", "Paused")
    battery = BatteryReading(18.0, plugged_in=False)
    assert describe_status(_status("suspended", battery=battery), None, paused=False) == (
        "suspended", "Suspended (battery 18 %)")
    offline = describe_status(_status(samples_waiting=2), _uploads(waiting=3, offline=True), paused=False)
    assert offline == ("offline", "Offline (5 waiting)")
    assert describe_status(_status(session_expired=True), None, paused=False)[0] == "signed_out"


def test_minute_summaries_report_each_ended_minute_once_even_across_midnight() -> None:
    # A tracker whose local day (UTC) begins at minute 1440: the minute before midnight had the typing.
    tracker = ActivityTracker(idle_threshold_seconds=300, timezone_name="UTC", wall_clock=lambda: 1439 * 60.0)
    for _ in range(7):
        tracker.on_key_press()
    summaries = MinuteSummaries()
    assert summaries.update(1439, tracker.totals_between) is None
    assert summaries.update(1439, tracker.totals_between) is None
    tracker.collect(now=1440 * 60.0 + 1)
    assert tracker.today_totals(now=1440 * 60.0 + 1) == ActivityTotals()  # the new day starts from zero
    ended = summaries.update(1440, tracker.totals_between)
    assert ended is not None and (ended.keys, ended.active_seconds) == (7, 1)
    assert summaries.update(1440, tracker.totals_between) is None


def test_ui_scale_comes_from_the_environment() -> None:
    assert ui_scale_from_environment({}) == 1.0
    assert ui_scale_from_environment({"VINOVA_UI_SCALE": "2"}) == 2.0
    assert ui_scale_from_environment({"VINOVA_UI_SCALE": "150%"}) == 1.5
    assert ui_scale_from_environment({"VINOVA_UI_SCALE": "huge"}) == 1.0


# --------------------------------------------------------------------------- plain words (issue 13)
def _record(message: str, *args: object, name: str = "agent.engine") -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)


def test_counts_say_one_minute_and_four_minutes() -> None:
    assert count_text(1, "minute") == "1 minute" and count_text(4, "minute") == "4 minutes"
    assert count_text(0, "key") == "0 keys" and count_text(1200, "screenshot") == "1,200 screenshots"


def test_the_clock_names_the_zone_once() -> None:
    moment = datetime(2026, 12, 2, 20, 8, 6, tzinfo=UTC)
    assert clock_text(moment, "UTC") == "Wed 2 Dec, 20:08 UTC"
    assert clock_text(moment, "Europe/London") == "Wed 2 Dec, 20:08 GMT"  # the same clock as UTC
    assert clock_text(moment, "America/New_York") == "Wed 2 Dec, 15:08 EST · 20:08 UTC"
    late = datetime(2026, 12, 2, 23, 8, tzinfo=UTC)
    assert clock_text(late, "Asia/Tokyo") == "Thu 3 Dec, 08:08 JST · Wed 23:08 UTC"
    assert "(" not in clock_text(moment, "UTC") and ":06" not in clock_text(moment, "UTC")


def test_config_changes_read_as_settings_not_keys() -> None:
    text = config_change_text("screenshot_interval 300 → 60, blur_screenshots false → true, "
                              "config_poll_interval 60 → 5, battery_threshold 20 → 30")
    assert text == ("screenshot interval 5 min → 1 min, blur screenshots off → on, "
                    "config poll interval 1 min → 5 s, suspend below battery 20 % → 30 %")
    assert config_change_text("not a change list") == "not a change list"


def test_the_pane_speaks_plain_words_instead_of_keys_routes_and_exception_names() -> None:
    taken = _record("screenshot taken: %s (%dx%d, %d KB%s)", "ann/2026/12/02/200806Z-abc.jpg", 1920, 1080,
                    210, ", blurred", name="screenshot_manager")
    assert plain_text(taken) is None  # the window writes its own line for each capture
    offline = plain_text(_record("offline: %s; %d minutes wait, retrying in %.0f s",
                                 "activity upload: cannot reach the server (ConnectionError)", 1, 64.2))
    assert offline == "Offline: cannot reach the server. 1 minute of activity wait; trying again in 1 min 4 s"
    failed = plain_text(_record("the %s job failed: %s", "config", "config poll: HTTP 503 (unavailable)"))
    assert failed == "Checking for new settings failed: the server had a problem"
    kept = plain_text(_record("capture %s kept aside: %s", "ann/2026/12/02/x.jpg",
                              "POST /uploads/sign: HTTP 400"))
    assert kept is not None and "ann/" not in kept and "/uploads" not in kept and "POST" not in kept
    assert plain_text(_record("config changed: %s", "blur_screenshots false → true")) == (
        "New settings from the server: blur screenshots off → on")
    refused = plain_text(_record("the server refused %d activity minutes (kept, retry in %.0f s): %s", 1, 300,
                                 "bad"))
    assert refused == "The server refused 1 minute of activity (kept; trying again in 5 min): bad"
    paused = plain_text(_record("tracking paused by the user"))
    assert paused == "Paused: nothing is recorded until you press Resume"


def test_an_unknown_line_keeps_its_words_without_the_developer_parts() -> None:
    assert scrub("upload of ann/2026/12/02/x.jpg failed (ReadTimeout)") == "Upload of a screenshot failed"
    assert scrub("GET /get-config: timed out") == "Timed out"
    assert plain_text(_record("a %s line", "new")) == "A new line"
    assert plain_text(_record("wrong %d args", "x")) == "Wrong %d args"  # never raises on a bad record
