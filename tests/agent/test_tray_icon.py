"""The pystray adapter without a display: a fake ``pystray`` module stands in for the library."""

from __future__ import annotations

import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support import wait_until

from agent.window.tray import PystrayTray, TrayActions


class FakeIcon:
    """pystray.Icon's surface: run(setup) blocks until stop(); icon/title are properties we record."""

    HAS_MENU = False
    hang_on_stop = False
    release = threading.Event()  # lets a hung stop() end when the test is over
    made: list[FakeIcon] = []

    def __init__(self, name: str, icon: Any, title: str, menu: Any) -> None:
        self.name, self.icon, self.title, self.menu = name, icon, title, menu
        self.visible = False
        self.stopped = threading.Event()
        self.icons: list[Any] = []
        FakeIcon.made.append(self)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "icon" and "icons" in self.__dict__:
            self.icons.append(value)
        object.__setattr__(self, name, value)

    def run(self, setup: Callable[[Any], None]) -> None:
        setup(self)
        self.stopped.wait()

    def stop(self) -> None:
        if FakeIcon.hang_on_stop:
            FakeIcon.release.wait(30)  # like a dead X loop: no answer while the test runs
        self.stopped.set()

    def update_menu(self) -> None:
        pass

    def __call__(self) -> None:
        self.menu.default()


class FakeMenuItem:
    def __init__(self, text: Any, action: Callable[..., None], **options: Any) -> None:
        self.text, self.action, self.options = text, action, options


class FakeMenu:
    def __init__(self, *items: FakeMenuItem) -> None:
        self.items = items

    def default(self) -> None:
        next(item for item in self.items if item.options.get("default")).action()


@pytest.fixture
def fake_pystray(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeIcon]]:
    module = types.ModuleType("pystray")
    module.Icon = FakeIcon  # type: ignore[attr-defined]
    module.Menu = FakeMenu  # type: ignore[attr-defined]
    module.MenuItem = FakeMenuItem  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pystray", module)
    FakeIcon.made = []
    FakeIcon.hang_on_stop = False
    FakeIcon.release.clear()
    yield FakeIcon
    FakeIcon.hang_on_stop = False
    FakeIcon.release.set()
    for icon in FakeIcon.made:
        icon.stopped.set()


def _actions(clicks: list[str]) -> TrayActions:
    return TrayActions(*(lambda name=name: clicks.append(name)
                         for name in ("open", "pause", "sign_out", "quit", "clicked")))


def test_the_icon_shows_the_newest_state_without_the_caller_waiting(fake_pystray: type[FakeIcon]) -> None:
    clicks: list[str] = []
    tray = PystrayTray(_actions(clicks))
    icon = fake_pystray.made[0]
    wait_until(lambda: icon.visible, timeout=5, message="the icon shown")
    for key in ("starting", "tracking", "paused", "offline"):
        tray.show_state(key, key.capitalize(), key == "paused", True)
    wait_until(lambda: icon.title == "Vinova: Offline", timeout=5, message="the newest state")
    assert icon.icons and icon.icons[-1].getpixel((2, 2)) == (0xB9, 0x1C, 0x1C)  # offline red
    tray.show_state("tracking", "Tracking — fine", False, True)  # an em dash: X11 names are Latin-1
    wait_until(lambda: icon.title == "Vinova: Tracking ? fine", timeout=5, message="a Latin-1 title")
    icon()  # a click on an X11 icon without a menu
    assert clicks == ["clicked"]
    tray.stop()
    assert not tray._thread.is_alive()


def test_stop_returns_even_when_the_tray_loop_never_answers(fake_pystray: type[FakeIcon]) -> None:
    tray = PystrayTray(_actions([]))
    fake_pystray.hang_on_stop = True
    started = time.monotonic()
    tray.stop()
    assert time.monotonic() - started < 7
    tray.show_state("tracking", "Tracking", False, True)  # after stop: ignored, never raises
