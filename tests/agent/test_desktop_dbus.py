"""The GNOME, KDE and logind D-Bus adapters over a real private dbus-daemon and the desktop stand-in.

The stand-in (``tests/dbus_standin.py``) implements the same method signatures as mutter's idle monitor,
gnome-shell's and kscreenlocker's screen savers and logind, in its own process; a service that vanishes is
that process stopped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from dbus_support import dbus_daemon_missing, running_session_bus, running_standin

from agent.adapters.dbus_bus import BusConnection
from agent.adapters.desktop_dbus import (
    ZERO_READINGS_MEANING_NO_COUNTER,
    DbusLockState,
    MutterIdleClock,
    ScreenSaverIdleClock,
    choose_dbus_idle_clock,
    choose_dbus_lock_state,
)

needs_dbus = pytest.mark.skipif(dbus_daemon_missing(), reason="dbus-daemon is not installed "
                                "(scripts/install-apt.sh installs it)")
NO_SYSTEM_BUS = {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/vinova-test-system-bus"}


@pytest.fixture
def session_bus() -> Iterator[str]:
    """A private session bus's address."""
    with running_session_bus() as address:
        yield address


def _environ(address: str, **extra: str) -> dict[str, str]:
    return {"DBUS_SESSION_BUS_ADDRESS": address, **NO_SYSTEM_BUS, **extra}


# --------------------------------------------------------------------------- idle clocks
@needs_dbus
@pytest.mark.integration
def test_gnome_idle_clock_follows_mutters_idle_time_in_milliseconds(session_bus: str) -> None:
    with running_standin(session_bus, ["mutter"]) as stand_in:
        clock = choose_dbus_idle_clock("gnome", _environ(session_bus))
        assert isinstance(clock, MutterIdleClock)
        try:
            stand_in.set_idle_milliseconds(61_500)
            assert clock.seconds_since_last_input() == 61.5
            stand_in.set_idle_milliseconds(0)
            assert clock.seconds_since_last_input() == 0.0
        finally:
            clock.close()


@needs_dbus
@pytest.mark.integration
def test_kde_idle_clock_reads_session_idle_time_as_milliseconds(session_bus: str) -> None:
    with running_standin(session_bus, ["screensaver"]) as stand_in:
        stand_in.set_idle_milliseconds(4_200)
        clock = choose_dbus_idle_clock("kde", _environ(session_bus))
        assert isinstance(clock, ScreenSaverIdleClock)
        try:
            assert clock.seconds_since_last_input() == 4.2
            stand_in.set_idle_milliseconds(300_000)
            assert clock.seconds_since_last_input() == 300.0
        finally:
            clock.close()


@needs_dbus
@pytest.mark.integration
def test_kde_idle_clock_that_keeps_answering_zero_cannot_tell(session_bus: str) -> None:
    # Plasma on Wayland answers GetSessionIdleTime with 0 forever: that is "cannot tell", not "always active".
    with running_standin(session_bus, ["screensaver"]) as stand_in:
        clock = ScreenSaverIdleClock(BusConnection(session_bus))
        try:
            limit = ZERO_READINGS_MEANING_NO_COUNTER
            readings = [clock.seconds_since_last_input() for _ in range(limit + 1)]
            assert readings[: limit - 1] == [0.0] * (limit - 1)
            assert readings[limit - 1:] == [None, None]
            stand_in.set_idle_milliseconds(1_500)
            assert clock.seconds_since_last_input() == 1.5
        finally:
            clock.close()


# --------------------------------------------------------------------------- lock state
@needs_dbus
@pytest.mark.integration
def test_gnome_lock_follows_the_screen_shields_get_active(session_bus: str) -> None:
    with running_standin(session_bus, ["gnome-screensaver"]) as stand_in:
        lock = choose_dbus_lock_state("gnome", _environ(session_bus))
        assert isinstance(lock, DbusLockState)
        try:
            assert lock.screen_locked() is False
            stand_in.set_locked(True)
            assert lock.screen_locked() is True
            stand_in.set_locked(False)
            assert lock.screen_locked() is False
        finally:
            lock.close()


@needs_dbus
@pytest.mark.integration
def test_kde_lock_follows_the_freedesktop_screen_savers_get_active(session_bus: str) -> None:
    with running_standin(session_bus, ["screensaver"]) as stand_in:
        lock = choose_dbus_lock_state("kde", _environ(session_bus))
        assert lock is not None
        try:
            stand_in.set_locked(True)
            assert lock.screen_locked() is True
            stand_in.set_locked(False)
            assert lock.screen_locked() is False
        finally:
            lock.close()


@needs_dbus
@pytest.mark.integration
@pytest.mark.parametrize("session_id", ["c1", ""])
def test_any_desktop_falls_back_to_loginds_locked_hint(session_bus: str, session_id: str) -> None:
    # With XDG_SESSION_ID the session is looked up by id; without, GetSessionByPID fails (no session of its
    # own, as under a user service) and logind's "auto" session answers.
    with running_session_bus("system") as system_bus, running_standin(system_bus, ["login1"]) as logind:
        environ = {"DBUS_SESSION_BUS_ADDRESS": session_bus, "DBUS_SYSTEM_BUS_ADDRESS": system_bus,
                   **({"XDG_SESSION_ID": session_id} if session_id else {})}
        lock = choose_dbus_lock_state("wlroots", environ)
        assert lock is not None
        try:
            assert lock.screen_locked() is False
            logind.set_locked(True)
            assert lock.screen_locked() is True
        finally:
            lock.close()


@needs_dbus
@pytest.mark.integration
def test_the_desktops_answer_wins_over_loginds(session_bus: str) -> None:
    with running_session_bus("system") as system_bus, running_standin(system_bus, ["login1"]) as logind, \
            running_standin(session_bus, ["gnome-screensaver"]) as shield:
        environ = {"DBUS_SESSION_BUS_ADDRESS": session_bus, "DBUS_SYSTEM_BUS_ADDRESS": system_bus}
        lock = choose_dbus_lock_state("gnome", environ)
        assert lock is not None
        try:
            logind.set_locked(True)
            assert lock.screen_locked() is False  # the shield is down
            shield.set_locked(True)
            assert lock.screen_locked() is True
        finally:
            lock.close()


# --------------------------------------------------------------------------- failures
@needs_dbus
@pytest.mark.integration
def test_a_service_that_vanishes_gives_none_logged_once_and_comes_back(
    session_bus: str, caplog: pytest.LogCaptureFixture
) -> None:
    environ = _environ(session_bus)
    with running_standin(session_bus, ["mutter", "gnome-screensaver"]) as stand_in:
        stand_in.set_idle_milliseconds(2_000)
        clock = choose_dbus_idle_clock("gnome", environ)
        lock = choose_dbus_lock_state("gnome", environ)
        assert clock is not None and lock is not None
        assert clock.seconds_since_last_input() == 2.0
    try:
        with caplog.at_level(logging.INFO, logger="agent.adapters"):
            readings = [(clock.seconds_since_last_input(), lock.screen_locked()) for _ in range(3)]
            assert readings == [(None, None)] * 3
            with running_standin(session_bus, ["mutter", "gnome-screensaver"]) as again:
                again.set_idle_milliseconds(7_000)
                again.set_locked(True)
                assert clock.seconds_since_last_input() == 7.0
                assert lock.screen_locked() is True
        messages = [record.getMessage() for record in caplog.records]
        assert len([m for m in messages if "idle monitor" in m and "no usable answer" in m]) == 1
        assert len([m for m in messages if "screen shield" in m and "no usable answer" in m]) == 1
        assert len([m for m in messages if m.endswith("answers again")]) == 2
    finally:
        clock.close()
        lock.close()


@needs_dbus
@pytest.mark.integration
def test_answers_of_the_wrong_type_give_none_not_exceptions(session_bus: str) -> None:
    with running_session_bus("system") as system_bus, running_standin(system_bus, ["login1"]) as logind, \
            running_standin(session_bus, ["mutter", "screensaver", "gnome-screensaver"]) as stand_in:
        environ = {"DBUS_SESSION_BUS_ADDRESS": session_bus, "DBUS_SYSTEM_BUS_ADDRESS": system_bus}
        gnome_clock = MutterIdleClock(BusConnection(session_bus))
        kde_clock = ScreenSaverIdleClock(BusConnection(session_bus))
        gnome_lock = choose_dbus_lock_state("gnome", environ)
        logind_lock = choose_dbus_lock_state("wlroots", {"DBUS_SYSTEM_BUS_ADDRESS": system_bus})
        assert gnome_lock is not None and logind_lock is not None
        try:
            stand_in.set_wrong_types(True)
            logind.set_wrong_types(True)
            assert gnome_clock.seconds_since_last_input() is None
            assert kde_clock.seconds_since_last_input() is None
            assert gnome_lock.screen_locked() is None
            assert logind_lock.screen_locked() is None
            stand_in.set_wrong_types(False)
            assert gnome_clock.seconds_since_last_input() == 0.0
            assert gnome_lock.screen_locked() is False
        finally:
            for adapter in (gnome_clock, kde_clock, gnome_lock, logind_lock):
                adapter.close()


@needs_dbus
@pytest.mark.integration
def test_a_hung_service_gives_none_within_its_time_budget(session_bus: str) -> None:
    with running_standin(session_bus, ["mutter", "gnome-screensaver"]) as stand_in:
        clock = MutterIdleClock(BusConnection(session_bus), timeout_seconds=0.3)
        lock = choose_dbus_lock_state("gnome", _environ(session_bus))
        assert lock is not None
        try:
            stand_in.set_silent(True)
            started = time.monotonic()
            assert clock.seconds_since_last_input() is None
            assert lock.screen_locked() is None
            # 0.3 s + 0.5 s of budget; the bound leaves room for a loaded machine.
            assert time.monotonic() - started < 3.0
            stand_in.set_silent(False)
            assert clock.seconds_since_last_input() == 0.0
            assert lock.screen_locked() is False
        finally:
            clock.close()
            lock.close()


@needs_dbus
@pytest.mark.integration
def test_choosers_give_none_when_the_desktop_services_are_absent(session_bus: str) -> None:
    environ = _environ(session_bus)
    assert choose_dbus_idle_clock("gnome", environ) is None
    assert choose_dbus_idle_clock("kde", environ) is None
    assert choose_dbus_lock_state("gnome", environ) is None


def test_choosers_give_none_without_a_session_bus(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="agent.adapters"):
        assert choose_dbus_idle_clock("gnome", {}) is None
        assert choose_dbus_idle_clock("kde", NO_SYSTEM_BUS) is None
        assert choose_dbus_lock_state("kde", NO_SYSTEM_BUS) is None
    assert any("DBUS_SESSION_BUS_ADDRESS is not set" in record.getMessage() for record in caplog.records)


def test_no_dbus_idle_clock_for_a_desktop_without_one() -> None:
    assert choose_dbus_idle_clock("wlroots", {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent"}) is None


def test_adapters_on_an_unreachable_bus_answer_none_and_close_twice() -> None:
    bus = BusConnection("unix:path=/nonexistent/vinova-test-bus")
    clock = MutterIdleClock(bus)
    kde_clock = ScreenSaverIdleClock(bus)
    assert clock.seconds_since_last_input() is None
    assert kde_clock.seconds_since_last_input() is None
    clock.close()
    clock.close()
