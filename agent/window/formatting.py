"""Plain words for the window: durations, intervals, the status badge and the config rows."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import time_manager
from agent.desktop_notes import SCREENSHOTS_BLOCKED
from agent.engine import AgentStatus
from agent.worker import UploadStatus
from contract.config_schema import SCHEMA_BY_NAME, AgentConfig
from contract.errors import ConfigError

NO_VALUE = "\N{EN DASH}"
CHANGE = re.compile(r"(\w+) (.+?) \N{RIGHTWARDS ARROW} (.+?)(?=, \w+ |$)")


NOT_COUNTED = "\N{EM DASH}"  # a count this device cannot see (Wayland without evdev): never shown as 0


def count_text(count: int | None, noun: str) -> str:
    """``"1 minute"``, ``"4 minutes"``, ``"1,200 screenshots"`` (regular plurals only); ``"— keys"`` for
    a count that is not counted here (None)."""
    if count is None:
        return f"{NOT_COUNTED} {noun}s"
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def count_number(count: int | None) -> str:
    """``"1,200"``, or ``"—"`` when not counted on this device (None)."""
    return NOT_COUNTED if count is None else f"{count:,}"


def clock_text(moment: datetime, zone_name: str) -> str:
    """The window's clock: ``"Wed 2 Dec, 20:08 UTC"``, or ``"Wed 2 Dec, 15:08 EST · 20:08 UTC"``.

    The zone is named once: UTC is added only where the local clock is not UTC's already.
    """
    local = time_manager.to_local(moment, zone_name)
    utc = time_manager.to_utc(moment)
    text = f"{local:%a} {local.day} {local:%b}, {local:%H:%M} {local.tzname() or zone_name}"
    if local.utcoffset() == timedelta(0):  # UTC itself, or GMT/WET in winter: the same clock
        return text
    day = "" if utc.date() == local.date() else f"{utc:%a} "
    return f"{text} · {day}{utc:%H:%M} UTC"


def _setting_value(name: str, value: str) -> str:
    spec = SCHEMA_BY_NAME.get(name)
    if value in ("true", "false"):
        return "on" if value == "true" else "off"
    if spec is not None and spec.unit == "seconds" and value.isdigit():
        return format_interval(int(value))
    if spec is not None and spec.unit in ("percent", "minutes") and value.isdigit():
        return f"{value} %" if spec.unit == "percent" else count_text(int(value), "minute")
    return "this computer's zone" if name == "timezone" and value == "local" else value


def config_change_text(changes: str) -> str:
    """``"screenshot_interval 300 → 60, blur_screenshots false → true"`` in plain words."""
    parts = []
    for name, old, new in CHANGE.findall(changes):
        spec = SCHEMA_BY_NAME.get(name)
        label = spec.label.split(" (")[0] if spec is not None else name.replace("_", " ")
        parts.append(f"{label.lower()} {_setting_value(name, old)} \N{RIGHTWARDS ARROW} "
                     f"{_setting_value(name, new)}")
    return ", ".join(parts) if parts else changes


def format_duration(seconds: float) -> str:
    """``"1 h 02 min"``, ``"12 min 05 s"`` or ``"41 s"``."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def format_interval(seconds: int) -> str:
    """A configured interval in the largest whole unit: ``"5 min"``, ``"90 s"``, ``"1 h"``."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def wait_text(seconds: int | None) -> str:
    """``"4 min 10 s"`` for a wait the user is asked to sit out."""
    if seconds is None:
        return "a little while"
    minutes, rest = divmod(max(0, int(seconds)), 60)
    if minutes and rest:
        return f"{minutes} min {rest} s"
    return f"{minutes} min" if minutes else f"{rest} s"


def describe_status(status: AgentStatus, uploads: UploadStatus | None, *, paused: bool) -> tuple[str, str]:
    """(style key, words) for the status badge: Tracking, Idle, Paused, Suspended (battery 18 %), Offline…

    Tracking and Idle say when the screen is locked, an input listener is down or was restarted, or the
    desktop blocks screenshots.
    """
    if status.session_expired or (uploads is not None and uploads.session_expired):
        return "signed_out", "Signed out by the server"
    if paused or status.state == "paused":
        return "paused", "Paused"
    if status.state == "suspended":
        battery = status.battery
        detail = f" (battery {battery.percent:.0f} %)" if battery is not None else " (battery low)"
        return "suspended", f"Suspended{detail}"
    captures_waiting = uploads.waiting if uploads is not None else 0
    if status.offline or (uploads is not None and uploads.offline):
        return "offline", f"Offline ({captures_waiting + status.samples_waiting} waiting)"
    if status.screen_locked:
        return "idle", "Idle (screen locked)"
    key, words = ("idle", "Idle") if status.state == "idle" else ("tracking", "Tracking")
    if not status.input_ok:
        return key, f"{words} (input listener down: input is not counted)"
    if status.input_restarts:
        times = "once" if status.input_restarts == 1 else f"{status.input_restarts} times"
        return key, f"{words} (input listener restarted {times})"
    if status.screenshots_note == SCREENSHOTS_BLOCKED:  # a state, never a silent gap (issue 15)
        return key, f"{words} ({SCREENSHOTS_BLOCKED.lower()})"
    return key, words


def config_rows(config: AgentConfig) -> list[tuple[str, str]]:
    """The config in force as (label, value) rows for the panel."""
    on_off = {True: "on", False: "off"}
    return [
        ("Screenshots every", format_interval(config.screenshot_interval)
         + (" (random moment)" if config.random_capture_time else "")),
        ("Capture", on_off[config.capture_enabled]),
        ("Blur", on_off[config.blur_screenshots]),
        ("Idle after", format_interval(config.idle_threshold)),
        ("Battery suspend", f"below {config.battery_threshold} %"),
        ("Time zone", zone_text(config.timezone)),
    ]


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\N{HORIZONTAL ELLIPSIS}"


def zone_text(name: str) -> str:
    """A zone as the user knows it: "local" becomes the machine's zone name."""
    if name != "local":
        return name
    try:
        return time_manager.zone_name(name)
    except ConfigError:
        return name
