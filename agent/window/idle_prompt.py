"""The question after idle (issue 12): "You were away 14 min (10:02 to 10:16). Count it as work / Leave
it as idle."

Asked once per absence, in a small window of its own next to the main one that does not grab the
focus or the pointer. "Count it as work" relabels the absence's idle minutes ``idle_kept``
(:meth:`agent.engine.Agent.keep_idle`); "Leave it as idle", closing it, or not answering leaves them
idle. A newer absence replaces an unanswered question. Tk thread only.
"""

from __future__ import annotations

import logging
import tkinter as tk
from collections.abc import Callable
from datetime import datetime
from tkinter import ttk

from agent.window.look import Look

log = logging.getLogger(__name__)

PROMPT_TITLE = "Vinova — You were away"
KEEP_LABEL = "Count it as work"
LEAVE_LABEL = "Leave it as idle"

Answer = Callable[[datetime, datetime], None]


class IdlePrompt:
    """At most one question on screen: the latest absence."""

    def __init__(self, root: tk.Misc, look: Look) -> None:
        self.root = root
        self.look = look
        self.window: tk.Toplevel | None = None
        self.question = ""
        self.keep_button: ttk.Button | None = None
        self.leave_button: ttk.Button | None = None

    def ask(self, question: str, began_at: datetime, ended_at: datetime, on_keep: Answer) -> None:
        """Show the question for the absence ``[began_at, ended_at)``; ``on_keep`` runs on "Count it"."""
        self.close()
        window = tk.Toplevel(self.root)
        window.title(PROMPT_TITLE)
        window.resizable(False, False)
        window.protocol("WM_DELETE_WINDOW", self._leave)
        frame = ttk.Frame(window, padding=self.look.px(14))
        frame.grid(sticky="nsew")
        ttk.Label(frame, text=question, style="Title.TLabel").grid(
            row=0, column=0, columnspan=2, sticky="w", pady=(0, self.look.px(4)))
        ttk.Label(frame, text="Counted as work, these minutes are tracked time with no activity.",
                  style="Muted.TLabel").grid(row=1, column=0, columnspan=2, sticky="w",
                                             pady=(0, self.look.px(10)))

        def keep() -> None:
            self.close()
            on_keep(began_at, ended_at)

        self.keep_button = ttk.Button(frame, text=KEEP_LABEL, style="Accent.TButton", command=keep)
        self.keep_button.grid(row=2, column=0, sticky="w", padx=(0, self.look.px(8)))
        self.leave_button = ttk.Button(frame, text=LEAVE_LABEL, command=self._leave)
        self.leave_button.grid(row=2, column=1, sticky="w")
        self.question = question
        self.window = window
        self._place_beside_main()

    def _place_beside_main(self) -> None:
        window = self.window
        assert window is not None
        window.update_idletasks()
        root = self.root.winfo_toplevel()
        x = root.winfo_rootx() + max(0, (root.winfo_width() - window.winfo_reqwidth()) // 2)
        y = root.winfo_rooty() + self.look.px(40)
        limit_x = window.winfo_screenwidth() - window.winfo_reqwidth()
        limit_y = window.winfo_screenheight() - window.winfo_reqheight()
        window.geometry(f"+{max(0, min(x, limit_x))}+{max(0, min(y, limit_y))}")
        window.lift()

    def _leave(self) -> None:
        log.info("the time away stays idle")
        self.close()

    def close(self) -> None:
        """Take the question away, leaving the minutes idle (idempotent)."""
        window, self.window = self.window, None
        self.keep_button = self.leave_button = None
        if window is not None:
            window.destroy()
