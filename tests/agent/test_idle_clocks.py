"""The Windows and macOS idle clocks and the macOS permission check, over fake system libraries.

This machine runs neither system, so each fake has the real library's function names and answers
through the same ctypes structures and pointers the real call would fill.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from agent.adapters import idle_clocks, inputs
from agent.adapters.idle_clocks import (
    ACCESSIBILITY_MESSAGE,
    SCREEN_RECORDING_MESSAGE,
    LastInputInfo,
    MacIdleClock,
    WindowsIdleClock,
    load_native_idle_clock,
    mac_permission_problems,
)


class FakeWindows:
    """user32.GetLastInputInfo filling the caller's LASTINPUTINFO, and kernel32.GetTickCount."""

    def __init__(self, last_input_ticks: int, now_ticks: int, answers: bool = True) -> None:
        self.last_input_ticks = last_input_ticks
        self.now_ticks = now_ticks
        self.answers = answers
        self.sizes_given: list[int] = []

        def get_last_input_info(pointer: Any) -> int:
            info = pointer.contents
            assert isinstance(info, LastInputInfo)
            self.sizes_given.append(info.cbSize)
            if not self.answers:
                return 0
            info.dwTime = self.last_input_ticks
            return 1

        def get_tick_count() -> int:
            return self.now_ticks

        # Plain functions, as ctypes' are: the clock sets their restype.
        self.user32 = SimpleNamespace(GetLastInputInfo=get_last_input_info)
        self.kernel32 = SimpleNamespace(GetTickCount=get_tick_count)


def test_windows_idle_is_the_ticks_since_the_last_input_in_seconds() -> None:
    fake = FakeWindows(last_input_ticks=1_000_000, now_ticks=1_042_500)
    clock = WindowsIdleClock(fake.user32, fake.kernel32)
    assert clock.seconds_since_last_input() == 42.5
    assert fake.sizes_given == [8]  # cbSize must be set, or Windows refuses the call
    assert fake.kernel32.GetTickCount.restype is ctypes.c_uint32


def test_windows_idle_survives_the_tick_counter_wrapping_after_49_days() -> None:
    fake = FakeWindows(last_input_ticks=2**32 - 3_000, now_ticks=2_000)
    assert WindowsIdleClock(fake.user32, fake.kernel32).seconds_since_last_input() == 5.0


def test_windows_idle_is_unknown_when_windows_does_not_answer_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeWindows(0, 0, answers=False)
    clock = WindowsIdleClock(fake.user32, fake.kernel32)
    assert clock.seconds_since_last_input() is None and clock.seconds_since_last_input() is None
    assert caplog.text.count("GetLastInputInfo") == 1
    fake.answers, fake.last_input_ticks, fake.now_ticks = True, 10, 1_010
    assert clock.seconds_since_last_input() == 1.0


def fake_core_graphics(seconds: float, screen_recording: bool | None = True) -> Any:
    calls: list[tuple[int, int]] = []

    def seconds_since(state: int, event_type: int) -> float:
        calls.append((state, event_type))
        return seconds

    library = SimpleNamespace(CGEventSourceSecondsSinceLastEventType=seconds_since, calls=calls)
    if screen_recording is not None:  # None: an older macOS without the preflight call
        library.CGPreflightScreenCaptureAccess = lambda: screen_recording
    return library


def test_mac_idle_asks_the_combined_session_for_any_input_event() -> None:
    library = fake_core_graphics(12.25)
    clock = MacIdleClock(library)
    assert clock.seconds_since_last_input() == 12.25
    assert library.calls == [(0, 0xFFFFFFFF)]
    assert library.CGEventSourceSecondsSinceLastEventType.restype is ctypes.c_double


@pytest.mark.parametrize("nonsense", [-1.0, float("nan")])
def test_mac_idle_is_unknown_when_the_answer_makes_no_sense(nonsense: float) -> None:
    assert MacIdleClock(fake_core_graphics(nonsense)).seconds_since_last_input() is None


def application_services(trusted: bool) -> Any:
    return SimpleNamespace(AXIsProcessTrusted=lambda: trusted)


def test_mac_permissions_granted_say_nothing() -> None:
    assert mac_permission_problems(application_services(True), fake_core_graphics(0.0)) == []


def test_mac_permissions_missing_are_named_in_plain_words() -> None:
    problems = mac_permission_problems(application_services(False), fake_core_graphics(0.0, False))
    assert problems == [ACCESSIBILITY_MESSAGE, SCREEN_RECORDING_MESSAGE]
    assert "Privacy & Security → Accessibility" in problems[0]
    assert "Privacy & Security → Screen Recording" in problems[1]
    older = mac_permission_problems(application_services(True), fake_core_graphics(0.0, None))
    assert older == []  # before macOS 10.15 there is no Screen Recording permission to ask about


def test_the_mac_loader_logs_each_missing_permission_and_returns_the_clock(
    caplog: pytest.LogCaptureFixture,
) -> None:
    libraries = {
        idle_clocks.CORE_GRAPHICS_PATH: fake_core_graphics(3.0, screen_recording=False),
        idle_clocks.APPLICATION_SERVICES_PATH: application_services(False),
    }
    with caplog.at_level(logging.WARNING):
        clock = load_native_idle_clock("darwin", libraries.__getitem__)
    assert clock is not None and clock.seconds_since_last_input() == 3.0
    assert ACCESSIBILITY_MESSAGE in caplog.text and SCREEN_RECORDING_MESSAGE in caplog.text


def test_a_system_library_that_cannot_load_means_no_idle_clock(caplog: pytest.LogCaptureFixture) -> None:
    def missing(path: str) -> Any:
        raise OSError(f"{path}: cannot open shared object file")

    with caplog.at_level(logging.INFO):
        assert load_native_idle_clock("darwin", missing) is None
    assert "idle is judged from the last input seen" in caplog.text


def test_the_one_choosing_function_picks_the_windows_and_mac_clocks(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeWindows(0, 4_000)
    monkeypatch.setattr(idle_clocks, "load_windows_idle_clock",
                        lambda: WindowsIdleClock(fake.user32, fake.kernel32))
    monkeypatch.setattr(idle_clocks, "load_mac_idle_clock",
                        lambda _open: MacIdleClock(fake_core_graphics(9.0)))
    monkeypatch.setattr(sys, "platform", "win32")
    windows = inputs.choose_idle_clock()
    assert isinstance(windows, WindowsIdleClock) and windows.seconds_since_last_input() == 4.0
    monkeypatch.setattr(sys, "platform", "darwin")
    mac = inputs.choose_idle_clock()
    assert isinstance(mac, MacIdleClock) and mac.seconds_since_last_input() == 9.0
