"""The tray icon: a coloured badge for the state and a menu (Open Vinova, Pause/Resume, Sign out, Quit).

Seam: :class:`Tray` is what the window uses; :func:`start_tray` makes the real one (pystray) or
None where the desktop has no tray. pystray runs its own event loop, so the real icon lives on
its own daemon thread ("vinova-tray"); its menu callbacks run on that thread and only hand the
action to ``post`` (the window's queue), since only the Tk thread may touch widgets.

Backends: Windows and the Linux StatusNotifier backends (appindicator/gtk, when PyGObject is
installed) draw their own menu. The X11 backend (``xorg``, an XEmbed icon, used when PyGObject is
not there) has no menu: a left click runs the default action, which asks the window to pop up its
own Tk menu at the pointer (:meth:`agent.window.keeper.WindowKeeper.tray_clicked`). macOS needs the
icon on the main thread, which Tk owns, so there the window minimises instead of hiding.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from PIL import Image, ImageDraw

from agent.window.look import STATUS_COLOURS

log = logging.getLogger(__name__)

ICON_SIZE_PX = 64
STOP_TIMEOUT_SECONDS = 2.0
UNKNOWN_STATE_COLOUR = "#4b5563"


@dataclass(frozen=True, slots=True)
class TrayActions:
    """What the tray's menu can do; each is called on the tray's own thread, so each only posts."""

    open_window: Callable[[], None]
    toggle_pause: Callable[[], None]
    sign_out: Callable[[], None]
    quit: Callable[[], None]
    clicked: Callable[[], None]  # a click on a menu-less icon (X11): the window pops up its own menu


class Tray(Protocol):
    """A running tray icon. Called on the Tk thread; each call returns at once (no blocking I/O)."""

    def show_state(self, key: str, text: str, paused: bool, signed_in: bool) -> None:
        """Colour the badge for ``key``; ``text`` is its tooltip; the menu follows paused/signed in."""

    def stop(self) -> None:
        """Remove the icon and end its thread (within ~2 s; idempotent)."""


def icon_image(key: str, size_px: int = ICON_SIZE_PX) -> Image.Image:
    """The badge: a rounded square in the state's colour with a white "V" (opaque, for any panel)."""
    colour = STATUS_COLOURS.get(key, UNKNOWN_STATE_COLOUR)  # the window's status badge colours
    image = Image.new("RGB", (size_px, size_px), colour)
    draw = ImageDraw.Draw(image)
    margin = size_px * 0.24
    width = max(2, round(size_px * 0.13))
    points = [(margin, margin), (size_px / 2, size_px - margin), (size_px - margin, margin)]
    draw.line(points, fill="#ffffff", width=width, joint="curve")
    return image


def x11_tray_host_present(display_name: str | None = None) -> bool:
    """Whether an XEmbed system tray owns ``_NET_SYSTEM_TRAY_S<screen>`` on the X display (any thread)."""
    try:
        from Xlib import X
        from Xlib import display as xdisplay
        from Xlib.error import DisplayError
    except ImportError:
        return False
    try:
        connection = xdisplay.Display(display_name)
    except (DisplayError, OSError) as exc:
        log.debug("no X display for a tray: %s", exc)
        return False
    try:
        atom = connection.intern_atom(f"_NET_SYSTEM_TRAY_S{connection.get_default_screen()}")
        owner = connection.get_selection_owner(atom)
        return bool(owner != X.NONE and getattr(owner, "id", owner) != X.NONE)
    finally:
        connection.close()


def tray_host_present(platform: str = sys.platform, environ: dict[str, str] | None = None) -> bool:
    """Whether this desktop can show a tray icon that Vinova can run beside Tk."""
    environment = os.environ if environ is None else environ
    if platform == "win32":
        return True
    if platform == "darwin":
        return False  # pystray's macOS icon must own the main thread, which Tk owns
    if not environment.get("DISPLAY"):
        return False  # Wayland without X: no XEmbed tray (StatusNotifier needs PyGObject)
    return x11_tray_host_present(environment.get("DISPLAY"))


class PystrayTray:
    """The real tray icon (pystray) on its own thread; state changes go through a second one.

    pystray's X11 icon runs each change on its loop's thread and makes the caller wait for it, so
    the Tk thread only puts the newest state on a queue: a stuck tray can never freeze the window.
    """

    def __init__(self, actions: TrayActions) -> None:
        import pystray  # chooses its backend at import; never at this module's import

        self._actions = actions
        self._paused = False
        self._signed_in = False
        self._key = ""
        self._stopped = False
        self._lock = threading.Lock()
        self._updates: queue.Queue[tuple[str, str, bool, bool] | None] = queue.Queue()
        item = pystray.MenuItem
        self.has_menu = bool(getattr(pystray.Icon, "HAS_MENU", True))
        if self.has_menu:
            menu = pystray.Menu(
                item("Open Vinova", self._on(actions.open_window), default=True),
                item(lambda _item: "Resume" if self._paused else "Pause", self._on(actions.toggle_pause),
                     enabled=lambda _item: self._signed_in),
                item("Sign out", self._on(actions.sign_out), enabled=lambda _item: self._signed_in),
                item("Quit", self._on(actions.quit)),
            )
        else:  # one default action: the window shows its own menu
            menu = pystray.Menu(item("Vinova", self._on(actions.clicked), default=True, visible=False))
        self._icon: Any = pystray.Icon("vinova", icon_image("starting"), "Vinova", menu)
        self._thread = threading.Thread(target=self._run, name="vinova-tray", daemon=True)
        self._thread.start()
        self._updater = threading.Thread(target=self._apply_updates, name="vinova-tray-updates", daemon=True)
        self._updater.start()

    def _on(self, action: Callable[[], None]) -> Callable[..., None]:
        def handler(*_args: Any) -> None:
            action()

        return handler

    def _run(self) -> None:
        try:
            self._icon.run(setup=_make_visible)
        except Exception:  # job boundary: a broken tray must not take the window down
            log.exception("the tray icon stopped")

    def show_state(self, key: str, text: str, paused: bool, signed_in: bool) -> None:
        """Hand the state to the updater thread (returns at once)."""
        if not self._stopped:
            self._updates.put((key, text, paused, signed_in))

    def _apply_updates(self) -> None:
        while True:
            update = self._updates.get()
            while update is not None and not self._updates.empty():
                update = self._updates.get()  # only the newest state matters
            if update is None:
                return
            self._apply(*update)

    def _apply(self, key: str, text: str, paused: bool, signed_in: bool) -> None:
        """New colour only when the state changed; the tooltip and the menu always follow."""
        with self._lock:
            menu_changed = (paused, signed_in) != (self._paused, self._signed_in)
            self._paused, self._signed_in = paused, signed_in
        # X11 names windows in Latin-1 (python-xlib's WM_NAME): keep the tooltip within it.
        title = f"Vinova: {text}".encode("latin-1", "replace").decode("latin-1")
        try:
            if key != self._key:
                self._key = key
                self._icon.icon = icon_image(key)
            if self._icon.title != title:
                self._icon.title = title
            if menu_changed and self.has_menu:
                self._icon.update_menu()
        except Exception:  # job boundary: a tray that fails to redraw must not stop the updates
            log.warning("the tray icon could not show the state %s", key, exc_info=True)

    def stop(self) -> None:
        """Remove the icon; both threads end (each waited for at most ~2 s)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._updates.put(None)
        self._updater.join(STOP_TIMEOUT_SECONDS)
        if self._thread.is_alive():
            stopper = threading.Thread(target=self._stop_icon, name="vinova-tray-stop", daemon=True)
            stopper.start()
            stopper.join(STOP_TIMEOUT_SECONDS)
        self._thread.join(STOP_TIMEOUT_SECONDS)

    def _stop_icon(self) -> None:
        try:
            self._icon.stop()
        except Exception:  # stopping must finish; the thread is a daemon anyway
            log.debug("the tray icon did not stop cleanly", exc_info=True)


def _make_visible(icon: Any) -> None:
    """pystray's setup step: show the icon (on X11 first let its window hear clicks)."""
    _listen_for_clicks(icon)
    icon.visible = True


def _listen_for_clicks(icon: Any) -> None:
    """pystray 0.19.5's X11 icon handles ButtonPress but never asks X for it (its window selects only
    exposure and structure events), so a click never arrived; we add ButtonPressMask to that window."""
    window, connection = getattr(icon, "_window", None), getattr(icon, "_display", None)
    if window is None or connection is None:
        return  # another backend
    try:
        from Xlib import X

        window.change_attributes(event_mask=X.ExposureMask | X.StructureNotifyMask | X.ButtonPressMask)
        connection.flush()
    except Exception:  # the icon still shows; only clicks would be lost
        log.warning("the tray icon may not react to clicks", exc_info=True)


TrayFactory = Callable[[TrayActions], Tray | None]


def start_tray(actions: TrayActions) -> Tray | None:
    """The real tray where the desktop has one, else None (then closing the window minimises it)."""
    if not tray_host_present():
        log.info("no system tray on this desktop: closing the window will minimise it")
        return None
    try:
        return PystrayTray(actions)
    except Exception as exc:  # noqa: BLE001 - pystray raises bare errors per backend; the window still works
        log.warning("the tray icon could not start: %s", exc)
        return None
