"""Closing the window keeps tracking: the tray (a fake behind the seam), its menu and Quit, under Xvfb.

The window and the engine are real (the engine's network is window_support's FakeClient); the
tray is :class:`FakeTray`, built by the same ``tray_factory`` seam the real pystray icon uses.
The real icon docked in a real tray (trayer) is tests/integration/test_tray_x.py.
"""

from __future__ import annotations

import gc
import logging
import stat
import threading
import tkinter as tk
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from window_support import SERVER_URL, FakeClient, build_test_agent, pump_until, reach_tracking

from agent.client import ServerClient
from agent.settings import AgentSettings
from agent.window.controller import VinovaApp
from agent.window.formatting import NO_VALUE
from agent.window.keeper import NO_TRAY_NOTICE, STATE_FILE_NAME, TRAY_NOTICE, WindowKeeper
from agent.window.look import STATUS_COLOURS, setup_look
from agent.window.tray import TrayActions, icon_image, tray_host_present, x11_tray_host_present

pytestmark = pytest.mark.integration


class FakeTray:
    """Records what the window shows in the tray; ``actions`` are the menu's, called from any thread."""

    def __init__(self, actions: TrayActions) -> None:
        self.actions = actions
        self.states: list[tuple[str, str, bool, bool]] = []
        self.stopped = False

    def show_state(self, key: str, text: str, paused: bool, signed_in: bool) -> None:
        self.states.append((key, text, paused, signed_in))

    def stop(self) -> None:
        self.stopped = True

    def press(self, action: str) -> None:
        """A menu item, chosen on the tray's own thread (as pystray calls it)."""
        thread = threading.Thread(target=getattr(self.actions, action), name="fake-tray")
        thread.start()
        thread.join(5)


@pytest.fixture
def root(xvfb: Any) -> Iterator[tk.Tk]:
    gc.collect()  # Tk objects must be freed on the Tk thread (see test_main_view)
    window = tk.Tk()
    yield window
    try:
        # A root destroyed while hidden (after a dialog came and went) made the next test's Tk
        # segfault in focus_force: Tk's focus record is per display, shared by the interpreters of
        # a process (DEVELOPERS). Only tests make a second interpreter; the app has one.
        window.deiconify()
        window.update()
        window.destroy()
    except tk.TclError:
        pass
    gc.collect()


@pytest.fixture
def settings(tmp_path: Path) -> AgentSettings:
    return AgentSettings(server_url=SERVER_URL, agent_dir=tmp_path / "agent")


def _app(root: tk.Tk, settings: AgentSettings, trays: list[FakeTray] | None) -> VinovaApp:
    client = FakeClient()

    def factory(actions: TrayActions) -> FakeTray | None:
        if trays is None:
            return None  # a desktop without a tray
        tray = FakeTray(actions)
        trays.append(tray)
        return tray

    return VinovaApp(root, settings, cast(ServerClient, client), build_test_agent, look=setup_look(root, 1.0),
                     client_factory=lambda _url: cast(ServerClient, client), tray_factory=factory)


@pytest.fixture
def trays() -> list[FakeTray]:
    return []


@pytest.fixture
def app(root: tk.Tk, settings: AgentSettings, trays: list[FakeTray]) -> Iterator[VinovaApp]:
    application = _app(root, settings, trays)
    yield application
    if not application.closed:
        application.keeper.show_window()  # see the root fixture
        application.root.update()
        application.close()
    # A fake tray's actions hold the window: drop them here, so that no later collection on an
    # engine thread frees Tk objects (which aborts the process; DEVELOPERS, "Tk on the wrong thread").
    trays.clear()
    del application
    gc.collect()


def _close_button(app: VinovaApp) -> None:
    """What the window manager's close button does."""
    app.root.tk.call(app.root.protocol("WM_DELETE_WINDOW"))
    app.root.update()


# --------------------------------------------------------------------------- with a tray
def test_the_close_button_hides_to_the_tray_tracking_goes_on_and_the_notice_comes_once(
    app: VinovaApp, trays: list[FakeTray], settings: AgentSettings
) -> None:
    reach_tracking(app)
    agent = app.agent
    assert agent is not None
    _close_button(app)
    assert app.root.state() == "withdrawn" and not app.closed
    assert not agent.wait(0), "the engine still runs"
    dialog = app.keeper.open_dialog
    assert dialog is not None and dialog.winfo_exists()
    assert any(TRAY_NOTICE in str(child.cget("text")) for child in dialog.winfo_children()
               if isinstance(child, tk.Widget) and "text" in child.keys())
    state_file = settings.agent_dir / STATE_FILE_NAME
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    dialog.buttons["OK"].invoke()
    trays[0].press("open_window")
    pump_until(app.root, lambda: app.root.state() == "normal", message="the window back")
    _close_button(app)
    assert app.root.state() == "withdrawn" and app.keeper.open_dialog is None  # said once only
    agent.tracker.on_key_press()
    pump_until(app.root, lambda: agent.tracker.today_totals().keys == 1, message="counting while hidden")
    app.refresh_main()
    assert app.main_view.keys_today.get() != "1", "a hidden window skips its widget updates"
    trays[0].press("open_window")
    pump_until(app.root, lambda: app.main_view.keys_today.get() == "1", message="the count at once on show")


def test_a_later_start_remembers_the_notice_was_shown(root: tk.Tk, settings: AgentSettings) -> None:
    look = setup_look(root, 1.0)

    def keeper() -> WindowKeeper:
        made = WindowKeeper(root, look, post=lambda callback: callback(), agent_dir=settings.agent_dir,
                            toggle_pause=lambda: None, sign_out=lambda: None, quit_now=lambda: None,
                            signed_in=lambda: True, tray_factory=FakeTray)
        made.start()
        return made

    first = keeper()
    first.close_requested()
    assert first.open_dialog is not None
    first.open_dialog.destroy()
    root.deiconify()
    again = keeper()  # the next start of Vinova: the file in the agent folder remembers
    again.close_requested()
    assert again.open_dialog is None and root.state() == "withdrawn"


def test_before_sign_in_the_close_button_quits(app: VinovaApp, trays: list[FakeTray]) -> None:
    app.start()
    pump_until(app.root, lambda: app.current_view is app.sign_in_view, message="the sign-in dialog")
    _close_button_no_update(app)
    assert app.closed and trays[0].stopped


def _close_button_no_update(app: VinovaApp) -> None:
    app.root.tk.call(app.root.protocol("WM_DELETE_WINDOW"))


def test_the_tray_follows_the_state_and_its_pause_posts_to_the_tk_thread(
    app: VinovaApp, trays: list[FakeTray]
) -> None:
    reach_tracking(app)
    tray = trays[0]
    assert tray.states[-1][0] == "tracking" and tray.states[-1][3] is True
    tray.press("toggle_pause")  # on another thread: it only posts
    assert app.agent is not None and not app.agent.paused
    pump_until(app.root, lambda: tray.states[-1][0] == "paused", message="the paused badge")
    assert app.agent.paused and tray.states[-1][2] is True
    assert STATUS_COLOURS["paused"] != STATUS_COLOURS["tracking"]
    tray.press("toggle_pause")
    pump_until(app.root, lambda: tray.states[-1][0] == "tracking", message="tracking again")


def test_the_trays_sign_out_brings_the_window_back_at_the_sign_in_dialog(
    app: VinovaApp, trays: list[FakeTray]
) -> None:
    reach_tracking(app)
    _close_button(app)
    if app.keeper.open_dialog is not None:
        app.keeper.open_dialog.destroy()
    trays[0].press("sign_out")
    pump_until(app.root, lambda: app.current_view is app.sign_in_view, message="the sign-in dialog")
    assert app.root.state() == "normal" and app.agent is None
    assert trays[0].states[-1][0] == "signed_out" and trays[0].states[-1][3] is False


def test_quit_from_the_tray_asks_first_and_keep_running_keeps_running(
    app: VinovaApp, trays: list[FakeTray]
) -> None:
    reach_tracking(app)
    agent = app.agent
    assert agent is not None
    trays[0].press("quit")
    pump_until(app.root, lambda: app.keeper.open_dialog is not None, message="the question")
    assert app.keeper.open_dialog is not None
    app.keeper.open_dialog.buttons["Keep running"].invoke()
    assert not app.closed and not agent.wait(0)
    trays[0].press("quit")
    question = pump_until(app.root, lambda: app.keeper.open_dialog, message="the question again")
    question.buttons["Quit"].invoke()
    assert app.closed and agent.wait(0) and trays[0].stopped


def test_a_click_on_a_menuless_icon_pops_up_the_same_menu(app: VinovaApp, trays: list[FakeTray]) -> None:
    reach_tracking(app)
    trays[0].press("clicked")
    pump_until(app.root, lambda: app.keeper.menu is not None, message="the pop-up menu")
    menu = app.keeper.menu
    assert menu is not None
    labels = [menu.entrycget(index, "label") if menu.type(index) == "command" else "-"
              for index in range(int(menu.index("end") or 0) + 1)]
    assert labels == ["Open Vinova", "Pause", "Sign out", "-", "Quit"]
    menu.unpost()
    menu.invoke(1)  # Pause
    assert app.agent is not None and app.agent.paused
    trays[0].press("clicked")
    pump_until(app.root, lambda: app.keeper.menu is not None and app.keeper.menu is not menu, message="again")
    assert app.keeper.menu is not None and app.keeper.menu.entrycget(1, "label") == "Resume"
    app.keeper.menu.unpost()


def test_a_tray_that_comes_up_after_vinova_is_used_at_the_next_close(
    root: tk.Tk, settings: AgentSettings
) -> None:
    look = setup_look(root, 1.0)
    made: list[FakeTray] = []
    host_up = [False]

    def factory(actions: TrayActions) -> FakeTray | None:
        if not host_up[0]:
            return None
        made.append(FakeTray(actions))
        return made[-1]

    keeper = WindowKeeper(root, look, post=lambda callback: callback(), agent_dir=settings.agent_dir,
                          toggle_pause=lambda: None, sign_out=lambda: None, quit_now=lambda: None,
                          signed_in=lambda: True, tray_factory=factory)
    keeper.start()  # at login, before the panel
    assert keeper.tray is None
    host_up[0] = True
    keeper.close_requested()
    assert keeper.tray is made[0] and root.state() == "withdrawn"


# --------------------------------------------------------------------------- without a tray
def test_without_a_tray_the_close_button_minimises_and_says_why_once(
    root: tk.Tk, settings: AgentSettings
) -> None:
    app = _app(root, settings, None)
    try:
        reach_tracking(app)
        agent = app.agent
        assert agent is not None and app.keeper.tray is None
        _close_button(app)
        # Minimised, never hidden: without a tray a hidden window could not be found again. (Xvfb has
        # no window manager to carry out the iconify, so Tk still says "normal" here.)
        assert app.root.state() in ("iconic", "normal") and not app.closed and not agent.wait(0)
        dialog = app.keeper.open_dialog
        assert dialog is not None
        texts = [str(child.cget("text")) for child in dialog.winfo_children() if "text" in child.keys()]
        assert NO_TRAY_NOTICE in texts
        dialog.buttons["OK"].invoke()
        app.keeper.show_window()
        _close_button(app)
        assert app.keeper.open_dialog is None
    finally:
        app.keeper.show_window()  # see the root fixture
        root.update()
        app.close()


# --------------------------------------------------------------------------- the window's manners
def test_after_pause_the_focus_leaves_the_button_so_a_space_never_pauses(app: VinovaApp) -> None:
    reach_tracking(app)
    button = app.main_view.pause_button
    button.focus_force()
    app.root.update()
    button.invoke()
    app.root.update()
    assert app.agent is not None and app.agent.paused
    assert app.root.focus_get() is not button
    focused = app.root.focus_get()
    assert focused is not None
    focused.event_generate("<KeyPress-space>")
    focused.event_generate("<KeyRelease-space>")
    app.root.update()
    assert app.agent.paused, "a space typed afterwards did not resume"


def test_ctrl_a_selects_the_whole_entry(app: VinovaApp) -> None:
    app.start()
    entry = app.sign_in_view.server_entry
    pump_until(app.root, lambda: app.current_view is app.sign_in_view, message="the sign-in dialog")
    entry.focus_force()
    entry.icursor(3)
    app.root.update()
    entry.event_generate("<Control-a>")
    app.root.update()
    assert entry.selection_present()
    assert entry.index("sel.first") == 0 and entry.index("sel.last") == len(SERVER_URL)


def test_a_new_sign_in_shows_none_of_the_last_sessions_values(app: VinovaApp) -> None:
    reach_tracking(app)
    view = app.main_view
    view.last_upload.set("12:34:56")
    view.keys_today.set("999")
    view.set_aside_note.set("3 minutes set aside: bad")
    app.presenter.reset("bob", SERVER_URL)
    assert view.last_upload.get() == NO_VALUE and view.keys_today.get() == NO_VALUE
    assert view.set_aside_note.get() == "" and "bob" in view.identity.get()


def test_the_scrollbar_thumb_is_darker_than_its_track(app: VinovaApp) -> None:
    style = app.root.tk.call("ttk::style", "lookup", "Vertical.TScrollbar", "-background")
    trough = app.root.tk.call("ttk::style", "lookup", "Vertical.TScrollbar", "-troughcolor")

    def luminance(colour: object) -> float:
        red, green, blue = (value / 65535 for value in app.root.winfo_rgb(str(colour)))
        return 0.2126 * red + 0.7152 * green + 0.0722 * blue

    assert luminance(style) < luminance(trough) - 0.15


# --------------------------------------------------------------------------- the icon and the host check
def test_the_icon_takes_the_colour_of_each_state() -> None:
    for key, colour in STATUS_COLOURS.items():
        image = icon_image(key)
        corner = image.getpixel((2, 2))
        expected = tuple(int(colour[index:index + 2], 16) for index in (1, 3, 5))
        assert corner == expected, key
        assert image.getpixel((32, 40)) == (255, 255, 255), "the white V"


def test_the_tray_host_is_the_owner_of_the_system_tray_selection(xvfb: Any) -> None:
    from Xlib import X
    from Xlib import display as xdisplay

    assert not x11_tray_host_present(xvfb.name)
    assert not tray_host_present("linux", {})  # no DISPLAY: Wayland only
    assert not tray_host_present("darwin", {"DISPLAY": xvfb.name})
    assert tray_host_present("win32", {})
    host = xdisplay.Display(xvfb.name)
    try:
        window = host.screen().root.create_window(0, 0, 1, 1, 0, X.CopyFromParent)
        selection = host.intern_atom(f"_NET_SYSTEM_TRAY_S{host.get_default_screen()}")
        window.set_selection_owner(selection, X.CurrentTime)
        host.sync()
        assert x11_tray_host_present(xvfb.name)
        assert tray_host_present("linux", {"DISPLAY": xvfb.name})
        window.destroy()
        host.sync()
        assert not x11_tray_host_present(xvfb.name)
    finally:
        host.close()


def test_no_tray_and_no_window_manager_is_said_in_the_log(
    root: tk.Tk, settings: AgentSettings, caplog: pytest.LogCaptureFixture
) -> None:
    from agent.window.tray import start_tray

    caplog.set_level(logging.INFO)
    assert start_tray(TrayActions(*(lambda: None,) * 5)) is None  # this Xvfb has no tray
    assert "no system tray on this desktop" in caplog.text


def test_a_capture_is_one_plain_line_that_says_uploaded_when_it_is(app: VinovaApp, tmp_path: Path) -> None:
    import io
    from datetime import UTC, datetime

    from PIL import Image

    from agent.events import Captured, Uploaded
    from agent.spool import CaptureRecord

    reach_tracking(app)
    agent = app.agent
    assert agent is not None
    buffer = io.BytesIO()
    Image.new("RGB", (320, 180), "#3366cc").save(buffer, "JPEG")
    record = CaptureRecord(capture_id=7, key="ann/2026/12/02/200806Z-abc.jpg", path=tmp_path / "gone.jpg",
                           taken_at=datetime.now(UTC), timezone="UTC", blurred=True, width=1920, height=1080,
                           size_bytes=len(buffer.getvalue()), sha256="0" * 64)
    agent.events.publish(Captured(record, buffer.getvalue()))
    pump_until(app.root, lambda: any(line.endswith("Screenshot taken (blurred)")
                                     for line in app.log_pane.lines_text()), message="the capture line")
    agent.events.publish(Uploaded(record))
    pump_until(app.root, lambda: any(line.endswith("Screenshot taken (blurred), uploaded")
                                     for line in app.log_pane.lines_text()), message="uploaded")
    shown = "\n".join(app.log_pane.lines_text())
    assert record.key not in shown and "capture(s)" not in shown  # the key is on hover only
