"""Opens the window: DPI awareness, the Tk root, the UI scale, signals; runs until the window closes."""

from __future__ import annotations

import logging
import signal
import threading
import tkinter as tk
from collections.abc import Callable
from types import FrameType

from agent.client import ServerClient
from agent.settings import AgentSettings
from agent.window.controller import AgentBuilder, VinovaApp
from agent.window.look import enable_windows_dpi_awareness, setup_look, ui_scale_from_environment

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_NO_WINDOW = 4

SignalHandler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


def run_gui(settings: AgentSettings, client: ServerClient, build_agent: AgentBuilder,
            on_open: Callable[[VinovaApp], None] | None = None) -> int:
    """Open the window and run until Vinova quits (Ctrl+Q, the tray's Quit, SIGTERM or SIGINT).

    The close button only hides the window to the tray, or minimises it (agent.window.keeper).

    ``on_open`` gets the app once the window exists (main.py attaches autostart and the doorbell).
    """
    enable_windows_dpi_awareness()
    try:
        root = tk.Tk(className="Vinova")
    except tk.TclError as exc:
        log.error("cannot open a window (%s); start with --headless to sign in on the terminal", exc)
        return EXIT_NO_WINDOW
    look = setup_look(root, ui_scale_from_environment())
    app = VinovaApp(root, settings, client, build_agent, look=look)
    if on_open is not None:
        on_open(app)
    previous: dict[signal.Signals, SignalHandler] = {}

    def request_close(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %s: closing", signum)
        app.post(app.close)

    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGTERM, signal.SIGINT):
            previous[number] = signal.signal(number, request_close)
    try:
        app.start()
        root.mainloop()
    finally:
        if not app.closed:
            app.close()
        for number, handler in previous.items():
            signal.signal(number, handler)
    main_thread = threading.main_thread()
    leftover = [t.name for t in threading.enumerate() if t.is_alive() and not t.daemon and t != main_thread]
    if leftover:
        log.warning("threads still running after close: %s", ", ".join(leftover))
    return EXIT_OK
