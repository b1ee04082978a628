"""The window's log pane: a logging handler that only queues records, and the Tk text that shows them.

The pane speaks plain words (:mod:`agent.window.plain_words`); each line's original record is
its detail, shown on hover (the log file keeps every record as it was). A line that repeats the
one before it is merged into it, which then counts the repeats.

Threads: :class:`QueueLogHandler.emit` runs on whichever thread logs (scheduler, upload workers,
input listeners, Tk) and never touches Tk; :class:`LogPane` lives on the Tk thread and is fed by
:meth:`LogPane.drain`, which the window calls from ``after()``.
"""

from __future__ import annotations

import logging
import queue
import tkinter as tk
import tkinter.font as tkfont
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from tkinter import ttk

from agent.window.plain_words import plain_text, scrub
from agent.window.tooltip import Tooltip

DEFAULT_MAX_LINES = 2000
HANDLER_QUEUE_SIZE = 10_000
DRAIN_BATCH_LINES = 500
BOTTOM_TOLERANCE = 0.001
MAX_REFERENCES = 200  # lines that may still be amended (a capture's line waiting for its upload)
REPEAT_MARK = "\N{MULTIPLICATION SIGN}"

KIND_ACTIVITY = "activity"
KIND_CAPTURE = "capture"
KIND_UPLOAD = "upload"
KIND_CONFIG = "config"
KIND_BATTERY = "battery"
KIND_SESSION = "session"
KIND_AGENT = "agent"
KIND_WARNING = "warning"
KIND_ERROR = "error"
KINDS: tuple[str, ...] = (
    KIND_ACTIVITY,
    KIND_CAPTURE,
    KIND_UPLOAD,
    KIND_CONFIG,
    KIND_BATTERY,
    KIND_SESSION,
    KIND_AGENT,
    KIND_WARNING,
    KIND_ERROR,
)

# Foreground colours chosen for contrast ≥ 4.5:1 on the white pane.
KIND_COLOURS: dict[str, str] = {
    KIND_ACTIVITY: "#1b6e3a",
    KIND_CAPTURE: "#1d4ed8",
    KIND_UPLOAD: "#6b21a8",
    KIND_CONFIG: "#9a3412",
    KIND_BATTERY: "#0e7490",
    KIND_SESSION: "#334155",
    KIND_AGENT: "#334155",
    KIND_WARNING: "#a16207",
    KIND_ERROR: "#b91c1c",
}

# Which module's log lines belong to which kind: the longest dotted prefix of the logger name wins,
# so "agent.worker" is an upload line while the rest of "agent" is an agent line.
KIND_BY_LOGGER: dict[str, str] = {
    "activity_tracker": KIND_ACTIVITY,
    "screenshot_manager": KIND_CAPTURE,
    "agent.adapters.screen": KIND_CAPTURE,
    "agent.spool": KIND_UPLOAD,
    "agent.uploaders": KIND_UPLOAD,
    "agent.worker": KIND_UPLOAD,
    "agent.outbox": KIND_UPLOAD,
    "config_updater": KIND_CONFIG,
    "battery_manager": KIND_BATTERY,
    "agent.client": KIND_SESSION,
    "agent.session": KIND_SESSION,
    "agent.window": KIND_SESSION,
    "__main__": KIND_SESSION,  # main.py run as a script
    "main": KIND_SESSION,  # main.py imported (tests, launchers)
    "agent": KIND_AGENT,
}

KIND_ATTRIBUTE = "vinova_kind"
"""A log call may name its kind explicitly: ``log.info(..., extra={"vinova_kind": "activity"})``."""


@dataclass(frozen=True, slots=True)
class LogLine:
    """One log record as the pane shows it."""

    created_at: datetime
    level: int
    kind: str
    text: str
    detail: str = ""  # the original words, shown on hover
    ref: str | None = None  # a name by which the line can be amended later (a capture's key)


def kind_of(record: logging.LogRecord) -> str:
    """The kind a record is shown as: errors and warnings first, then an explicit kind, then its module."""
    if record.levelno >= logging.ERROR:
        return KIND_ERROR
    if record.levelno >= logging.WARNING:
        return KIND_WARNING
    explicit = getattr(record, KIND_ATTRIBUTE, None)
    if isinstance(explicit, str) and explicit in KINDS:
        return explicit
    return kind_of_logger(record.name)


def kind_of_logger(name: str) -> str:
    """The kind of a logger's lines: its longest dotted prefix in :data:`KIND_BY_LOGGER`, else agent."""
    while name:
        kind = KIND_BY_LOGGER.get(name)
        if kind is not None:
            return kind
        name = name.rpartition(".")[0]
    return KIND_AGENT


def line_from_record(record: logging.LogRecord) -> LogLine | None:
    """The record in plain words with its original as the detail; None for a log-file-only record.

    An exception adds its type and message to the detail, never a traceback.
    """
    text = plain_text(record)
    if text is None:
        return None
    detail = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        detail = f"{detail} ({type(error).__name__}: {error})"
        text = f"{text}: {scrub(str(error), capital=False)}" if str(error) else text
    return LogLine(datetime.fromtimestamp(record.created, UTC), record.levelno, kind_of(record), text,
                   detail if detail != text else "")


class QueueLogHandler(logging.Handler):
    """Puts each record on a bounded queue for the Tk thread; never blocks and never touches Tk."""

    def __init__(self, level: int = logging.INFO, maxsize: int = HANDLER_QUEUE_SIZE) -> None:
        super().__init__(level)
        self.lines: queue.Queue[LogLine] = queue.Queue(maxsize=maxsize)
        self.dropped_count = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record; when the pane has fallen far behind, count it as dropped instead."""
        try:
            line = line_from_record(record)
            if line is not None:
                self.lines.put_nowait(line)
        except queue.Full:
            self.dropped_count += 1
        except Exception:  # noqa: BLE001 - a logging handler must never raise into the caller
            self.handleError(record)

    def take(self, limit: int = DRAIN_BATCH_LINES) -> list[LogLine]:
        """Up to ``limit`` queued lines, oldest first (any thread; the pane calls it on the Tk thread)."""
        taken: list[LogLine] = []
        while len(taken) < limit:
            try:
                taken.append(self.lines.get_nowait())
            except queue.Empty:
                break
        return taken


TimeFormatter = Callable[[datetime], str]


def _default_time(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M:%S")


class LogPane(ttk.Frame):
    """A read-only, coloured, capped log view that follows new lines unless the user scrolled up."""

    def __init__(
        self,
        parent: tk.Misc,
        *,
        font: str | tuple[str, int] = "TkFixedFont",
        max_lines: int = DEFAULT_MAX_LINES,
        time_text: TimeFormatter = _default_time,
    ) -> None:
        super().__init__(parent)
        self.max_lines = max_lines
        self.time_text = time_text
        self.text = tk.Text(
            self,
            wrap="word",
            height=12,
            font=font,
            relief="flat",
            borderwidth=0,
            highlightthickness=0,
            background="#ffffff",
            foreground="#1f2937",
            padx=8,
            pady=6,
            undo=False,
            cursor="arrow",
        )
        self.scrollbar = ttk.Scrollbar(self, orient="vertical", command=self.text.yview)
        self.text.configure(yscrollcommand=self.scrollbar.set, state="disabled")
        self.text.grid(row=0, column=0, sticky="nsew")
        self.scrollbar.grid(row=0, column=1, sticky="ns")
        self.columnconfigure(0, weight=1)
        self.rowconfigure(0, weight=1)
        self.text.tag_configure("time", foreground="#6b7280")
        for kind, colour in KIND_COLOURS.items():
            self.text.tag_configure(kind, foreground=colour)
        self._error_font = _bold(font)
        self.text.tag_configure(KIND_ERROR, foreground=KIND_COLOURS[KIND_ERROR], font=self._error_font)
        self._line_count = 0
        self._details: deque[str] = deque()  # one per shown line, oldest first, for the tooltip
        self._last: LogLine | None = None
        self._repeats = 1
        self._references: dict[str, str] = {}  # ref → its Tk tag, oldest first
        self.tooltip = Tooltip(self.text, self.detail_at)
        # Lines that arrive while the pane is hidden (during sign-in) are shown from the newest.
        self._scroll_when_shown = False
        self.text.bind("<Map>", lambda _event: self._shown())

    def _shown(self) -> None:
        if self._scroll_when_shown:
            self._scroll_when_shown = False
            self.text.see("end")

    @property
    def line_count(self) -> int:
        """How many lines the pane holds now (never more than ``max_lines``)."""
        return self._line_count

    def at_bottom(self) -> bool:
        """Whether the view shows the newest line (then new lines keep it scrolled to the end)."""
        return float(self.text.yview()[1]) >= 1.0 - BOTTOM_TOLERANCE

    def append(self, lines: Iterable[LogLine]) -> int:
        """Add lines at the bottom, drop the oldest beyond the cap; returns how many were added."""
        batch = list(lines)
        if not batch:
            return 0
        hidden = not self.text.winfo_viewable()
        follow = hidden or self.at_bottom()
        self._scroll_when_shown = self._scroll_when_shown or hidden
        text = self.text
        text.configure(state="normal")
        for line in batch:
            last = self._last
            if last is not None and line.ref is None and (line.kind, line.text) == (last.kind, last.text):
                self._repeats += 1  # the same words again: one line "… xN" at the newest time
                text.delete(f"{self._line_count}.0", "end-1c")
                self._line_count -= 1
                self._details.pop()
                self._insert(line, f"{line.text} {REPEAT_MARK}{self._repeats}")
                continue
            self._repeats = 1
            self._insert(line, line.text)
        excess = self._line_count - self.max_lines
        if excess > 0:
            text.delete("1.0", f"{excess + 1}.0")
            self._line_count = self.max_lines
            for _ in range(excess):
                self._details.popleft()
        text.configure(state="disabled")
        if follow:
            text.see("end")
        return len(batch)

    def _insert(self, line: LogLine, words: str) -> None:
        tags: tuple[str, ...] = (line.kind,)
        if line.ref is not None:
            tag = f"ref{len(self._references)}-{abs(hash(line.ref))}"
            self._references[line.ref] = tag
            tags = (line.kind, tag)
            while len(self._references) > MAX_REFERENCES:
                self.text.tag_delete(self._references.pop(next(iter(self._references))))
        self.text.insert("end", f"{self.time_text(line.created_at)}  ", ("time",), f"{line.kind:<9} {words}",
                         tags, "\n", ())
        self._line_count += 1
        self._details.append(line.detail)
        self._last = line

    def amend(self, ref: str, words: str) -> bool:
        """Add ``words`` to the end of the line named ``ref`` (e.g. ", uploaded"); False when it is gone."""
        tag = self._references.pop(ref, None)
        if tag is None:
            return False
        ranges = self.text.tag_ranges(tag)
        if not ranges:
            self.text.tag_delete(tag)
            return False
        kinds = [name for name in self.text.tag_names(ranges[0]) if name in KINDS]
        self.text.configure(state="normal")
        self.text.insert(ranges[-1], words, tuple(kinds))
        self.text.configure(state="disabled")
        self.text.tag_delete(tag)
        if self._last is not None and self._last.ref == ref:
            self._last = None  # an amended line is never merged with a later one
        return True

    def detail_at(self, x: int, y: int) -> str:
        """The original words of the line under the point (x, y) of the text, "" when there are none."""
        line_number = int(self.text.index(f"@{x},{y}").split(".")[0])
        if 1 <= line_number <= len(self._details):
            return self._details[line_number - 1]
        return ""

    def drain(self, handler: QueueLogHandler, limit: int = DRAIN_BATCH_LINES) -> int:
        """Move up to ``limit`` queued lines from the handler into the pane (Tk thread)."""
        return self.append(handler.take(limit))

    def lines_text(self) -> list[str]:
        """The shown lines as plain text, oldest first."""
        content = self.text.get("1.0", "end-1c")
        return [line for line in content.split("\n") if line]

    def kinds_of_last(self, count: int) -> list[str]:
        """The kind tags of the last ``count`` lines (for tests and accessibility checks)."""
        kinds: list[str] = []
        for line_number in range(max(1, self._line_count - count + 1), self._line_count + 1):
            tags = [tag for tag in self.text.tag_names(f"{line_number}.12") if tag in KINDS]
            kinds.append(tags[0] if tags else "")
        return kinds


def _bold(font: str | tuple[str, int]) -> tkfont.Font | tuple[str, int, str]:
    """A bold variant of ``font`` (a named font is copied, so it follows no later change)."""
    if isinstance(font, tuple):
        return (font[0], font[1], "bold")
    bold = tkfont.nametofont(font).copy()
    bold.configure(weight="bold")
    return bold
