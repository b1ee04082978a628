"""The captures waiting on this computer before upload (``upload_delay_seconds``), each with Delete.

A capture deleted here never leaves the machine: its file goes at once and the server is told only
that a capture taken at that moment was deleted (agent.worker.UploadWorker.withhold). The list
is refreshed once a second by the window; thumbnails are read from the spool file once per capture.
Tk thread only.
"""

from __future__ import annotations

import logging
import tkinter as tk
from collections.abc import Callable, Sequence
from datetime import datetime
from tkinter import ttk

from PIL import ImageTk

from agent.holding import HeldCapture
from agent.window.look import Look, set_if_changed
from agent.window.main_view import TimeText, preview_from_jpeg
from agent.window.policy_words import seconds_words

log = logging.getLogger(__name__)

THUMBNAIL_PT = (64, 36)
MAX_ROWS = 6  # the newest are listed; the rest wait the same way and are counted


class _Row:
    """One waiting capture: thumbnail, when it was taken, when it goes, Delete."""

    def __init__(self, parent: ttk.Frame, look: Look, held: HeldCapture, taken_text: str,
                 on_delete: Callable[[int], None]) -> None:
        self.capture_id = held.record.capture_id
        self.frame = ttk.Frame(parent, style="Card.TFrame")
        self.image: ImageTk.PhotoImage | None = None
        try:
            preview = preview_from_jpeg(held.record, held.record.path.read_bytes(),
                                        (look.px(THUMBNAIL_PT[0]), look.px(THUMBNAIL_PT[1])))
            self.image = ImageTk.PhotoImage(preview.image, master=self.frame)
        except (OSError, ValueError) as exc:
            log.debug("no thumbnail for a waiting capture: %s", exc)
        ttk.Label(self.frame, image=self.image or "", text="" if self.image else "no preview",
                  style="Card.TLabel").grid(row=0, column=0, rowspan=2, padx=(0, look.px(8)))
        ttk.Label(self.frame, text=f"Taken at {taken_text}", style="Card.TLabel").grid(
            row=0, column=1, sticky="w")
        self.countdown = tk.StringVar()
        ttk.Label(self.frame, textvariable=self.countdown, style="CardSmall.TLabel").grid(
            row=1, column=1, sticky="w")
        self.delete_button = ttk.Button(self.frame, text="Delete",
                                        command=lambda: on_delete(self.capture_id))
        self.delete_button.grid(row=0, column=2, rowspan=2, sticky="e", padx=(look.px(8), 0))
        self.frame.columnconfigure(1, weight=1)

    def tick(self, upload_at: datetime, now: datetime) -> None:
        seconds = max(0, round((upload_at - now).total_seconds()))
        set_if_changed(self.countdown, f"uploads in {seconds_words(seconds)}" if seconds else "uploading")


class HeldBackList(ttk.Frame):
    """"Waiting before upload": one row per held capture, newest first; hidden while nothing is held."""

    def __init__(self, parent: tk.Misc, look: Look, *, time_text: TimeText,
                 on_delete: Callable[[int], None]) -> None:
        super().__init__(parent, style="Card.TFrame", padding=(look.px(12), look.px(8)))
        self.look = look
        self.time_text = time_text
        self.on_delete = on_delete
        ttk.Label(self, text="WAITING BEFORE UPLOAD", style="CardTitle.TLabel").grid(
            row=0, column=0, sticky="w")
        self.summary = tk.StringVar()
        ttk.Label(self, textvariable=self.summary, style="CardSmall.TLabel").grid(row=1, column=0, sticky="w")
        self.rows: dict[int, _Row] = {}
        self.columnconfigure(0, weight=1)
        self.shown = False

    def show(self, held: Sequence[HeldCapture], now: datetime) -> None:
        """List ``held`` (oldest first as given); rows are made once per capture and updated in place."""
        newest = list(reversed(held))[:MAX_ROWS]
        wanted = {item.record.capture_id for item in newest}
        for capture_id in [capture_id for capture_id in self.rows if capture_id not in wanted]:
            self.rows.pop(capture_id).frame.destroy()
        for position, item in enumerate(newest):
            row = self.rows.get(item.record.capture_id)
            if row is None:
                row = _Row(self, self.look, item, self.time_text(item.record.taken_at), self.on_delete)
                self.rows[item.record.capture_id] = row
            row.frame.grid(row=2 + position, column=0, sticky="ew", pady=(self.look.px(4), 0))
            row.tick(item.upload_at, now)
        more = len(held) - len(newest)
        count = f"{len(held)} capture{'' if len(held) == 1 else 's'} wait on this computer"
        set_if_changed(self.summary, count + (f" ({more} not listed)" if more > 0 else "")
                       + "; a deleted one is never uploaded")
        self._set_shown(bool(held))

    def _set_shown(self, shown: bool) -> None:
        if shown and not self.shown:
            self.grid()
        elif not shown and self.shown:
            self.grid_remove()
        self.shown = shown
