"""The main view's footer: "Start Vinova when I sign in" and the version; the box follows the engine.

Everything here runs on the Tk thread.
"""

from __future__ import annotations

import logging
import tkinter as tk
from collections.abc import Callable, Sequence
from tkinter import ttk

from agent.autostart import AutostartChoice
from agent.engine import Agent
from agent.version import __version__
from contract.errors import VinovaError

log = logging.getLogger(__name__)

AUTOSTART_TEXT = "Start Vinova when I sign in"
FORCED_TEXT = "Start Vinova when I sign in (set by your organisation)"
FOLLOW_MS = 1000


class StartupRow(ttk.Frame):
    """The autostart box (shown once a choice is attached) and "Vinova 1.5.0" on the right."""

    def __init__(self, parent: tk.Misc) -> None:
        super().__init__(parent)
        self.autostart = tk.BooleanVar(value=False)
        self.checkbox = ttk.Checkbutton(self, text=AUTOSTART_TEXT, variable=self.autostart)
        self.version_label = ttk.Label(self, text=f"Vinova {__version__}", style="Muted.TLabel")
        self.version_label.grid(row=0, column=1, sticky="e")
        self.columnconfigure(0, weight=1)

    def show_autostart(self, enabled: bool, forced: bool) -> None:
        """Tick or untick the box; greyed out while the organisation forces it on."""
        self.checkbox.grid(row=0, column=0, sticky="w")
        self.autostart.set(enabled)
        self.checkbox.configure(text=FORCED_TEXT if forced else AUTOSTART_TEXT)
        self.checkbox.state(["disabled"] if forced else ["!disabled"])


class AutostartControl:
    """Applies the choice after each sign-in and whenever ``force_autostart`` changes; handles the box."""

    def __init__(self, root: tk.Misc, row: StartupRow, choice: AutostartChoice,
                 current_agent: Callable[[], Agent | None],
                 command: Callable[[], Sequence[str]] | None = None) -> None:
        self.root = root
        self.row = row
        self.choice = choice
        self.current_agent = current_agent
        self.command = command  # what the log-in entry starts, read when it is written (server may change)
        self.forced = False
        self._agent: Agent | None = None
        row.checkbox.configure(command=self.toggled)
        self._follow()

    def toggled(self) -> None:
        """The user clicked the box."""
        wanted = bool(self.row.autostart.get())
        self._refresh_command()
        try:
            enabled = self.choice.choose(wanted, forced=self.forced)
        except VinovaError as exc:
            log.warning("cannot change start at sign-in: %s", exc)
            enabled = not wanted
        log.info("start at sign-in: %s", "on" if enabled else "off")
        self.row.show_autostart(enabled, self.forced)
        self.root.focus_set()  # a space typed later must not flip the box (as with Pause, issue 13)

    def _refresh_command(self) -> None:
        if self.command is not None:
            self.choice.command = list(self.command())

    def _follow(self) -> None:
        """Once a second: a new engine means a sign-in; its config may force the box on."""
        agent = self.current_agent()
        forced = bool(agent.poller.current.force_autostart) if agent is not None else self.forced
        if agent is not None and (agent is not self._agent or forced != self.forced):
            self.forced = forced
            self._refresh_command()
            try:
                self.row.show_autostart(self.choice.apply(forced=forced), forced)
            except VinovaError as exc:
                log.warning("cannot set start at sign-in: %s", exc)
        self._agent = agent
        try:
            self.root.after(FOLLOW_MS, self._follow)
        except tk.TclError:  # the window is gone
            return
