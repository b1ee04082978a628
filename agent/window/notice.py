"""The capture notice (issue 12, "told, not surprised"): a small thumbnail near the screen's corner.

A borderless Tk toplevel (``overrideredirect``), kept above other windows, shown for about three
seconds when a capture is taken. It never takes the keyboard focus (no ``focus_force``, nothing in
it takes focus), so typing goes on where it was. While the pointer rests on it, it stays. A Delete
button is shown while the person may still delete the capture (held back on the device, or inside
the organisation's delete window). Tk thread only.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Sequence
from tkinter import ttk

from PIL import ImageTk

from agent.window.look import Look
from agent.window.main_view import CapturePreview

NOTICE_SECONDS = 3.0
NOTICE_TITLE = "Vinova — screenshot taken"
CORNER_MARGIN_PT = 16


class CaptureNotice:
    """At most one notice on screen; a capture of the same moment (another monitor) joins it."""

    def __init__(self, root: tk.Misc, look: Look, *, on_delete: Callable[[tuple[int, ...]], None],
                 seconds: float = NOTICE_SECONDS) -> None:
        self.root = root
        self.look = look
        self.on_delete = on_delete
        self.seconds = seconds
        self.window: tk.Toplevel | None = None
        self.delete_button: ttk.Button | None = None
        self.caption = ""
        self._capture_ids: list[int] = []
        self._images: list[ImageTk.PhotoImage] = []
        self._moment: object = None
        self._after_id: str | None = None
        self._row: ttk.Frame | None = None

    @property
    def capture_ids(self) -> tuple[int, ...]:
        """The captures the notice shows (what its Delete deletes)."""
        return tuple(self._capture_ids)

    def show(self, capture_id: int, preview: CapturePreview, taken_text: str, deletable: bool) -> None:
        """Show (or extend) the notice for one capture; it goes after ``seconds``."""
        if self.window is None or self._moment != preview.taken_at:
            self.close()
            self._build(preview, taken_text, deletable)
        assert self._row is not None
        image = ImageTk.PhotoImage(preview.image, master=self.window)
        self._images.append(image)
        ttk.Label(self._row, image=image, style="Card.TLabel", takefocus=0).grid(
            row=0, column=len(self._capture_ids), padx=(0, self.look.px(4)))
        self._capture_ids.append(capture_id)
        self._place()
        self._restart_timer()

    def _build(self, preview: CapturePreview, taken_text: str, deletable: bool) -> None:
        window = tk.Toplevel(self.root, takefocus=0)
        window.withdraw()
        window.title(NOTICE_TITLE)
        window.overrideredirect(True)
        try:
            window.attributes("-topmost", True)
        except tk.TclError:  # a platform without the attribute: the notice may sit under other windows
            pass
        frame = ttk.Frame(window, style="Card.TFrame", padding=self.look.px(8))
        frame.grid(sticky="nsew")
        self.caption = f"Screenshot taken at {taken_text}" + (", blurred" if preview.blurred else "")
        ttk.Label(frame, text=self.caption, style="Card.TLabel", takefocus=0).grid(
            row=0, column=0, columnspan=2, sticky="w", pady=(0, self.look.px(4)))
        self._row = ttk.Frame(frame, style="Card.TFrame")
        self._row.grid(row=1, column=0, columnspan=2, sticky="w")
        if deletable:
            self.delete_button = ttk.Button(frame, text="Delete", takefocus=0, command=self._delete)
            self.delete_button.grid(row=2, column=1, sticky="e", pady=(self.look.px(6), 0))
        for widget in (window, frame):
            widget.bind("<Enter>", lambda _event: self._hold())
            widget.bind("<Leave>", lambda _event: self._restart_timer())
        self.window = window
        self._moment = preview.taken_at

    def _place(self) -> None:
        """Bottom-right corner of the screen, a margin away from its edges; shown without focus."""
        window = self.window
        assert window is not None
        window.update_idletasks()
        margin = self.look.px(CORNER_MARGIN_PT)
        x = window.winfo_screenwidth() - window.winfo_reqwidth() - margin
        y = window.winfo_screenheight() - window.winfo_reqheight() - margin
        window.geometry(f"+{max(0, x)}+{max(0, y)}")
        window.deiconify()
        window.lift()

    def _hold(self) -> None:
        if self._after_id is not None:
            self.root.after_cancel(self._after_id)
            self._after_id = None

    def _restart_timer(self) -> None:
        self._hold()
        if self.window is not None:
            self._after_id = self.root.after(int(self.seconds * 1000), self.close)

    def _delete(self) -> None:
        ids: Sequence[int] = tuple(self._capture_ids)
        self.close()
        self.on_delete(tuple(ids))

    def close(self) -> None:
        """Take the notice away now (idempotent)."""
        self._hold()
        window, self.window = self.window, None
        self.delete_button = None
        self._row = None
        self._capture_ids = []
        self._images = []
        self._moment = None
        if window is not None:
            window.destroy()
