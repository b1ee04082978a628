"""The desktop portal's screenshot grabber over a real private dbus-daemon and a stand-in portal.

The stand-in (``tests/portal_standin.py``, its own process) implements the same Screenshot method, Request
object and Response signal as xdg-desktop-portal, and writes a real PNG for a successful answer.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from dbus_support import dbus_daemon_missing, running_service, running_session_bus
from portal_standin import CALL_LOG, pattern
from support import wait_until

from agent.adapters.portal_screen import (
    REQUEST_PATH_PREFIX,
    PortalMonitorGrabber,
    choose_portal_grabber,
    file_path_of,
    request_path,
)
from agent.seams import ScreenshotsBlocked
from contract.errors import CaptureFailed, VinovaError

pytestmark = pytest.mark.skipif(dbus_daemon_missing(), reason="dbus-daemon is not installed "
                                "(scripts/install-apt.sh installs it)")
PORTAL_NAME = "org.freedesktop.portal.Desktop"
SIZE = (1600, 900)


@pytest.fixture(scope="module")
def session_bus() -> Iterator[str]:
    """A private session bus's address, shared by this module's tests (each starts its own portal)."""
    with running_session_bus() as address:
        yield address


def portal(address: str, folder: Path, *options: str) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """The stand-in portal on ``address``, writing into ``folder``, until the block ends."""
    arguments = ["--folder", str(folder), *options]
    return running_service(address, "portal_standin", arguments, bus_name=PORTAL_NAME)


def calls(folder: Path) -> list[dict[str, object]]:
    """What the stand-in logged: one entry per call it answered (and per file it wrote)."""
    log = folder / CALL_LOG
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def pictures(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png"))


def test_a_screenshot_is_the_portals_image_as_monitor_zero_and_its_file_is_deleted(
    session_bus: str, tmp_path: Path
) -> None:
    with portal(session_bus, tmp_path, "--answer", "0", "--size", "x".join(map(str, SIZE))):
        grabber = choose_portal_grabber({"DBUS_SESSION_BUS_ADDRESS": session_bus})
        assert isinstance(grabber, PortalMonitorGrabber) and grabber.version == 2
        images = grabber()
    assert [shot.monitor for shot in images] == [0]
    image = images[0].image
    assert image.mode == "RGB" and image.size == SIZE
    expected = pattern(SIZE)
    for point in [(10, 10), (SIZE[0] // 3, SIZE[1] // 3), (SIZE[0] - 5, SIZE[1] - 5)]:
        assert image.getpixel(point) == expected.getpixel(point)
    written = [entry["file"] for entry in calls(tmp_path) if entry["method"] == "wrote"]
    assert len(written) == 1 and " " in str(written[0])  # a name with a space reached us through the URI
    assert not Path(str(written[0])).exists() and pictures(tmp_path) == []


def test_the_request_is_non_interactive_at_the_predictable_path(session_bus: str, tmp_path: Path) -> None:
    with portal(session_bus, tmp_path, "--answer", "0", "--size", "64x48"):
        PortalMonitorGrabber(session_bus)()
        PortalMonitorGrabber(session_bus)()
    screenshots = [entry for entry in calls(tmp_path) if entry["method"] == "Screenshot"]
    assert len(screenshots) == 2
    tokens = set()
    for entry in screenshots:
        options = entry["options"]
        assert isinstance(options, dict) and options["interactive"] is False
        token = str(options["handle_token"])
        assert token.startswith("vinova_")
        assert entry["path"] == request_path(str(entry["sender"]), token)
        tokens.add(token)
    assert len(tokens) == 2, "each request has a token of its own"


@pytest.mark.parametrize("options", [["--signal-first"], ["--legacy-handle"]],
                         ids=["answer-before-reply", "portal-chose-its-own-path"])
def test_an_answer_before_the_reply_or_at_another_path_still_arrives(
    session_bus: str, tmp_path: Path, options: list[str]
) -> None:
    with portal(session_bus, tmp_path, "--answer", "0", "--size", "320x200", *options):
        images = PortalMonitorGrabber(session_bus, timeout_seconds=10)()
    assert images[0].image.size == (320, 200)
    assert pictures(tmp_path) == []


@pytest.mark.parametrize("answer", ["1", "2"], ids=["refused", "ended-otherwise"])
def test_a_refused_or_dismissed_request_raises_screenshots_blocked_with_advice(
    session_bus: str, tmp_path: Path, answer: str
) -> None:
    with portal(session_bus, tmp_path, "--answer", answer):
        with pytest.raises(ScreenshotsBlocked) as raised:
            PortalMonitorGrabber(session_bus)()
    message = str(raised.value)
    assert "the desktop" in message and "allow Vinova" in message
    assert "GNOME" in message and "KDE" in message
    assert not isinstance(raised.value, CaptureFailed), "blocked is a state, not a failed capture"
    assert pictures(tmp_path) == []


def test_a_silent_portal_raises_a_timeout_within_its_bound_and_closes_the_request(
    session_bus: str, tmp_path: Path
) -> None:
    with portal(session_bus, tmp_path, "--answer", "never"):
        grabber = PortalMonitorGrabber(session_bus, timeout_seconds=1.0)
        started = time.monotonic()
        with pytest.raises(CaptureFailed, match=r"did not answer .* within 1 s") as raised:
            grabber()
        elapsed = time.monotonic() - started
        # The stand-in hears the Close: an unanswered prompt is ended, so no late image is left behind.
        wait_until(lambda: any(entry["method"] == "Close" for entry in calls(tmp_path)), 10,
                   message="the portal request closed")
    assert isinstance(raised.value, VinovaError) and not isinstance(raised.value, ScreenshotsBlocked)
    assert 1.0 <= elapsed < 6.0
    closed = [entry["path"] for entry in calls(tmp_path) if entry["method"] == "Close"]
    opened = [entry["path"] for entry in calls(tmp_path) if entry["method"] == "Screenshot"]
    assert closed == opened and str(closed[0]).startswith(REQUEST_PATH_PREFIX)


def test_the_chooser_gives_none_without_a_session_bus(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="agent.adapters.portal_screen"):
        assert choose_portal_grabber({}) is None
    assert "DBUS_SESSION_BUS_ADDRESS is not set" in caplog.text


def test_the_chooser_gives_none_when_the_bus_is_unreachable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    environ = {"DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}"}
    with caplog.at_level(logging.INFO, logger="agent.adapters.portal_screen"):
        assert choose_portal_grabber(environ) is None
    assert "no screenshot portal" in caplog.text and "cannot connect" in caplog.text


def test_the_chooser_gives_none_without_a_portal_or_its_screenshot_interface(
    session_bus: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    environ = {"DBUS_SESSION_BUS_ADDRESS": session_bus}
    with caplog.at_level(logging.INFO, logger="agent.adapters.portal_screen"):
        assert choose_portal_grabber(environ) is None
        assert "ServiceUnknown" in caplog.text or "NameHasNoOwner" in caplog.text
        caplog.clear()
        with portal(session_bus, tmp_path, "--no-screenshot"):
            assert choose_portal_grabber(environ) is None
    assert "no screenshot portal" in caplog.text


def test_a_capture_without_a_bus_fails_as_a_capture(tmp_path: Path) -> None:
    with pytest.raises(CaptureFailed, match="cannot reach the desktop portal"):
        PortalMonitorGrabber(f"unix:path={tmp_path / 'no-bus'}", timeout_seconds=1)()


def test_the_grabber_says_it_may_ask_the_person() -> None:
    assert PortalMonitorGrabber.asks_permission is True


@pytest.mark.parametrize(("uri", "path"), [
    ("file:///home/ann/Pictures/Screenshot%20from%202026.png", "/home/ann/Pictures/Screenshot from 2026.png"),
    ("file://localhost/tmp/out.png", "/tmp/out.png"),
])
def test_file_uris_become_local_paths(uri: str, path: str) -> None:
    assert file_path_of(uri) == Path(path)


@pytest.mark.parametrize("uri", ["https://example.org/shot.png", "file://otherhost/tmp/a.png", "out.png"])
def test_other_uris_are_refused(uri: str) -> None:
    with pytest.raises(CaptureFailed, match="no local file"):
        file_path_of(uri)
