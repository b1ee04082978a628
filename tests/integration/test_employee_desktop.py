"""The employee's side of the desktop window under Xvfb against a real server (issue 12).

One window for the module, in this process (so its widgets can be read), built by ``main.build_agent``
as the app builds it: real captures, the real input listener, a live SQLite server with mail to
aiosmtpd. Input comes from xdotool only. Checked: the capture notice (appears in the corner, takes no
focus, goes after about 3 s, its Delete deletes the screenshot on the server), the held-back list
(a capture deleted there never reaches the store, the server hears only of the fact), and the
question after idle (xdotool idle, then input; "Count it as work" resends the minutes ``idle_kept``).

Set VINOVA_README_PICTURES=<folder> to also save screenshot-notice.png and screenshot-idle-prompt.png
(the README's pictures).
"""

from __future__ import annotations

import os
import subprocess
import time
import tkinter as tk
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import SmtpCapture, running_smtp
from server_support import add_user, bearer, latest_code, make_app, sign_in, smtp_settings
from sqlalchemy import select
from support import live_server, wait_until

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
NOTICE_SECONDS = 3.0


@dataclass
class Desktop:
    """The window, its server and a way to drive both."""

    app: Any  # agent.window.controller.VinovaApp
    root: tk.Tk
    server: Any  # the Flask app
    url: str
    admin_token: str
    display: str
    data_dir: Path  # the server's: its local object store is in here

    def pump_until(self, predicate: Callable[[], Any], timeout: float = 20.0, message: str = "") -> Any:
        def step() -> Any:
            self.root.update()
            return predicate()

        return wait_until(step, timeout, interval=0.02, message=message)

    def xdotool(self, *arguments: str) -> str:
        result = subprocess.run(["xdotool", *arguments], capture_output=True, text=True, check=True,
                                env={**os.environ, "DISPLAY": self.display}, timeout=20)
        return result.stdout.strip()

    def click(self, widget: tk.Misc) -> None:
        """A real click in the middle of ``widget`` (the X server delivers it; Tk is pumped meanwhile)."""
        self.root.update()
        x = widget.winfo_rootx() + widget.winfo_width() // 2
        y = widget.winfo_rooty() + widget.winfo_height() // 2
        self.xdotool("mousemove", "--sync", str(x), str(y), "click", "1")

    def configure(self, **values: Any) -> None:
        """Ann's settings on the server, then wait until the agent polled them."""
        response = requests.put(f"{self.url}/api/users/ann/config", json=values,
                                headers=bearer(self.admin_token), timeout=10)
        assert response.status_code == 200, response.text
        agent = self.app.agent
        self.pump_until(
            lambda: all(getattr(agent.poller.current, name) == value for name, value in values.items()),
            message=f"the agent to apply {values}")

    def picture(self, window: tk.Misc, name: str) -> None:
        """Save what the X server shows of ``window`` as ``<VINOVA_README_PICTURES>/<name>`` (when set)."""
        folder = os.environ.get("VINOVA_README_PICTURES")
        if not folder:
            return
        from PIL import ImageGrab

        self.root.update()
        x, y = window.winfo_rootx(), window.winfo_rooty()
        box = (x, y, x + window.winfo_width(), y + window.winfo_height())
        ImageGrab.grab(bbox=box, xdisplay=self.display).save(Path(folder) / name)

    def database(self) -> Any:
        from server.context import services_of

        return services_of(self.server).database


@pytest.fixture(scope="module")
def desktop(xvfb: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desktop]:
    from agent.client import ServerClient
    from agent.settings import AgentSettings
    from agent.window.controller import VinovaApp
    from agent.window.look import setup_look
    from main import build_agent

    tmp_path = tmp_path_factory.mktemp("employee-desktop")
    smtp: SmtpCapture
    with running_smtp() as smtp:
        server = make_app(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "server-data",
                          **smtp_settings(smtp))
        add_user(server, "ann", "ann@example.com", PASSWORD)
        add_user(server, "boss", "boss@example.com", PASSWORD, admin=True)
        with live_server(server) as url:
            admin_token = sign_in(url, "boss", PASSWORD, lambda: latest_code(smtp, "boss@example.com"))
            response = requests.put(f"{url}/api/config", headers=bearer(admin_token), timeout=10, json={
                "config_poll_interval": 5, "screenshot_interval": 10, "timezone": "UTC",
                "employee_delete_window_minutes": 0, "upload_delay_seconds": 0})
            assert response.status_code == 200, response.text
            settings = AgentSettings(server_url=url, agent_dir=tmp_path / "agent")
            root = tk.Tk()
            app = VinovaApp(root, settings, ServerClient(url), build_agent, look=setup_look(root, 1.0))
            desktop = Desktop(app, root, server, url, admin_token, xvfb.name, tmp_path / "server-data")
            try:
                app.start()
                app.sign_in_view.username.set("ann")
                app.sign_in_view.password.set(PASSWORD)
                app.sign_in_view.button.invoke()
                desktop.pump_until(lambda: app.current_view is app.code_view, message="the code dialog")
                smtp.wait_for_message("ann@example.com")
                app.code_view.code.set(latest_code(smtp, "ann@example.com"))
                app.code_view.verify_button.invoke()
                desktop.pump_until(lambda: root.title() == "Vinova — Tracking", message="Tracking")
                desktop.pump_until(lambda: app._starter is not None and not app._starter.is_alive(),
                                   message="the engine")
                yield desktop
            finally:
                if not app.closed:
                    app.close()


def focused_window(desktop: Desktop) -> str:
    return desktop.xdotool("getwindowfocus")


def test_the_policy_is_said_in_plain_words(desktop: Desktop) -> None:
    desktop.configure(employee_delete_window_minutes=10, blur_screenshots=True)
    desktop.pump_until(lambda: desktop.app.employee_side.policy.get() == (
        "Screenshots every 10 s, blurred; you can delete a screenshot for 10 min after it is taken."),
        message="the policy line")


def test_the_notice_shows_in_the_corner_takes_no_focus_and_goes_after_three_seconds(desktop: Desktop) -> None:
    desktop.configure(notify_on_capture=True, employee_delete_window_minutes=0, upload_delay_seconds=0)
    notice = desktop.app.employee_side.notice
    desktop.xdotool("mousemove", "--sync", "200", "200")  # away from the corner: hovering holds a notice
    desktop.pump_until(lambda: notice.window is None, message="no notice on screen")
    desktop.xdotool("windowfocus", "--sync", str(int(desktop.root.wm_frame(), 16)))
    before = focused_window(desktop)

    window = desktop.pump_until(lambda: notice.window, timeout=25, message="a capture notice")
    appeared = time.monotonic()
    desktop.pump_until(lambda: window.winfo_ismapped(), message="the notice mapped")
    assert notice.capture_ids and notice.delete_button is None  # no delete window: nothing to delete
    assert notice.caption.startswith("Screenshot taken at ")
    notice_windows = desktop.xdotool("search", "--name", "screenshot taken$").split()
    assert notice_windows, "the X server knows the notice by its name"
    assert focused_window(desktop) == before and before not in notice_windows
    tk_focus = desktop.root.focus_get()
    assert tk_focus is None or tk_focus.winfo_toplevel() is not window
    screen_width, screen_height = window.winfo_screenwidth(), window.winfo_screenheight()
    assert window.winfo_rootx() > screen_width // 2 and window.winfo_rooty() > screen_height // 2
    assert window.winfo_rootx() + window.winfo_width() <= screen_width
    assert window.winfo_rooty() + window.winfo_height() <= screen_height

    desktop.pump_until(lambda: notice.window is not window, timeout=10, message="the notice to go")
    shown_seconds = time.monotonic() - appeared
    assert NOTICE_SECONDS - 0.5 <= shown_seconds <= NOTICE_SECONDS + 2.0
    assert focused_window(desktop) == before


def test_delete_on_the_notice_deletes_the_uploaded_screenshot_on_the_server(desktop: Desktop) -> None:
    from server.db.models import Screenshot, ScreenshotDeletion

    desktop.configure(employee_delete_window_minutes=10, upload_delay_seconds=0)
    notice = desktop.app.employee_side.notice
    desktop.pump_until(lambda: notice.delete_button is not None, timeout=25, message="a notice with Delete")
    capture_ids = notice.capture_ids
    store = desktop.app.agent.uploads.store
    assert notice.window is not None
    desktop.picture(notice.window, "screenshot-notice.png")
    desktop.click(notice.delete_button)

    def deleted_on_server() -> bool:
        records = [store.get(capture_id) for capture_id in capture_ids]
        keys = [record.key for record in records if record is not None]
        with desktop.database().session() as session:
            left = session.scalars(select(Screenshot).where(Screenshot.key.in_(keys))).all()
            owner = session.scalars(
                select(ScreenshotDeletion).where(ScreenshotDeletion.kind == "owner")).all()
        return bool(keys) and not left and len(owner) >= len(keys)

    desktop.pump_until(deleted_on_server, timeout=20, message="the screenshot deleted on the server")
    assert all(store.get(capture_id).server_id is not None for capture_id in capture_ids)
    assert notice.window is None


def test_a_capture_deleted_in_the_held_back_list_never_reaches_the_store(desktop: Desktop) -> None:
    from server.db.models import Screenshot, ScreenshotDeletion

    desktop.configure(upload_delay_seconds=3600, notify_on_capture=False)
    held = desktop.app.employee_side.held_back
    row = desktop.pump_until(lambda: next(iter(held.rows.values()), None), timeout=25,
                             message="a capture in the held-back list")
    assert held.winfo_ismapped() and "wait on this computer" in held.summary.get()
    assert row.countdown.get().startswith("uploads in ")
    store = desktop.app.agent.uploads.store
    record = store.get(row.capture_id)
    assert record is not None and record.path.exists()
    desktop.click(row.delete_button)

    desktop.pump_until(lambda: store.get(record.capture_id).status == "withheld_reported", timeout=20,
                       message="the withheld report delivered")
    assert not record.path.exists() and not record.path.with_suffix(".json").exists()
    assert row.capture_id not in held.rows
    with desktop.database().session() as session:
        assert session.scalars(select(Screenshot).where(Screenshot.key == record.key)).first() is None
        reports = session.scalars(
            select(ScreenshotDeletion).where(ScreenshotDeletion.kind == "withheld")).all()
    assert [(entry.taken_at, entry.key, entry.username) for entry in reports] == [
        (record.taken_at, None, "ann")]
    stored = {path.name for path in desktop.data_dir.rglob("*.jpg")}
    uploaded = {record.key.rsplit("/", 1)[-1] for record in store.with_status("uploaded")}
    assert stored & uploaded, "the uploaded captures of the earlier tests are where this test looks"
    assert record.key.rsplit("/", 1)[-1] not in stored


def test_after_idle_the_window_asks_once_and_count_it_resends_the_minutes_as_kept(desktop: Desktop) -> None:
    desktop.configure(idle_threshold=30, upload_delay_seconds=0, idle_prompt=True, notify_on_capture=False)
    prompt = desktop.app.employee_side.prompt
    # Line the absence up so that one whole minute passes without input: the last input at second 58.
    desktop.pump_until(lambda: datetime.now(UTC).second == 57, timeout=65, message="second 57")
    desktop.xdotool("mousemove", "--sync", "300", "300")
    last_input = datetime.now(UTC)
    quiet_minute = last_input.replace(second=0, microsecond=0) + timedelta(minutes=1)
    desktop.pump_until(lambda: datetime.now(UTC) >= quiet_minute + timedelta(seconds=61), timeout=70,
                       message="a whole minute without input")
    assert prompt.window is None  # nobody is asked while away
    desktop.xdotool("mousemove", "--sync", "320", "320")
    window = desktop.pump_until(lambda: prompt.window, timeout=15, message="the question after idle")
    assert prompt.question.startswith(("You were away 1 min", "You were away 2 min"))
    assert f"({last_input:%H:%M}\N{EN DASH}" in prompt.question
    assert desktop.xdotool("search", "--name", "You were away$")
    assert prompt.keep_button is not None
    desktop.pump_until(lambda: window.winfo_ismapped(), message="the question on screen")
    desktop.picture(window, "screenshot-idle-prompt.png")
    desktop.click(prompt.keep_button)

    def kept_on_server() -> bool:
        response = requests.get(
            f"{desktop.url}/api/activity", headers=bearer(desktop.admin_token), timeout=10,
            params={"username": "ann", "from": quiet_minute.isoformat(),
                    "to": (quiet_minute + timedelta(minutes=1)).isoformat(), "view": "devices"})
        assert response.status_code == 200, response.text
        return [sample["state"] for sample in response.json()["samples"]] == ["idle_kept"]

    desktop.pump_until(kept_on_server, timeout=20, message="the quiet minute resent as idle_kept")
    assert prompt.window is None
