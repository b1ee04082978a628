"""Reads the engine into the main view: once a second, and at once on the engine's events (Tk thread)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import time_manager
from agent.engine import Agent
from agent.events import Captured
from agent.minutes import ActivityTotals
from agent.window.formatting import describe_status
from agent.window.log_pane import KIND_ACTIVITY, KIND_ATTRIBUTE, KIND_UPLOAD
from agent.window.main_view import MainView, TimeText, preview_from_jpeg
from agent.worker import UploadStatus

log = logging.getLogger(__name__)


class MinuteSummaries:
    """Turns running "today" totals into one activity summary per minute (Tk thread)."""

    def __init__(self) -> None:
        self._minute: int | None = None
        self._previous: ActivityTotals | None = None

    def update(self, minute: int, totals: ActivityTotals) -> ActivityTotals | None:
        """Feed the totals now; returns the activity since the last minute boundary when one passed."""
        if self._minute is None or self._previous is None:
            self._minute, self._previous = minute, totals
            return None
        if minute == self._minute:
            return None
        previous = self._previous
        self._minute, self._previous = minute, totals
        if totals.active_seconds < previous.active_seconds or totals.keys < previous.keys:
            return totals  # a new local day began: today's totals restarted from zero
        return ActivityTotals(
            totals.active_seconds - previous.active_seconds,
            totals.keys - previous.keys,
            totals.clicks - previous.clicks,
            totals.scrolls - previous.scrolls,
            totals.mouse_px - previous.mouse_px,
        )


class MainPresenter:
    """Fills the main view from one engine; the window title follows the status badge while shown."""

    def __init__(self, view: MainView, *, thumbnail_size_px: tuple[int, int], time_text: TimeText,
                 set_title: Callable[[str], None], is_shown: Callable[[], bool]) -> None:
        self.view = view
        self.thumbnail_size_px = thumbnail_size_px
        self.time_text = time_text
        self.set_title = set_title
        self.is_shown = is_shown
        self._summaries = MinuteSummaries()
        self._uploaded_total: int | None = None
        self._last_status_key = ""
        self._last_preview_key: str | None = None

    def reset(self, username: str, server_url: str) -> None:
        """A fresh main view for a new engine."""
        self._summaries = MinuteSummaries()
        self._uploaded_total = None
        self.view.reset(username, server_url)

    def refresh(self, agent: Agent) -> None:
        """Status, clocks, today's activity and uploads (once a second and after user actions)."""
        status = agent.status()
        uploads: UploadStatus | None = agent.uploads.status() if agent.uploads is not None else None
        key, text = describe_status(status, uploads, paused=agent.paused)
        self.view.show_status(key, text)
        if self.is_shown() and key != self._last_status_key:
            self._last_status_key = key
            self.set_title(text.split(" (")[0])
        now = time_manager.utc_now()
        self.view.show_clock(time_manager.format_local_and_utc(now, status.config.timezone))
        totals = agent.tracker.today_totals()
        self.view.show_today(totals, agent.tracker.current_slot_activity_percent())
        self.view.show_uploads(uploads, status.samples_waiting, self.time_text)
        self._log_minute_summary(int(now.timestamp() // 60), totals)
        self._log_uploads(uploads)
        captures = agent.captures
        record = getattr(captures, "last_capture", None) if captures is not None else None
        if record is not None and record.key != self._last_preview_key:
            self._last_preview_key = record.key
            self.view.show_capture_without_preview(record, self.time_text(record.taken_at))

    def captured(self, event: Captured) -> None:
        """The new capture's thumbnail, made from exactly the JPEG that is uploaded."""
        try:
            preview = preview_from_jpeg(event.record, event.jpeg, self.thumbnail_size_px)
        except (OSError, ValueError) as exc:
            log.warning("no thumbnail for the last capture: %s", exc)
            return
        self._last_preview_key = preview.key
        self.view.show_preview(preview, self.time_text(preview.taken_at))

    def uploaded(self, agent: Agent) -> None:
        """A capture was stored: the uploads card at once (the log line comes with the next refresh)."""
        if agent.uploads is not None:
            uploads: UploadStatus = agent.uploads.status()
            self.view.show_uploads(uploads, agent.outbox.count(agent.username), self.time_text)

    def config_applied(self, agent: Agent) -> None:
        """The config card: what is in force and when it last changed."""
        status = agent.status()
        self.view.show_config(status.config, status.config_changed_at, self.time_text)

    def _log_minute_summary(self, minute: int, totals: ActivityTotals) -> None:
        delta = self._summaries.update(minute, totals)
        if delta is None or not (delta.active_seconds or delta.keys or delta.clicks or delta.scrolls):
            return
        log.info(
            "last minute: %d s active, %d keys, %d clicks, %d scrolls, %d px of mouse travel",
            delta.active_seconds, delta.keys, delta.clicks, delta.scrolls, delta.mouse_px,
            extra={KIND_ATTRIBUTE: KIND_ACTIVITY},
        )

    def _log_uploads(self, uploads: UploadStatus | None) -> None:
        if uploads is None:
            return
        total = uploads.uploaded_total
        if self._uploaded_total is not None and total > self._uploaded_total:
            log.info(
                "uploaded %d capture(s); %d waiting", total - self._uploaded_total, uploads.waiting,
                extra={KIND_ATTRIBUTE: KIND_UPLOAD},
            )
        self._uploaded_total = total
