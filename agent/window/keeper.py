"""Keeps Vinova running when its window is closed: hide to the tray (or minimise), the tray's menu, Quit.

Tk thread only, except the tray's actions, which run on the tray's thread and only ``post`` to the
Tk thread. Closing the window never stops tracking: with a tray the window hides and the first
time a notice says where Vinova went; without a tray (no XEmbed/StatusNotifier host, macOS) it is
minimised and the window says why, once; at the sign-in dialog it quits. Quit from the tray asks
first; Ctrl+Q and SIGTERM quit at once. Which notices were shown is kept in ``window.json`` in the
agent folder (owner-only).
"""

from __future__ import annotations

import json
import logging
import tkinter as tk
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from agent.window.dialogs import MessageDialog
from agent.window.look import Look
from agent.window.tray import Tray, TrayActions, TrayFactory, start_tray
from contract.private_files import write_private_file

log = logging.getLogger(__name__)

STATE_FILE_NAME = "window.json"
NOTICE_TRAY = "hidden_to_tray"
NOTICE_NO_TRAY = "minimised_without_tray"
TRAY_NOTICE = ("Vinova keeps tracking while its window is closed. Open it again from the Vinova icon in "
               "the system tray; to stop tracking, choose Quit in the icon's menu.")
NO_TRAY_NOTICE = ("This desktop has no system tray, so closing the window minimises Vinova instead, and "
                  "tracking continues. To stop tracking, press Ctrl+Q in the window.")
QUIT_QUESTION = ("Tracking stops until you open Vinova again. Minutes already recorded are kept and "
                 "sent later.")


class WindowKeeper:
    """Close hides (tray) or minimises (no tray); the tray's state and menu; Quit with confirmation."""

    def __init__(self, root: tk.Tk, look: Look, *, post: Callable[[Callable[[], None]], None],
                 agent_dir: Path, toggle_pause: Callable[[], None], sign_out: Callable[[], None],
                 quit_now: Callable[[], None], signed_in: Callable[[], bool],
                 tray_factory: TrayFactory = start_tray) -> None:
        self.root = root
        self.look = look
        self.post = post
        self.state_path = agent_dir / STATE_FILE_NAME
        self._toggle_pause = toggle_pause
        self._sign_out = sign_out
        self._quit_now = quit_now
        self._signed_in = signed_in
        self._tray_factory = tray_factory
        self.tray: Tray | None = None
        self.hidden = False
        self.dialog: MessageDialog | None = None
        self.menu: tk.Menu | None = None
        self._paused = False

    @property
    def open_dialog(self) -> MessageDialog | None:
        """The notice or question on screen now, if any."""
        dialog = self.dialog
        return dialog if dialog is not None and dialog.winfo_exists() else None

    # ------------------------------------------------------------------ tray
    def start(self) -> None:
        """Put the icon in the tray, where there is one."""
        post = self.post
        self.tray = self._tray_factory(TrayActions(
            open_window=lambda: post(self.show_window),
            toggle_pause=lambda: post(self.toggle_pause),
            sign_out=lambda: post(self.sign_out),
            quit=lambda: post(self.ask_quit),
            clicked=lambda: post(self.pop_up_menu),
        ))

    def show_state(self, key: str, text: str, paused: bool) -> None:
        """The tray badge follows the window's status badge."""
        self._paused = paused
        if self.tray is not None:
            self.tray.show_state(key, text, paused, self._signed_in())

    def stop(self) -> None:
        """Remove the tray icon (window close)."""
        if self.tray is not None:
            self.tray.stop()
            self.tray = None

    # ------------------------------------------------------------------ the window
    def close_requested(self) -> None:
        """The window's close button: hide to the tray, or minimise where there is none. Tracking goes on.

        Before anyone signed in there is nothing to keep running: the close button quits.
        """
        if not self._signed_in():
            self._quit_now()
            return
        if self.tray is None:
            self.start()  # a panel that came up after Vinova (a start at login) has a tray by now
        if self.tray is not None:
            self.root.withdraw()
            self.hidden = True
            log.info("window hidden to the tray; tracking continues")
            self._notice_once(NOTICE_TRAY, "Vinova is still running", TRAY_NOTICE)
        else:
            self.root.iconify()
            log.info("window minimised (no system tray); tracking continues")
            self._notice_once(NOTICE_NO_TRAY, "Vinova is still running", NO_TRAY_NOTICE)

    def show_window(self) -> None:
        """Bring the window back (tray's Open Vinova, or another start asking for it)."""
        self.root.deiconify()
        self.root.lift()
        self.hidden = False

    def toggle_pause(self) -> None:
        """The tray's Pause/Resume."""
        if self._signed_in():
            self._toggle_pause()

    def sign_out(self) -> None:
        """The tray's Sign out: the window comes back to show the sign-in dialog."""
        if self._signed_in():
            self.show_window()
            self._sign_out()

    def ask_quit(self) -> None:
        """The tray's Quit: show the window and ask before tracking stops."""
        self.show_window()
        self._close_dialog()
        self.dialog = MessageDialog(self.root, self.look, "Quit Vinova?", QUIT_QUESTION,
                                    (("Keep running", _nothing), ("Quit", self._quit_now)))

    def pop_up_menu(self) -> None:
        """A click on a menu-less tray icon (X11): the same menu as a Tk pop-up at the pointer."""
        if self.menu is not None:
            self.menu.destroy()
        signed_in: Literal["normal", "disabled"] = "normal" if self._signed_in() else "disabled"
        menu = self.menu = tk.Menu(self.root, tearoff=False)
        menu.add_command(label="Open Vinova", command=self.show_window)
        menu.add_command(label="Resume" if self._paused else "Pause", command=self.toggle_pause,
                         state=signed_in)
        menu.add_command(label="Sign out", command=self.sign_out, state=signed_in)
        menu.add_separator()
        menu.add_command(label="Quit", command=self.ask_quit)
        x, y = self.root.winfo_pointerxy()
        # The menu keeps Tk's grab while posted (keys choose, a click elsewhere closes it); the
        # common grab_release() after tk_popup is for Windows, where tk_popup waits.
        menu.tk_popup(x, y)

    # ------------------------------------------------------------------ notices
    def _notice_once(self, name: str, title: str, text: str) -> None:
        shown = self._shown_notices()
        if name in shown:
            return
        self._close_dialog()
        self.dialog = MessageDialog(self.root, self.look, title, text, (("OK", _nothing),))
        try:
            write_private_file(self.state_path, json.dumps({"notices_shown": sorted({*shown, name})}))
        except OSError as exc:  # the notice then shows again next time; nothing else depends on it
            log.warning("could not remember the window notice in %s: %s", self.state_path, exc)

    def _shown_notices(self) -> set[str]:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return set()
        notices = data.get("notices_shown") if isinstance(data, dict) else None
        return {str(each) for each in notices} if isinstance(notices, list) else set()

    def _close_dialog(self) -> None:
        if self.open_dialog is not None:
            self.open_dialog.destroy()
        self.dialog = None


def _nothing() -> None:
    """A button that only closes its dialog."""
