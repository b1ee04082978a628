"""The policy in force and an absence in plain words (issue 12): pure functions, any thread.

:func:`policy_text` is the line the main window shows ("Screenshots every 5 min, blurred; you can
delete a screenshot for 10 min after it is taken."); :func:`away_text` is the idle prompt's question.
"""

from __future__ import annotations

from datetime import datetime

import time_manager
from contract.config_schema import AgentConfig

MINUTES_PER_HOUR = 60
MINUTES_PER_DAY = 24 * MINUTES_PER_HOUR


def span_words(minutes: int) -> str:
    """Whole minutes in their largest whole unit: ``"10 min"``, ``"2 h"``, ``"1 day"``, ``"7 days"``."""
    if minutes >= MINUTES_PER_DAY and minutes % MINUTES_PER_DAY == 0:
        days = minutes // MINUTES_PER_DAY
        return f"{days} day" if days == 1 else f"{days} days"
    if minutes >= MINUTES_PER_HOUR and minutes % MINUTES_PER_HOUR == 0:
        return f"{minutes // MINUTES_PER_HOUR} h"
    return f"{minutes} min"


def seconds_words(seconds: int) -> str:
    """A wait in seconds: ``"45 s"``, ``"2 min"``, ``"1 min 30 s"``, ``"1 h"``."""
    if seconds % 60 == 0:
        return span_words(seconds // 60)
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def policy_text(config: AgentConfig) -> str:
    """What the organisation's settings mean for the person at this computer, in one sentence."""
    if not config.capture_enabled:
        parts = ["No screenshots are taken"]
    else:
        capture = f"Screenshots every {seconds_words(config.screenshot_interval)}"
        if config.random_capture_time:
            capture += " at a random moment"
        if config.blur_screenshots:
            capture += ", blurred"
        parts = [capture]
        if config.upload_delay_seconds > 0:
            parts.append(
                f"each waits {seconds_words(config.upload_delay_seconds)} on this computer before upload, "
                "and you can delete it here meanwhile"
            )
        if config.employee_delete_window_minutes > 0:
            window = span_words(config.employee_delete_window_minutes)
            parts.append(f"you can delete a screenshot for {window} after it is taken")
        elif config.upload_delay_seconds <= 0:
            parts.append("screenshots cannot be deleted once taken")
    return "; ".join(parts) + "."


def away_text(began_at: datetime, ended_at: datetime, zone: str) -> str:
    """``"You were away 14 min (10:02\N{EN DASH}10:16)."``: the absence in whole minutes, local times."""
    minutes = max(1, round((ended_at - began_at).total_seconds() / 60))
    hours, rest = divmod(minutes, MINUTES_PER_HOUR)
    length = f"{hours} h {rest:02d} min" if hours else f"{minutes} min"
    start = time_manager.to_local(began_at, zone)
    end = time_manager.to_local(ended_at, zone)
    return f"You were away {length} ({start:%H:%M}\N{EN DASH}{end:%H:%M})."
