"""A hover tooltip: a small borderless window near the pointer with a widget's detail text (Tk thread)."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable

SHOW_DELAY_MS = 400
OFFSET_PX = 14
WRAP_PX = 520

DetailAt = Callable[[int, int], str]


class Tooltip:
    """Shows ``detail_at(x, y)`` (widget coordinates) after the pointer rests; nothing for an empty text."""

    def __init__(self, widget: tk.Widget, detail_at: DetailAt) -> None:
        self.widget = widget
        self.detail_at = detail_at
        self.window: tk.Toplevel | None = None
        self.label: tk.Label | None = None
        self.text = ""
        self._pending: str | None = None
        self._position = (0, 0)
        widget.bind("<Motion>", self._moved, add="+")
        widget.bind("<Leave>", lambda _event: self.hide(), add="+")
        widget.bind("<Destroy>", lambda _event: self.hide(), add="+")

    def _moved(self, event: tk.Event[tk.Misc]) -> None:
        self._position = (event.x, event.y)
        text = self.detail_at(event.x, event.y)
        if text == self.text and self.window is not None:
            self._place(event.x_root, event.y_root)
            return
        self.hide()
        if text:
            x_root, y_root = event.x_root, event.y_root
            self._pending = self.widget.after(SHOW_DELAY_MS, lambda: self.show(text, x_root, y_root))

    def show(self, text: str, x_root: int, y_root: int) -> None:
        """Show ``text`` near the screen point (x_root, y_root)."""
        self._pending = None
        if self.window is None:
            self.window = tk.Toplevel(self.widget)
            self.window.wm_overrideredirect(True)
            self.label = tk.Label(self.window, justify="left", background="#111827", foreground="#f9fafb",
                                  padx=8, pady=4, wraplength=WRAP_PX, font="TkTooltipFont")
            self.label.pack()
        assert self.label is not None
        self.text = text
        self.label.configure(text=text)
        self._place(x_root, y_root)

    def _place(self, x_root: int, y_root: int) -> None:
        if self.window is not None:
            self.window.wm_geometry(f"+{x_root + OFFSET_PX}+{y_root + OFFSET_PX}")

    def hide(self) -> None:
        """Remove the tooltip (and a pending one)."""
        if self._pending is not None:
            self.widget.after_cancel(self._pending)
            self._pending = None
        if self.window is not None:
            self.window.destroy()
            self.window = None
            self.label = None
        self.text = ""
