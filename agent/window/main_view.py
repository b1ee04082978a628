"""The main view: status badge, clocks, the four cards (today, last capture, uploads, config), the log.

Everything here runs on the Tk thread; :func:`preview_from_jpeg` may run on any thread.
"""

from __future__ import annotations

import io
import tkinter as tk
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from tkinter import ttk

from PIL import Image, ImageTk

from agent.minutes import ActivityTotals
from agent.spool import CaptureRecord
from agent.window.formatting import NO_VALUE, config_rows, count_number, format_duration, shorten
from agent.window.log_pane import LogPane
from agent.window.look import Look, set_if_changed
from agent.window.startup_row import StartupRow
from agent.worker import UploadStatus
from contract.config_schema import AgentConfig

TimeText = Callable[[datetime], str]

VALUE_MIN_CHARS = 14
CLOCK_MIN_CHARS = 52
KEPT_ASIDE_REASON_CHARACTERS = 70  # the full reason is in the log pane


@dataclass(frozen=True, slots=True)
class CapturePreview:
    """A thumbnail of exactly the JPEG that is uploaded (so blurred when blur is on)."""

    key: str
    image: Image.Image
    taken_at: datetime
    blurred: bool
    width: int
    height: int
    size_bytes: int


def preview_from_jpeg(record: CaptureRecord, jpeg: bytes, size_px: tuple[int, int]) -> CapturePreview:
    """Decode the capture's JPEG at reduced scale and shrink it to fit ``size_px``; raises OSError."""
    with Image.open(io.BytesIO(jpeg)) as image:
        image.draft("RGB", size_px)  # JPEG decodes at 1/2, 1/4 or 1/8 scale: fast and small
        thumbnail = image.convert("RGB")
    thumbnail.thumbnail(size_px, Image.Resampling.BILINEAR)
    return CapturePreview(record.key, thumbnail, record.taken_at, record.blurred, record.width,
                          record.height, record.size_bytes)


class _Card(ttk.Frame):
    """A white panel with a small caption and label/value rows."""

    def __init__(self, parent: tk.Misc, look: Look, title: str) -> None:
        super().__init__(parent, style="Card.TFrame", padding=(look.px(12), look.px(10)))
        self.look = look
        ttk.Label(self, text=title.upper(), style="CardTitle.TLabel").grid(
            row=0, column=0, columnspan=2, sticky="w", pady=(0, look.px(6)))
        self.values: dict[str, tk.StringVar] = {}
        self._next_row = 1
        self.columnconfigure(1, weight=1)

    def row(self, label: str, value: str = NO_VALUE) -> tk.StringVar:
        """Add a label/value row; returns the value's variable."""
        variable = tk.StringVar(value=value)
        ttk.Label(self, text=label, style="CardMuted.TLabel").grid(row=self._next_row, column=0, sticky="w",
                                                                   padx=(0, self.look.px(10)))
        # A minimum width (negative, in characters) keeps the requested size steady while the
        # value ticks, so a new value redraws one label instead of re-laying-out the window.
        ttk.Label(self, textvariable=variable, style="Card.TLabel", width=-VALUE_MIN_CHARS).grid(
            row=self._next_row, column=1, sticky="w")
        self._next_row += 1
        self.values[label] = variable
        return variable

    def note(self) -> tk.StringVar:
        """A small wrapping line under the rows."""
        variable = tk.StringVar()
        ttk.Label(self, textvariable=variable, style="CardSmall.TLabel", wraplength=self.look.px(150),
                  justify="left").grid(row=self._next_row, column=0, columnspan=2, sticky="w",
                                       pady=(self.look.px(4), 0))
        self._next_row += 1
        return variable

    def button(self, text: str, command: Callable[[], None]) -> ttk.Button:
        """A small button under the rows."""
        button = ttk.Button(self, text=text, command=command)
        button.grid(row=self._next_row, column=0, columnspan=2, sticky="w", pady=(self.look.px(4), 0))
        self._next_row += 1
        return button


def _nothing() -> None:
    pass


class MainView(ttk.Frame):
    """Status, clocks, today's activity, the last capture, uploads, the config and the log pane."""

    def __init__(self, parent: tk.Misc, look: Look, *, on_pause_toggle: Callable[[], None],
                 on_sign_out: Callable[[], None], time_text: TimeText,
                 on_retry_kept_aside: Callable[[], None] = _nothing) -> None:
        super().__init__(parent, padding=look.px(14))
        self.look = look
        pad = look.px
        header = ttk.Frame(self)
        header.grid(row=0, column=0, sticky="ew")
        self.status_text = tk.StringVar(value="Starting")
        self.status_key = "starting"
        self.status_label = ttk.Label(header, textvariable=self.status_text, style="Statusstarting.TLabel")
        self.status_label.grid(row=0, column=0, sticky="w")
        self.identity = tk.StringVar()
        ttk.Label(header, textvariable=self.identity, style="Muted.TLabel").grid(row=0, column=1, sticky="w",
                                                                                 padx=pad(12))
        self.pause_button = ttk.Button(header, text="Pause", underline=0,
                                       command=lambda: self._pressed(on_pause_toggle))
        self.pause_button.grid(row=0, column=2, sticky="e", padx=(0, pad(6)))
        self.sign_out_button = ttk.Button(header, text="Sign out", underline=0, command=on_sign_out)
        self.sign_out_button.grid(row=0, column=3, sticky="e")
        header.columnconfigure(1, weight=1)
        self.clock = tk.StringVar(value="")
        ttk.Label(self, textvariable=self.clock, style="Clock.TLabel", width=-CLOCK_MIN_CHARS).grid(
            row=1, column=0, sticky="w", pady=(pad(8), pad(10)))
        cards = ttk.Frame(self)
        cards.grid(row=2, column=0, sticky="ew")
        today = _Card(cards, look, "Today")
        self.active_today = today.row("Active time")
        self.slot_percent = today.row("This 10-min slot")
        self.keys_today = today.row("Keys")
        self.clicks_today = today.row("Clicks")
        self.counting_note = today.note()  # how keys and clicks are counted on this desktop
        capture = _Card(cards, look, "Last capture")
        width, height = look.thumbnail_size_px
        self._placeholder = ImageTk.PhotoImage(Image.new("RGB", (width, height), "#e5e7eb"), master=self)
        self._thumbnail: ImageTk.PhotoImage | None = None
        self.thumbnail = ttk.Label(capture, image=self._placeholder, style="Card.TLabel", anchor="center")
        self.thumbnail.grid(row=1, column=0, columnspan=2, sticky="w")
        self.capture_caption = tk.StringVar(value="No capture yet")
        ttk.Label(capture, textvariable=self.capture_caption, style="CardSmall.TLabel").grid(
            row=2, column=0, columnspan=2, sticky="w", pady=(pad(4), 0))
        capture._next_row = 3
        self.screenshots_note = capture.note()  # blocked by the desktop, or its prompt ahead
        uploads = _Card(cards, look, "Uploads")
        self.waiting = uploads.row("Waiting")
        self.kept_aside = uploads.row("Kept aside")
        self.last_upload = uploads.row("Last upload")
        self.minutes_waiting = uploads.row("Activity minutes")
        self.kept_aside_reasons = uploads.note()
        self.set_aside_note = uploads.note()  # minutes the server refused (issue 10 item 6)
        # Queues every kept-aside capture again, e.g. after the disk or the bucket was fixed.
        self.retry_button = uploads.button("Retry kept aside", on_retry_kept_aside)
        config = _Card(cards, look, "Config in force")
        self.config_values = {label: config.row(label) for label, _value in config_rows(AgentConfig())}
        self.config_changed = config.row("Last change")
        self.cards = (today, capture, uploads, config)
        for column, card in enumerate(self.cards):
            card.grid(row=0, column=column, sticky="nsew", padx=(0 if column == 0 else pad(8), 0))
            cards.columnconfigure(column, weight=1)
        # The employee's side (issue 12): the policy in words, captures waiting (agent.window.employee_side).
        self.employee_area = ttk.Frame(cards)
        self.employee_area.grid(row=1, column=0, columnspan=len(self.cards), sticky="ew", pady=(pad(8), 0))
        ttk.Label(self, text="ACTIVITY LOG", style="Section.TLabel").grid(row=3, column=0, sticky="w",
                                                                          pady=(pad(12), pad(4)))
        self.log_pane = LogPane(self, time_text=time_text)
        self.log_pane.grid(row=4, column=0, sticky="nsew")
        self.startup_row = StartupRow(self)  # "Start Vinova when I sign in" and the version (issue 13)
        self.startup_row.grid(row=5, column=0, sticky="ew", pady=(pad(8), 0))
        self.columnconfigure(0, weight=1)
        self.rowconfigure(4, weight=1)

    def _pressed(self, action: Callable[[], None]) -> None:
        """After a click the focus leaves the button, so a space typed later never presses it again."""
        action()
        self.focus_set()

    def reset(self, username: str, server_url: str) -> None:
        """A fresh view for a new sign-in: nothing of the last user's session stays (issue 13)."""
        for card in self.cards:
            for variable in card.values.values():
                set_if_changed(variable, NO_VALUE)
        for note in (self.kept_aside_reasons, self.set_aside_note):
            set_if_changed(note, "")
        set_if_changed(self.identity, f"{username} · {server_url}")
        self.show_status("starting", "Starting")
        self.thumbnail.configure(image=self._placeholder)
        self._thumbnail = None
        set_if_changed(self.capture_caption, "No capture yet")

    def set_busy(self, busy: bool) -> None:
        """While signing out: the buttons cannot be pressed."""
        state = "disabled" if busy else "normal"
        self.pause_button.configure(state=state)
        self.sign_out_button.configure(state=state)

    def show_status(self, key: str, text: str) -> None:
        """The coloured status badge; the pause button says what it will do."""
        if key != self.status_key:
            self.status_key = key
            self.status_label.configure(style=f"Status{key}.TLabel")
        if self.status_text.get() != text:
            set_if_changed(self.status_text, text)
        label = "Resume" if key == "paused" else "Pause"
        if self.pause_button.cget("text") != label:
            self.pause_button.configure(text=label)

    def show_clock(self, text: str) -> None:
        """Local time with zone and UTC."""
        set_if_changed(self.clock, text)

    def show_today(self, totals: ActivityTotals, slot_percent: int | None) -> None:
        """Today's active time and counts, and the current slot's activity % (None: nothing tracked yet)."""
        set_if_changed(self.active_today, format_duration(totals.active_seconds))
        set_if_changed(self.slot_percent, NO_VALUE if slot_percent is None else f"{slot_percent} %")
        set_if_changed(self.keys_today, count_number(totals.keys))
        set_if_changed(self.clicks_today, count_number(totals.clicks))

    def show_desktop(self, counting_mode: str, screenshots_note: str) -> None:
        """What this desktop allows: the key-count mode and the screenshot permission (issue 15)."""
        set_if_changed(self.counting_note, counting_mode)
        set_if_changed(self.screenshots_note, screenshots_note)

    def show_uploads(self, uploads: UploadStatus | None, minutes_waiting: int, time_text: TimeText) -> None:
        """Waiting and kept-aside captures (with reasons) and the last upload."""
        set_if_changed(self.minutes_waiting, f"{minutes_waiting} waiting" if minutes_waiting else "all sent")
        if uploads is None:
            set_if_changed(self.waiting, NO_VALUE)
            set_if_changed(self.kept_aside, NO_VALUE)
            set_if_changed(self.last_upload, "uploads off")
            set_if_changed(self.kept_aside_reasons, "")
            return
        set_if_changed(self.waiting, str(uploads.waiting))
        set_if_changed(self.kept_aside, str(uploads.kept_aside))
        last = uploads.last_upload_at
        set_if_changed(self.last_upload, time_text(last) if last else "none yet")
        reasons = "; ".join(
            f"{shorten(reason, KEPT_ASIDE_REASON_CHARACTERS)} ({count})"
            for reason, count in sorted(uploads.kept_aside_reasons.items())
        )
        set_if_changed(self.kept_aside_reasons, f"Kept aside: {reasons}" if reasons else "")

    def show_set_aside(self, count: int, reasons: dict[str, int], unsaved: int = 0) -> None:
        """"N minutes set aside: <reason>" and the minutes held in memory while the disk is full."""
        lines = []
        if count:
            why = "; ".join(shorten(reason, KEPT_ASIDE_REASON_CHARACTERS) for reason in sorted(reasons))
            lines.append(f"{count} minute{'' if count == 1 else 's'} set aside: {why}")
        if unsaved:
            lines.append(f"disk full: {unsaved} minute{'' if unsaved == 1 else 's'} kept in memory")
        set_if_changed(self.set_aside_note, "\n".join(lines))

    def show_config(self, config: AgentConfig, changed_at: datetime | None, time_text: TimeText) -> None:
        """The config in force and when it last changed."""
        for label, value in config_rows(config):
            set_if_changed(self.config_values[label], value)
        set_if_changed(self.config_changed, time_text(changed_at) if changed_at else "not yet")

    def show_preview(self, preview: CapturePreview, taken_text: str) -> None:
        """The newest capture's thumbnail and time."""
        self._thumbnail = ImageTk.PhotoImage(preview.image, master=self)
        self.thumbnail.configure(image=self._thumbnail)
        blurred = ", blurred" if preview.blurred else ""
        set_if_changed(self.capture_caption, f"{taken_text} · {preview.width}x{preview.height}{blurred}")

    def show_capture_without_preview(self, record: CaptureRecord, taken_text: str) -> None:
        """When no thumbnail could be made: at least the capture's time."""
        if self._thumbnail is None:
            blurred = ", blurred" if record.blurred else ""
            set_if_changed(self.capture_caption, f"{taken_text}{blurred}")
