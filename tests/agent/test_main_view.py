"""The window's main view under Xvfb: counts, config, pause, sign-out, close and the engine's events.

The engine is the real ``agent.Agent``; only the network behind ``ServerClient`` is faked.
"""

from __future__ import annotations

import gc
import io
import logging
import threading
import time
import tkinter as tk
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from PIL import Image
from support import wait_until
from window_support import (
    GOOD_CODE,
    SERVER_URL,
    FakeClient,
    build_test_agent,
    enter_code,
    pump_until,
    reach_tracking,
    sign_in_through_dialogs,
)

from agent.client import ServerClient
from agent.events import Captured
from agent.session import load_session
from agent.settings import AgentSettings
from agent.spool import CaptureRecord
from agent.window.controller import VinovaApp
from agent.window.look import setup_look


@pytest.fixture
def info_logging() -> Iterator[None]:
    root_logger = logging.getLogger()
    level = root_logger.level
    root_logger.setLevel(logging.INFO)
    yield
    root_logger.setLevel(level)


@pytest.fixture
def root(xvfb: Any) -> Iterator[tk.Tk]:
    # Tk objects must be freed on the Tk thread: collect leftovers of earlier tests here, on the
    # main thread, before a collection on an engine thread finalizes them and aborts the process.
    gc.collect()
    window = tk.Tk()
    yield window
    try:
        window.destroy()
    except tk.TclError:
        pass  # the test closed it
    gc.collect()


@pytest.fixture
def client() -> FakeClient:
    return FakeClient()


@pytest.fixture
def settings(tmp_path: Path) -> AgentSettings:
    return AgentSettings(server_url=SERVER_URL, agent_dir=tmp_path / "agent")


@pytest.fixture
def app(root: tk.Tk, settings: AgentSettings, client: FakeClient, info_logging: None) -> Iterator[VinovaApp]:
    application = VinovaApp(
        root, settings, cast(ServerClient, client), build_test_agent,
        look=setup_look(root, 1.0), client_factory=lambda url: cast(ServerClient, client),
    )
    yield application
    if not application.closed:
        application.close()



# --------------------------------------------------------------------------- main window
@pytest.mark.integration
def test_main_window_shows_counts_config_changes_and_pause(app: VinovaApp, client: FakeClient) -> None:
    reach_tracking(app)
    agent = app.agent
    assert agent is not None
    for _ in range(7):
        agent.tracker.on_key_press()
    agent.tracker.on_click()
    pump_until(app.root, lambda: app.main_view.keys_today.get() == "7", message="7 keys")
    assert app.main_view.clicks_today.get() == "1"
    assert "UTC" in app.main_view.clock.get()
    assert app.main_view.config_values["Screenshots every"].get() == "5 min"

    client.config = client.config | {"screenshot_interval": 60, "blur_screenshots": True, "version": 2}
    agent.poll_config()
    pump_until(app.root, lambda: app.main_view.config_values["Screenshots every"].get() == "1 min",
               message="the config panel")
    assert app.main_view.config_values["Blur"].get() == "on"
    assert app.main_view.config_changed.get() != "not yet"
    pump_until(app.root, lambda: any("New settings" in line for line in app.log_pane.lines_text()),
               message="the config log line")

    app.main_view.pause_button.invoke()
    pump_until(app.root, lambda: app.root.title() == "Vinova — Paused", message="Paused")
    assert agent.paused and app.main_view.pause_button.cget("text") == "Resume"
    app.main_view.pause_button.invoke()
    pump_until(app.root, lambda: app.root.title() == "Vinova — Tracking", message="Tracking again")
    pump_until(app.root, lambda: any("Resumed: tracking" in line for line in app.log_pane.lines_text()),
               message="the resume log line")
    assert any("Paused: nothing is recorded" in line for line in app.log_pane.lines_text())


@pytest.mark.integration
def test_sign_out_stops_the_agent_revokes_the_token_and_returns_to_sign_in(
    app: VinovaApp, client: FakeClient, settings: AgentSettings
) -> None:
    reach_tracking(app)
    agent = app.agent
    assert agent is not None
    app.main_view.sign_out_button.invoke()
    pump_until(app.root, lambda: app.current_view is app.sign_in_view, message="the sign-in dialog")
    assert client.logged_out and app.agent is None
    assert load_session(settings.agent_dir, SERVER_URL) is None
    assert agent.wait(0), "the agent was stopped"
    assert app.sign_in_view.message.get() == "You are signed out."


@pytest.mark.integration
def test_session_ended_by_the_server_asks_to_sign_in_and_keeps_the_same_agent(app: VinovaApp) -> None:
    reach_tracking(app)
    agent = app.agent
    assert agent is not None
    agent._handle_session_expired()  # what the scheduler thread does on a 401
    pump_until(app.root, lambda: app.current_view is app.sign_in_view, message="sign-in again")
    assert "ended this session" in app.sign_in_view.message.get()
    sign_in_through_dialogs(app)
    pump_until(app.root, lambda: app.current_view is app.code_view, message="the code dialog")
    enter_code(app, GOOD_CODE)
    pump_until(app.root, lambda: app.root.title() == "Vinova — Tracking", message="Tracking")
    assert app.agent is agent and not agent.session_expired


@pytest.mark.integration
def test_quitting_stops_everything_within_two_seconds(app: VinovaApp) -> None:
    before = {thread.ident for thread in threading.enumerate()}
    reach_tracking(app)
    agent = app.agent
    assert agent is not None
    pump_until(app.root, lambda: app._starter is not None and not app._starter.is_alive(), message="started")
    started = time.monotonic()
    app.close()  # Ctrl+Q, SIGTERM and the tray's confirmed Quit (the close button only hides: test_tray)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0
    assert app.closed and agent.wait(0)
    with pytest.raises(tk.TclError):
        app.root.winfo_exists()
    wait_until(lambda: not [t for t in threading.enumerate() if t.ident not in before and t.is_alive()],
               timeout=3, message="every thread to end")
    assert app.log_handler not in logging.getLogger().handlers


# --------------------------------------------------------------------------- engine events and scaling
def _capture(tmp_path: Path, jpeg: bytes) -> CaptureRecord:
    return CaptureRecord(
        capture_id=7, key="ann/2026/11/25/180000Z-abc.jpg", path=tmp_path / "uploaded-and-deleted.jpg",
        taken_at=datetime.now(UTC), timezone="UTC", blurred=True, width=1920, height=1080,
        size_bytes=len(jpeg), sha256="0" * 64,
    )


def _jpeg(size: tuple[int, int] = (1920, 1080)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "#3366cc").save(buffer, "JPEG")
    return buffer.getvalue()


def shown_image_size(app: VinovaApp) -> tuple[int, int]:
    """The size of the image the last-capture card shows now (the placeholder fills the 200x112 pt box)."""
    image = app.main_view.thumbnail.cget("image")
    name = str(image[0] if isinstance(image, tuple) else image)  # Tk hands back a 1-tuple
    return int(app.root.tk.call("image", "width", name)), int(app.root.tk.call("image", "height", name))


@pytest.mark.integration
def test_the_thumbnail_is_made_from_the_captured_jpeg_not_the_spooled_file(
    app: VinovaApp, tmp_path: Path
) -> None:
    reach_tracking(app)
    agent = app.agent
    assert agent is not None
    box = app.look.thumbnail_size_px
    assert shown_image_size(app) == box and app.main_view.capture_caption.get() == "No capture yet"
    agent.events.publish(Captured(_capture(tmp_path, _jpeg()), _jpeg()))  # the file is already gone
    pump_until(app.root, lambda: "1920x1080, blurred" in app.main_view.capture_caption.get(),
               message="the thumbnail's caption")
    width, height = shown_image_size(app)
    assert (width, height) != box and width <= box[0] and height <= box[1], "the capture fits the box"
    assert abs(width / height - 1920 / 1080) < 0.02, "and keeps its shape"


@pytest.mark.integration
def test_a_capture_that_cannot_be_decoded_is_logged_and_keeps_the_placeholder(
    app: VinovaApp, tmp_path: Path
) -> None:
    reach_tracking(app)
    agent = app.agent
    assert agent is not None
    agent.events.publish(Captured(_capture(tmp_path, b"not a jpeg"), b"not a jpeg"))
    pump_until(app.root, lambda: any("No thumbnail for the last capture" in line
                                     for line in app.log_pane.lines_text()), message="the warning")
    assert shown_image_size(app) == app.look.thumbnail_size_px


@pytest.mark.integration
def test_after_sign_out_the_window_no_longer_hears_the_old_engine(app: VinovaApp, tmp_path: Path) -> None:
    reach_tracking(app)
    agent = app.agent
    assert agent is not None
    app.main_view.sign_out_button.invoke()
    pump_until(app.root, lambda: app.current_view is app.sign_in_view, message="the sign-in dialog")
    pump_until(app.root, lambda: app.events.empty(), message="the queue to drain")
    agent.events.publish(Captured(_capture(tmp_path, _jpeg()), _jpeg()))
    assert app.events.empty(), "no handler of the window is subscribed any more"



@pytest.mark.integration
def test_a_failing_window_update_does_not_stop_the_event_drain(app: VinovaApp) -> None:
    app.start()
    seen: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    app.post(broken)
    app.post(lambda: seen.append("after"))
    pump_until(app.root, lambda: seen == ["after"], message="the event after the failing one")
    pump_until(app.root, lambda: any("A window update failed" in line for line in app.log_pane.lines_text()),
               message="the failure in the log pane")



# --------------------------------------------------------------------------- issue 10: set aside, retry
class RetryableUploads:
    """Stands in for the upload worker: counts Retry presses."""

    def __init__(self) -> None:
        self.retries = 0

    def start(self) -> None:
        pass

    def stop(self, timeout: float = 2.0) -> None:
        pass

    def resume(self) -> None:
        pass

    def status(self) -> Any:
        from agent.worker import UploadStatus

        return UploadStatus(waiting=0, kept_aside=2 - self.retries * 2, kept_aside_reasons={},
                            uploaded_total=0, last_upload_at=None, offline=False, next_retry_at=None)

    def retry_kept_aside(self) -> int:
        self.retries += 1
        return 2


@pytest.mark.integration
def test_the_uploads_card_shows_minutes_set_aside_and_retries_kept_aside_captures(app: VinovaApp) -> None:
    from agent.outbox import SetAside

    reach_tracking(app)
    agent = app.agent
    assert agent is not None
    payload = {"minute_start": "2026-10-01T08:00:00+00:00", "active_seconds": 0, "keys": 0, "clicks": 0,
               "scrolls": 0, "mouse_px": 0, "state": "idle", "timezone": "UTC", "utc_offset_minutes": 0}
    agent.outbox.set_aside("ann", [SetAside(payload, "samples[0].minute_start",
                                            "minute_start is more than 30 days old")])
    pump_until(app.root, lambda: app.main_view.set_aside_note.get()
               == "1 minute set aside: minute_start is more than 30 days old", message="the set-aside line")

    uploads = RetryableUploads()
    agent.uploads = uploads
    app.main_view.retry_button.invoke()
    pump_until(app.root, lambda: uploads.retries == 1 and app.main_view.kept_aside.get() == "0",
               message="the retry")


# --------------------------------------------------------------------------- a Wayland desktop (issue 15)
class RefusingPortal:
    """A grabber that asks the person once (asks_permission) and is refused."""

    asks_permission = True

    def __call__(self) -> list[Any]:
        from agent.seams import ScreenshotsBlocked

        raise ScreenshotsBlocked("the person dismissed the screenshot dialog")


@pytest.mark.integration
def test_a_wayland_window_shows_dashes_the_counting_mode_and_blocked_screenshots(
    root: tk.Tk, settings: AgentSettings, client: FakeClient, info_logging: None
) -> None:
    from window_support import build_wayland_test_agent

    from agent.adapters.wayland_choice import MODE_UNCOUNTED
    from agent.desktop_notes import PERMISSION_AHEAD, DesktopNotes, GuardedGrabber
    from contract.errors import CaptureFailed

    grabber = GuardedGrabber(RefusingPortal())
    notes = DesktopNotes(MODE_UNCOUNTED, grabber)
    application = VinovaApp(
        root, settings, cast(ServerClient, client),
        lambda settings, client, username, expired: build_wayland_test_agent(
            settings, client, username, expired, notes
        ),
        look=setup_look(root, 1.0), client_factory=lambda url: cast(ServerClient, client),
    )
    try:
        reach_tracking(application)
        agent = application.agent
        assert agent is not None
        agent.tracker.on_uncounted_input()
        view = application.main_view
        pump_until(root, lambda: view.counting_note.get() == MODE_UNCOUNTED, message="the counting mode")
        assert view.keys_today.get() == "—" and view.clicks_today.get() == "—"
        assert view.screenshots_note.get() == PERMISSION_AHEAD
        with pytest.raises(CaptureFailed):
            grabber()
        pump_until(root, lambda: view.screenshots_note.get() == "Screenshots blocked by the desktop",
                   message="the blocked state")
        pump_until(root, lambda: view.status_text.get() == "Tracking (screenshots blocked by the desktop)",
                   message="the status badge")
    finally:
        if not application.closed:
            application.close()
