"""The window's widgets: its look (theme, fonts, scaling), the sign-in and code dialogs, the main view.

Everything here runs on the Tk thread, except :func:`attach_capture_preview`'s hook, which runs
on the scheduler thread and builds a PIL thumbnail (never a Tk image) before handing it over.
"""

from __future__ import annotations

import logging
import tkinter as tk
import tkinter.font as tkfont
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from tkinter import ttk
from typing import Any, Literal

from PIL import Image, ImageTk

import time_manager
from activity_tracker import ActivityTotals
from agent.engine import AgentStatus
from agent.window.log_pane import LogPane
from contract.config_schema import AgentConfig
from contract.errors import ConfigError

log = logging.getLogger(__name__)

TimeText = Callable[[datetime], str]

WINDOW_BACKGROUND = "#f3f4f6"
CARD_BACKGROUND = "#ffffff"
CARD_BORDER = "#d1d5db"
TEXT = "#111827"
MUTED = "#4b5563"
ACCENT = "#2563eb"
ACCENT_ACTIVE = "#1d4ed8"
ACCENT_DISABLED = "#93c5fd"
ERROR = "#b91c1c"
STATUS_COLOURS: dict[str, str] = {
    "tracking": "#15803d",
    "idle": "#4b5563",
    "paused": "#b45309",
    "suspended": "#c2410c",
    "offline": "#b91c1c",
    "signed_out": "#6b21a8",
    "starting": "#1d4ed8",
}
SANS_FAMILIES = ("Segoe UI", "SF Pro Text", "Helvetica Neue", "Noto Sans", "DejaVu Sans", "Cantarell",
                 "Liberation Sans")
MONO_FAMILIES = ("Cascadia Mono", "Consolas", "Menlo", "DejaVu Sans Mono", "Noto Sans Mono",
                 "Liberation Mono")
BASE_FONT_POINTS = 10
NO_VALUE = "\N{EN DASH}"
VALUE_MIN_CHARS = 14
CLOCK_MIN_CHARS = 52
KEPT_ASIDE_REASON_CHARACTERS = 70  # the full reason is in the log pane


# --------------------------------------------------------------------------- look
@dataclass(frozen=True, slots=True)
class Look:
    """Scaling (pixels per point) and sizes derived from it, so 200 % doubles every distance."""

    scaling: float
    fonts: tuple[tkfont.Font, ...] = ()  # Tk deletes a named font when its Python object goes away

    def px(self, points: float) -> int:
        """A distance in points as whole pixels at this scaling."""
        return max(1, round(points * self.scaling))

    @property
    def thumbnail_size_px(self) -> tuple[int, int]:
        """The largest thumbnail (16:9 box)."""
        return self.px(200), self.px(112)

    @property
    def main_size_px(self) -> tuple[int, int]:
        """The main window's first size."""
        return self.px(860), self.px(620)

    def place_window(self, root: tk.Tk, width: int, height: int) -> None:
        """Size the window (never beyond the screen) and centre it."""
        screen_width, screen_height = root.winfo_screenwidth(), root.winfo_screenheight()
        width, height = min(width, int(screen_width * 0.95)), min(height, int(screen_height * 0.9))
        x, y = max(0, (screen_width - width) // 2), max(0, (screen_height - height) // 3)
        root.geometry(f"{width}x{height}+{x}+{y}")


def _first_family(candidates: tuple[str, ...], available: set[str]) -> str | None:
    return next((family for family in candidates if family in available), None)


def setup_look(root: tk.Tk, scale: float) -> Look:
    """Apply the UI scale to Tk, size the named fonts in points and style the ttk theme."""
    scaling = float(root.tk.call("tk", "scaling")) * scale
    root.tk.call("tk", "scaling", scaling)
    available = set(tkfont.families(root))
    sans = _first_family(SANS_FAMILIES, available)
    mono = _first_family(MONO_FAMILIES, available)
    # Positive sizes are points, which follow `tk scaling`; Tk's X11 defaults are pixels and do not.
    for name in ("TkDefaultFont", "TkTextFont", "TkMenuFont", "TkHeadingFont", "TkIconFont", "TkTooltipFont",
                 "TkCaptionFont", "TkSmallCaptionFont"):
        font = tkfont.nametofont(name, root=root)
        font.configure(size=BASE_FONT_POINTS)
        if sans:
            font.configure(family=sans)
    fixed = tkfont.nametofont("TkFixedFont", root=root)
    fixed.configure(size=BASE_FONT_POINTS - 1)
    if mono:
        fixed.configure(family=mono)
    base_family = tkfont.nametofont("TkDefaultFont", root=root).actual("family")
    fonts = []
    for name, size, bold in (
        ("VinovaTitle", 16, True), ("VinovaStatus", 12, True), ("VinovaClock", 11, False),
        ("VinovaValue", 11, True), ("VinovaSmall", 9, False), ("VinovaCode", 18, True),
        ("VinovaCardTitle", 9, True),
    ):
        weight: Literal["bold", "normal"] = "bold" if bold else "normal"
        fonts.append(tkfont.Font(root=root, name=name, family=base_family, size=size, weight=weight))
    look = Look(scaling, tuple(fonts))
    _style(root, look)
    return look


def _style(root: tk.Tk, look: Look) -> None:
    style = ttk.Style(root)
    if "clam" in style.theme_names() and root.tk.call("tk", "windowingsystem") == "x11":
        style.theme_use("clam")  # the X11 default theme looks dated; Windows and macOS keep native ones
    root.configure(background=WINDOW_BACKGROUND)
    pad = look.px
    style.configure(".", background=WINDOW_BACKGROUND, foreground=TEXT)
    style.configure("TEntry", padding=(pad(4), pad(3)))
    style.configure("TButton", padding=(pad(10), pad(4)))
    style.configure("Vertical.TScrollbar", arrowsize=pad(10))  # its width in clam; scales with the UI
    style.configure("Accent.TButton", background=ACCENT, foreground="#ffffff", bordercolor=ACCENT_ACTIVE)
    style.map("Accent.TButton", background=[("disabled", ACCENT_DISABLED), ("pressed", ACCENT_ACTIVE),
                                            ("active", ACCENT_ACTIVE)],
              foreground=[("disabled", "#f8fafc")])
    style.configure("Title.TLabel", font="VinovaTitle")
    style.configure("Muted.TLabel", foreground=MUTED)
    style.configure("Error.TLabel", foreground=ERROR)
    style.configure("Clock.TLabel", font="VinovaClock", foreground=MUTED)
    style.configure("Code.TEntry", padding=(pad(6), pad(4)))
    style.configure("Card.TFrame", background=CARD_BACKGROUND, bordercolor=CARD_BORDER, relief="solid",
                    borderwidth=1)
    style.configure("Card.TLabel", background=CARD_BACKGROUND)
    style.configure("CardMuted.TLabel", background=CARD_BACKGROUND, foreground=MUTED)
    style.configure("CardSmall.TLabel", background=CARD_BACKGROUND, foreground=MUTED, font="VinovaSmall")
    style.configure("CardTitle.TLabel", background=CARD_BACKGROUND, foreground=MUTED, font="VinovaCardTitle")
    style.configure("CardValue.TLabel", background=CARD_BACKGROUND, font="VinovaValue")
    style.configure("Section.TLabel", foreground=MUTED, font="VinovaCardTitle")
    for key, colour in STATUS_COLOURS.items():
        style.configure(f"Status{key}.TLabel", background=colour, foreground="#ffffff", font="VinovaStatus",
                        padding=(pad(10), pad(3)))


def set_if_changed(variable: tk.StringVar, value: str) -> None:
    """Set a label's text only when it differs: an unchanged set still redraws the label."""
    if variable.get() != value:
        variable.set(value)


# --------------------------------------------------------------------------- words
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


def describe_status(
    status: AgentStatus, uploads: Any, *, paused: bool
) -> tuple[str, str]:
    """(style key, words) for the status badge: Tracking, Idle, Paused, Suspended (battery 18 %), Offline…"""
    if status.session_expired or (uploads is not None and uploads.session_expired):
        return "signed_out", "Signed out by the server"
    if paused or status.state == "paused":
        return "paused", "Paused"
    if status.state == "suspended":
        battery = status.battery
        detail = f" (battery {battery.percent:.0f} %)" if battery is not None else " (battery low)"
        return "suspended", f"Suspended{detail}"
    captures_waiting = int(uploads.waiting) if uploads is not None else 0
    if status.offline or (uploads is not None and uploads.offline):
        return "offline", f"Offline ({captures_waiting + status.samples_waiting} waiting)"
    if status.state == "idle":
        return "idle", "Idle"
    return "tracking", "Tracking"


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
        ("Time zone", _zone_text(config.timezone)),
    ]


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\N{HORIZONTAL ELLIPSIS}"


def _zone_text(name: str) -> str:
    if name != "local":
        return name
    try:
        return time_manager.zone_name(name)
    except ConfigError:
        return name


# --------------------------------------------------------------------------- capture thumbnails
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


def load_preview(record: Any, size_px: tuple[int, int]) -> CapturePreview:
    """Decode the spooled JPEG at reduced scale and shrink it to fit ``size_px`` (any thread)."""
    with Image.open(Path(record.path)) as image:
        image.draft("RGB", size_px)  # JPEG decodes at 1/2, 1/4 or 1/8 scale: fast and small
        thumbnail = image.convert("RGB")
    thumbnail.thumbnail(size_px, Image.Resampling.BILINEAR)
    return CapturePreview(record.key, thumbnail, record.taken_at, bool(record.blurred), int(record.width),
                          int(record.height), int(record.size_bytes))


def attach_capture_preview(captures: Any, size_px: tuple[int, int],
                           deliver: Callable[[CapturePreview], None]) -> bool:
    """Make a thumbnail of each new capture before it is queued for upload (which deletes the file).

    Wraps the screenshot manager's ``enqueue`` hand-off; runs on the scheduler thread. Returns
    False when the manager has no such hand-off (then the window shows the capture's time only).
    """
    store = getattr(captures, "store", None)
    forward = getattr(captures, "enqueue", None)
    if store is None or forward is None:
        return False

    def enqueue_with_preview(capture_id: int) -> None:
        preview = None
        try:
            record = store.get(capture_id)
            if record is not None:
                preview = load_preview(record, size_px)
        except (OSError, ValueError) as exc:
            log.warning("no thumbnail for the last capture: %s", exc)
        forward(capture_id)
        if preview is not None:
            deliver(preview)

    captures.enqueue = enqueue_with_preview
    return True


# --------------------------------------------------------------------------- dialogs
class SignInView(ttk.Frame):
    """Server address, username and password; Enter submits; busy and error states."""

    def __init__(self, parent: tk.Misc, look: Look, server_url: str,
                 on_submit: Callable[[str, str, str], None]) -> None:
        super().__init__(parent, padding=look.px(24))
        self.look = look
        self.on_submit = on_submit
        self.server = tk.StringVar(value=server_url)
        self.username = tk.StringVar()
        self.password = tk.StringVar()
        self.message = tk.StringVar()
        self.busy = False
        gap = look.px(4)
        ttk.Label(self, text="Sign in to Vinova", style="Title.TLabel").grid(row=0, column=0, columnspan=2,
                                                                          sticky="w")
        ttk.Label(
            self, style="Muted.TLabel", wraplength=look.px(300), justify="left",
            text="Vinova records your activity and screenshots while you work. "
                 "Its window always shows what it records and sends.",
        ).grid(row=1, column=0, columnspan=2, sticky="w", pady=(gap, look.px(14)))
        self.entries: list[ttk.Entry] = []
        for row, (label, variable, secret) in enumerate(
            (("Server address", self.server, False), ("Username", self.username, False),
             ("Password", self.password, True)),
        ):
            ttk.Label(self, text=label).grid(row=2 + 2 * row, column=0, columnspan=2, sticky="w")
            entry = ttk.Entry(self, textvariable=variable, width=36, show="•" if secret else "")
            entry.grid(row=3 + 2 * row, column=0, columnspan=2, sticky="ew", pady=(look.px(2), look.px(8)))
            entry.bind("<Return>", lambda _event: self.submit())
            entry.bind("<KP_Enter>", lambda _event: self.submit())
            self.entries.append(entry)
        self.server_entry, self.username_entry, self.password_entry = self.entries
        self.message_label = ttk.Label(self, textvariable=self.message, style="Error.TLabel",
                                       wraplength=look.px(300), justify="left")
        self.message_label.grid(row=8, column=0, columnspan=2, sticky="w", pady=(0, look.px(8)))
        self.progress = ttk.Progressbar(self, mode="indeterminate", length=look.px(120))
        self.progress.grid(row=9, column=0, sticky="w")
        self.progress.grid_remove()
        self.button = ttk.Button(self, text="Sign in", style="Accent.TButton", command=self.submit)
        self.button.grid(row=9, column=1, sticky="e")
        self.columnconfigure(0, weight=1)

    def reset(self, message: str | None = None) -> None:
        """Back to a fresh dialog, keeping the server and username (and showing ``message``)."""
        self.set_busy(False)
        self.password.set("")
        self.show_message(message or "")

    def focus_first(self) -> None:
        """Put the cursor where typing should start."""
        target = self.username_entry if self.server.get() and not self.username.get() else (
            self.password_entry if self.username.get() else self.server_entry)
        target.focus_set()

    def clear_password(self) -> None:
        """Forget the typed password once it has been used."""
        self.password.set("")

    def show_error(self, text: str) -> None:
        """A problem in plain words, in red."""
        self.message_label.configure(style="Error.TLabel")
        self.message.set(text)

    def show_message(self, text: str) -> None:
        """Information (not an error)."""
        self.message_label.configure(style="Muted.TLabel")
        self.message.set(text)

    def set_busy(self, busy: bool, text: str | None = None) -> None:
        """While waiting for the server: inputs disabled, a moving bar, the button says what happens."""
        self.busy = busy
        state = "disabled" if busy else "normal"
        for entry in self.entries:
            entry.configure(state=state)
        self.button.configure(state=state, text=text if busy and text else "Sign in")
        if busy:
            self.show_message("")
            self.progress.grid()
            self.progress.start(15)
        else:
            self.progress.stop()
            self.progress.grid_remove()

    def submit(self) -> None:
        """Check the fields, then hand them to the app."""
        if self.busy:
            return
        server, username = self.server.get().strip(), self.username.get().strip()
        password = self.password.get()
        if not server.startswith(("http://", "https://")):
            self.show_error("The server address starts with http:// or https://.")
            return
        if not username or not password:
            self.show_error("Type your username and password.")
            return
        self.on_submit(server, username, password)


class CodeView(ttk.Frame):
    """The emailed 6-digit code: Verify, Resend (with a countdown), Back."""

    def __init__(self, parent: tk.Misc, look: Look, on_verify: Callable[[str], None],
                 on_resend: Callable[[], None], on_back: Callable[[], None]) -> None:
        super().__init__(parent, padding=look.px(24))
        self.on_verify = on_verify
        self.on_resend = on_resend
        self.code = tk.StringVar()
        self.sent_text = tk.StringVar()
        self.message = tk.StringVar()
        self.busy = False
        self.resend_allowed_at = 0.0
        self._seconds_left = 0
        ttk.Label(self, text="Check your email", style="Title.TLabel").grid(row=0, column=0, columnspan=3,
                                                                         sticky="w")
        ttk.Label(self, textvariable=self.sent_text, style="Muted.TLabel", wraplength=look.px(300),
                  justify="left").grid(row=1, column=0, columnspan=3, sticky="w",
                                       pady=(look.px(4), look.px(14)))
        ttk.Label(self, text="Code").grid(row=2, column=0, columnspan=3, sticky="w")
        self.entry = ttk.Entry(self, textvariable=self.code, width=10, font="VinovaCode", style="Code.TEntry",
                               justify="center")
        # Keep only digits (a pasted "123 456" or "123-456" still works), at most six.
        self.code.trace_add("write", lambda *_args: self._keep_digits())
        self.entry.grid(row=3, column=0, columnspan=3, sticky="w", pady=(look.px(2), look.px(8)))
        self.entry.bind("<Return>", lambda _event: self.submit())
        self.entry.bind("<KP_Enter>", lambda _event: self.submit())
        self.message_label = ttk.Label(self, textvariable=self.message, style="Error.TLabel",
                                       wraplength=look.px(300), justify="left")
        self.message_label.grid(row=4, column=0, columnspan=3, sticky="w", pady=(0, look.px(8)))
        self.back_button = ttk.Button(self, text="Back", command=on_back)
        self.back_button.grid(row=5, column=0, sticky="w")
        self.resend_button = ttk.Button(self, text="Resend", command=self._resend)
        self.resend_button.grid(row=5, column=1, sticky="e", padx=(0, look.px(6)))
        self.verify_button = ttk.Button(self, text="Verify", style="Accent.TButton", command=self.submit)
        self.verify_button.grid(row=5, column=2, sticky="e")
        self.columnconfigure(0, weight=1)

    def start(self, username: str, sent_to: str, resend_allowed_at: float) -> None:
        """A fresh code dialog for a code just sent to ``sent_to``."""
        self.code.set("")
        self.message.set("")
        self.sent_text.set(f"We sent a 6-digit code to {sent_to}. Type it here to finish signing in "
                           f"as {username}.")
        self.set_busy(False)
        self.resend_allowed_at = resend_allowed_at
        self._seconds_left = -1

    def resent(self, sent_to: str | None, resend_allowed_at: float) -> None:
        """A new code went out (or the server asked us to wait): restart the countdown."""
        if sent_to is not None:
            self.code.set("")
            self.message_label.configure(style="Muted.TLabel")
            self.message.set(f"A new code is on its way to {sent_to}. The old one no longer works.")
        self.resend_allowed_at = resend_allowed_at
        self._seconds_left = -1

    def update_countdown(self, now: float) -> None:
        """Once a second: Resend stays disabled, showing the seconds left, until it is allowed."""
        left = max(0, int(self.resend_allowed_at - now + 0.999))
        if left == self._seconds_left:
            return
        self._seconds_left = left
        if self.busy:
            return
        if left:
            self.resend_button.configure(state="disabled", text=f"Resend ({left} s)")
        else:
            self.resend_button.configure(state="normal", text="Resend")

    def focus_code(self) -> None:
        """Put the cursor in the code field."""
        self.entry.focus_set()

    def show_error(self, text: str) -> None:
        """A problem in plain words, in red."""
        self.message_label.configure(style="Error.TLabel")
        self.message.set(text)

    def set_busy(self, busy: bool, text: str | None = None) -> None:
        """While waiting for the server: nothing can be pressed twice."""
        self.busy = busy
        state = "disabled" if busy else "normal"
        self.entry.configure(state=state)
        self.verify_button.configure(state=state, text=text if busy and text else "Verify")
        self.back_button.configure(state=state)
        if busy:
            self.resend_button.configure(state="disabled")
            self.message.set("")
        else:
            self._seconds_left = -1  # let the countdown redraw the Resend button

    def _keep_digits(self) -> None:
        text = self.code.get()
        digits = "".join(character for character in text if character.isdigit())[:6]
        if digits != text:
            self.code.set(digits)

    def _resend(self) -> None:
        if not self.busy:
            self.on_resend()

    def submit(self) -> None:
        """Check there are 6 digits, then hand them to the app."""
        if self.busy:
            return
        code = self.code.get().strip()
        if len(code) != 6:
            self.show_error("Type the 6 digits from the email.")
            return
        self.on_verify(code)


# --------------------------------------------------------------------------- main view
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


class MainView(ttk.Frame):
    """Status, clocks, today's activity, the last capture, uploads, the config and the log pane."""

    def __init__(self, parent: tk.Misc, look: Look, *, on_pause_toggle: Callable[[], None],
                 on_sign_out: Callable[[], None], time_text: TimeText) -> None:
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
        self.pause_button = ttk.Button(header, text="Pause", underline=0, command=on_pause_toggle)
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
        capture = _Card(cards, look, "Last capture")
        width, height = look.thumbnail_size_px
        self._placeholder = ImageTk.PhotoImage(Image.new("RGB", (width, height), "#e5e7eb"), master=self)
        self._thumbnail: ImageTk.PhotoImage | None = None
        self.thumbnail = ttk.Label(capture, image=self._placeholder, style="Card.TLabel", anchor="center")
        self.thumbnail.grid(row=1, column=0, columnspan=2, sticky="w")
        self.capture_caption = tk.StringVar(value="No capture yet")
        ttk.Label(capture, textvariable=self.capture_caption, style="CardSmall.TLabel").grid(
            row=2, column=0, columnspan=2, sticky="w", pady=(pad(4), 0))
        uploads = _Card(cards, look, "Uploads")
        self.waiting = uploads.row("Waiting")
        self.kept_aside = uploads.row("Kept aside")
        self.last_upload = uploads.row("Last upload")
        self.minutes_waiting = uploads.row("Activity minutes")
        self.kept_aside_reasons = uploads.note()
        config = _Card(cards, look, "Config in force")
        self.config_values = {label: config.row(label) for label, _value in config_rows(AgentConfig())}
        self.config_changed = config.row("Last change")
        self.cards = (today, capture, uploads, config)
        for column, card in enumerate(self.cards):
            card.grid(row=0, column=column, sticky="nsew", padx=(0 if column == 0 else pad(8), 0))
            cards.columnconfigure(column, weight=1)
        ttk.Label(self, text="ACTIVITY LOG", style="Section.TLabel").grid(row=3, column=0, sticky="w",
                                                                          pady=(pad(12), pad(4)))
        self.log_pane = LogPane(self, time_text=time_text)
        self.log_pane.grid(row=4, column=0, sticky="nsew")
        self.columnconfigure(0, weight=1)
        self.rowconfigure(4, weight=1)

    def reset(self, username: str, server_url: str) -> None:
        """A fresh view for a new sign-in."""
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

    def show_today(self, totals: ActivityTotals, slot_percent: float) -> None:
        """Today's active time and counts, and the current slot's activity %."""
        set_if_changed(self.active_today, format_duration(totals.active_seconds))
        set_if_changed(self.slot_percent, f"{slot_percent:.0f} %")
        set_if_changed(self.keys_today, f"{totals.keys:,}")
        set_if_changed(self.clicks_today, f"{totals.clicks:,}")

    def show_uploads(self, uploads: Any, minutes_waiting: int, time_text: TimeText) -> None:
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
            f"{_shorten(reason, KEPT_ASIDE_REASON_CHARACTERS)} ({count})"
            for reason, count in sorted(uploads.kept_aside_reasons.items())
        )
        set_if_changed(self.kept_aside_reasons, f"Kept aside: {reasons}" if reasons else "")

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

    def show_capture_without_preview(self, record: Any, taken_text: str) -> None:
        """When no thumbnail could be made: at least the capture's time."""
        if self._thumbnail is None:
            blurred = ", blurred" if record.blurred else ""
            set_if_changed(self.capture_caption, f"{taken_text}{blurred}")
