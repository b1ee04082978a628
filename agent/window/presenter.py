"""Reads the engine into the main view: once a second, and at once on the engine's events (Tk thread)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import time_manager
from agent.engine import Agent
from agent.events import Captured, Uploaded
from agent.minutes import ActivityTotals
from agent.window.formatting import clock_text, count_text, describe_status, format_duration
from agent.window.log_pane import KIND_ACTIVITY, KIND_ATTRIBUTE, KIND_CAPTURE, LogLine
from agent.window.main_view import MainView, TimeText, preview_from_jpeg
from agent.worker import UploadStatus
from contract.activity import SECONDS_PER_MINUTE

log = logging.getLogger(__name__)

TotalsBetween = Callable[[float, float], ActivityTotals]
TrayState = Callable[[str, str, bool], None]
UPLOADED_WORDS = ", uploaded"


def _no_tray(_key: str, _text: str, _paused: bool) -> None:
    """No tray to tell."""


class MinuteSummaries:
    """One activity summary per ended minute, read from the tracker's own minutes (Tk thread).

    Reading the ended minutes themselves (not differences of "today" totals) keeps the minute
    before local midnight, whose activity no longer counts towards the new day.
    """

    def __init__(self) -> None:
        self._minute: int | None = None

    def update(self, minute: int, totals_between: TotalsBetween) -> ActivityTotals | None:
        """At UTC ``minute``: the activity of the minutes since the last call's, once one has ended."""
        if self._minute is None:
            self._minute = minute
            return None
        if minute == self._minute:
            return None
        ended_from, self._minute = self._minute, minute
        return totals_between(ended_from * SECONDS_PER_MINUTE, minute * SECONDS_PER_MINUTE)


class MainPresenter:
    """Fills the main view from one engine; the window title follows the status badge while shown."""

    def __init__(self, view: MainView, *, thumbnail_size_px: tuple[int, int], time_text: TimeText,
                 set_title: Callable[[str], None], is_shown: Callable[[], bool],
                 show_tray_state: TrayState = _no_tray) -> None:
        self.view = view
        self.thumbnail_size_px = thumbnail_size_px
        self.time_text = time_text
        self.set_title = set_title
        self.is_shown = is_shown
        self.show_tray_state = show_tray_state
        self._tray_state: tuple[str, str, bool] | None = None
        self._summaries = MinuteSummaries()
        self._last_status_key = ""
        self._last_preview_key: str | None = None

    def reset(self, username: str, server_url: str) -> None:
        """A fresh main view for a new engine."""
        self._summaries = MinuteSummaries()
        self._last_status_key = ""
        self._last_preview_key = None
        self._tray_state = None
        self.view.reset(username, server_url)

    def refresh(self, agent: Agent, *, visible: bool = True) -> None:
        """Status, clocks, today's activity and uploads (once a second and after user actions).

        While the window is hidden (``visible`` false) only the tray's state and the minute summary
        are kept up; the view is filled again at once when the window is shown.
        """
        status = agent.status()
        uploads: UploadStatus | None = agent.uploads.status() if agent.uploads is not None else None
        key, text = describe_status(status, uploads, paused=agent.paused)
        if self._tray_state != (key, text, agent.paused):
            self._tray_state = (key, text, agent.paused)
            self.show_tray_state(key, text, agent.paused)
        now = time_manager.utc_now()
        self._log_minute_summary(int(now.timestamp() // SECONDS_PER_MINUTE), agent.tracker.totals_between)
        if not visible:
            return
        self.view.show_status(key, text)
        if self.is_shown() and key != self._last_status_key:
            self._last_status_key = key
            self.set_title(text.split(" (")[0])
        self.view.show_clock(clock_text(now, status.config.timezone))
        totals = agent.tracker.today_totals()
        self.view.show_today(totals, agent.tracker.slot_activity_percent())
        self.view.show_desktop(status.counting_mode, status.screenshots_note)
        self.view.show_uploads(uploads, status.samples_waiting, self.time_text)
        delivery = agent.delivery
        self.view.show_set_aside(delivery.set_aside_count(), delivery.set_aside_reasons(), delivery.unsaved)
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

    def log_capture(self, event: Captured) -> None:
        """The pane's line for a capture: "Screenshot taken (blurred)"; its upload amends it later."""
        record = event.record
        blurred = " (blurred)" if record.blurred else ""
        monitor = int(getattr(record, "monitor", 0))
        which = f" of monitor {monitor + 1}" if monitor else ""  # the first monitor's says no number
        detail = f"{record.key} · {record.width}x{record.height} · {max(1, record.size_bytes // 1024)} KB"
        self.view.log_pane.append([LogLine(datetime.now(UTC), logging.INFO, KIND_CAPTURE,
                                           f"Screenshot{which} taken{blurred}", detail, ref=record.key)])

    def uploaded(self, agent: Agent, event: Uploaded | None = None) -> None:
        """A capture was stored: its pane line says so ("…, uploaded") and the uploads card at once."""
        if event is not None and not self.view.log_pane.amend(event.record.key, UPLOADED_WORDS):
            blurred = " (blurred)" if event.record.blurred else ""
            self.view.log_pane.append([LogLine(datetime.now(UTC), logging.INFO, KIND_CAPTURE,
                                               f"Screenshot{blurred} uploaded", event.record.key)])
        if agent.uploads is not None:
            uploads: UploadStatus = agent.uploads.status()
            self.view.show_uploads(uploads, agent.outbox.count(agent.username), self.time_text)

    def retry_kept_aside(self, agent: Agent) -> None:
        """The uploads card's Retry: every kept-aside capture whose file exists is queued again."""
        retry: Callable[[], int] | None = getattr(agent.uploads, "retry_kept_aside", None)
        if retry is None:
            return
        retry()  # the worker logs how many
        self.refresh(agent)

    def config_applied(self, agent: Agent) -> None:
        """The config card: what is in force and when it last changed."""
        status = agent.status()
        self.view.show_config(status.config, status.config_changed_at, self.time_text)

    def _log_minute_summary(self, minute: int, totals_between: TotalsBetween) -> None:
        delta = self._summaries.update(minute, totals_between)
        if delta is None or not (delta.active_seconds or delta.keys or delta.clicks or delta.scrolls):
            return
        log.info(
            "last minute: %s active · %s · %s · %s", format_duration(delta.active_seconds),
            count_text(delta.keys, "key"), count_text(delta.clicks, "click"),
            count_text(delta.scrolls, "scroll"),
            extra={KIND_ATTRIBUTE: KIND_ACTIVITY},
        )
