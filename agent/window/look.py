"""The window's look: colours, fonts in points, the ttk theme and the UI scale (Tk thread only)."""

from __future__ import annotations

import logging
import os
import sys
import tkinter as tk
import tkinter.font as tkfont
from collections.abc import Mapping
from dataclasses import dataclass
from tkinter import ttk
from typing import Literal

log = logging.getLogger(__name__)

WINDOW_BACKGROUND = "#f3f4f6"
CARD_BACKGROUND = "#ffffff"
CARD_BORDER = "#d1d5db"
TEXT = "#111827"
MUTED = "#4b5563"
ACCENT = "#2563eb"
ACCENT_ACTIVE = "#1d4ed8"
ACCENT_DISABLED = "#93c5fd"
ERROR = "#b91c1c"
SCROLL_TRACK = "#e5e7eb"
SCROLL_THUMB = "#9ca3af"
SCROLL_THUMB_ACTIVE = "#6b7280"
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
SCALE_VARIABLE = "VINOVA_UI_SCALE"


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
    # The thumb darker than its track, so it can be seen and grabbed (clam draws both light grey).
    style.configure("Vertical.TScrollbar", background=SCROLL_THUMB, troughcolor=SCROLL_TRACK,
                    bordercolor=SCROLL_TRACK, lightcolor=SCROLL_THUMB, darkcolor=SCROLL_THUMB,
                    arrowcolor=MUTED)
    held = [("pressed", SCROLL_THUMB_ACTIVE), ("active", SCROLL_THUMB_ACTIVE)]
    style.map("Vertical.TScrollbar", background=held, lightcolor=held, darkcolor=held)
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


def ui_scale_from_environment(environ: Mapping[str, str] | None = None) -> float:
    """The ``VINOVA_UI_SCALE`` factor (e.g. 2 for 200 %), 1.0 when unset or invalid."""
    raw = (environ if environ is not None else os.environ).get(SCALE_VARIABLE, "").strip()
    if not raw:
        return 1.0
    try:
        value = float(raw.rstrip("%")) / (100.0 if raw.endswith("%") else 1.0)
    except ValueError:
        log.warning("ignoring %s=%r: use a number such as 1.5 or 150%%", SCALE_VARIABLE, raw)
        return 1.0
    return value if 0.5 <= value <= 4.0 else 1.0


def enable_windows_dpi_awareness() -> None:
    """Without this, Windows bitmap-stretches the window at 150-200 % and text looks blurred."""
    if sys.platform == "win32":
        import ctypes

        try:
            ctypes.windll.shcore.SetProcessDpiAwareness(1)  # type: ignore[attr-defined]
        except (AttributeError, OSError):
            pass
