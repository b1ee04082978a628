"""Every monitor its own image, for real: Xvfb split into two RandR monitors with xrandr, a headless agent,
a live server storing what arrives (issue 13, "Every monitor").

Trap (measured): ``xrandr --setmonitor`` must give the first monitor the output (``screen``) and the
second ``none``; the other way round the output's own monitor stays and covers the whole screen.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import XDisplay, running_xvfb
from PIL import Image
from server_support import add_user, bearer, latest_code, make_app, sign_in
from support import live_server, wait_until

from agent.adapters.screen import X11MonitorGrabber, choose_grabber
from agent.session import SavedSession, save_session

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
LEFT_COLOUR = (192, 32, 32)
RIGHT_COLOUR = (32, 64, 192)

pytestmark = pytest.mark.integration

# Two undecorated Tk windows (there is no window manager), one on each half, each its own colour and word.
PAINTER = """
import sys, tkinter
root = tkinter.Tk(screenName=sys.argv[1])
root.withdraw()
for x, colour, word in ((0, "#c02020", "LEFT"), (960, "#2040c0", "RIGHT")):
    window = tkinter.Toplevel(root, background=colour)
    window.geometry(f"960x1080+{x}+0")
    label = tkinter.Label(window, text=word, background=colour, foreground="white", font=("Helvetica", 48))
    label.place(x=80, y=80)
root.mainloop()
"""


def xrandr(display: XDisplay, *args: str) -> None:
    subprocess.run(["xrandr", "--display", display.name, *args], check=True, capture_output=True, timeout=20)


def split_in_two(display: XDisplay) -> None:
    xrandr(display, "--setmonitor", "L", "960/254x1080/286+0+0", "screen")
    xrandr(display, "--setmonitor", "R", "960/254x1080/286+960+0", "none")


def close_to(pixel: Any, colour: tuple[int, int, int], tolerance: int = 24) -> bool:
    return all(abs(int(a) - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


@pytest.fixture(scope="module")
def painted_display() -> Iterator[XDisplay]:
    """An Xvfb of its own (its monitors change), with the two coloured windows on it."""
    if shutil.which("xrandr") is None:
        pytest.skip("xrandr is not installed (make test installs x11-xserver-utils with apt)")
    with running_xvfb(1920, 1080) as display:
        painter = subprocess.Popen([sys.executable, "-c", PAINTER, display.name], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            grab = choose_grabber(display.name)
            wait_until(lambda: close_to(grab().getpixel((480, 900)), LEFT_COLOUR)
                       and close_to(grab().getpixel((1440, 900)), RIGHT_COLOUR), 20, interval=0.2,
                       message="the two windows painted")
            yield display
        finally:
            painter.kill()
            painter.wait(10)


def test_a_monitor_added_or_removed_shows_at_the_next_grab(painted_display: XDisplay) -> None:
    grab = X11MonitorGrabber(painted_display.name)
    assert [(shot.monitor, shot.image.size) for shot in grab()] == [(0, (1920, 1080))]
    split_in_two(painted_display)
    try:
        left, right = grab()
        assert [(left.monitor, left.image.size), (right.monitor, right.image.size)] == [
            (0, (960, 1080)), (1, (960, 1080))
        ]
        assert close_to(left.image.getpixel((480, 900)), LEFT_COLOUR)
        assert close_to(right.image.getpixel((480, 900)), RIGHT_COLOUR)
        xrandr(painted_display, "--delmonitor", "R")
        assert [(shot.monitor, shot.image.size) for shot in grab()] == [(0, (960, 1080))]
    finally:
        for name in ("R", "L"):
            subprocess.run(["xrandr", "--display", painted_display.name, "--delmonitor", name],
                           capture_output=True, check=False, timeout=20)
    assert [shot.image.size for shot in grab()] == [(1920, 1080)]  # the output's own monitor is back


def test_the_banded_grab_is_pillows_grab_pixel_for_pixel_and_a_rare_layout_falls_back(
    painted_display: XDisplay, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import ImageChops

    from agent.adapters import screen, x11_grab

    whole = choose_grabber(painted_display.name)()  # Pillow's grab of the root (XCB)
    # Bands of 7 rows: 1,080 is no multiple of 7, so the last band is a short one.
    monkeypatch.setattr(x11_grab, "BAND_BYTES", 4 * 1920 * 7 + 5)
    split_in_two(painted_display)
    try:
        left, right = X11MonitorGrabber(painted_display.name)()
        assert ImageChops.difference(left.image, whole.crop((0, 0, 960, 1080))).getbbox() is None
        assert ImageChops.difference(right.image, whole.crop((960, 0, 1920, 1080))).getbbox() is None
        assert left.image.mode == right.image.mode == "RGB"
        monkeypatch.setattr(screen, "band_format", lambda connection: None)  # e.g. a 16-bit server
        fallback = X11MonitorGrabber(painted_display.name)()
        assert [(shot.monitor, shot.image.size) for shot in fallback] == [(0, (960, 1080)), (1, (960, 1080))]
        assert ImageChops.difference(fallback[1].image, right.image).getbbox() is None
    finally:
        for name in ("R", "L"):
            subprocess.run(["xrandr", "--display", painted_display.name, "--delmonitor", name],
                           capture_output=True, check=False, timeout=20)


class Store:
    """The live server's admin view of ann's screenshots."""

    def __init__(self, url: str, admin_token: str, data_dir: Path) -> None:
        self.url, self.admin_token, self.data_dir = url, admin_token, data_dir

    def screenshots(self) -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/api/screenshots", params={"username": "ann"},
                                headers=bearer(self.admin_token), timeout=10)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["screenshots"]
        return items

    def moments(self) -> dict[datetime, list[dict[str, Any]]]:
        """Screenshots grouped by the moment they were taken, each group in monitor order."""
        groups: dict[datetime, list[dict[str, Any]]] = {}
        for item in self.screenshots():
            groups.setdefault(datetime.fromisoformat(item["taken_at"]), []).append(item)
        return {moment: sorted(items, key=lambda item: item["monitor"]) for moment, items in groups.items()}

    def image(self, item: dict[str, Any]) -> Image.Image:
        stored = self.data_dir / "screenshots" / item["key"]
        with Image.open(stored) as image:
            return image.convert("RGB")


def test_the_agent_sends_one_image_per_monitor_and_follows_a_monitor_removed(
    painted_display: XDisplay, tmp_path: Path
) -> None:
    data_dir = tmp_path / "server"
    app = make_app(f"sqlite:///{tmp_path / 'server.db'}", data_dir)
    add_user(app, "ann", "ann@example.com", PASSWORD)
    add_user(app, "boss", "boss@example.com", PASSWORD, admin=True)
    split_in_two(painted_display)
    with live_server(app) as url:
        admin = sign_in(url, "boss", PASSWORD, lambda: latest_code(data_dir, "boss@example.com"))
        user = sign_in(url, "ann", PASSWORD, lambda: latest_code(data_dir, "ann@example.com"))
        store = Store(url, admin, data_dir)
        response = requests.put(f"{url}/api/users/ann/config", headers=bearer(admin), timeout=10,
                                json={"screenshot_interval": 10, "blur_screenshots": False})
        assert response.status_code == 200, response.text
        agent_dir = tmp_path / "agent"
        save_session(agent_dir, SavedSession(url, "ann", user, "2099-01-01T00:00:00+00:00"))
        env = {**painted_display.env(), "HOME": str(tmp_path / "home"), "VINOVA_AGENT_DIR": str(agent_dir),
               "VINOVA_SERVER_URL": url, "PYTHONUNBUFFERED": "1"}
        output = tmp_path / "agent.out"
        with output.open("wb") as handle:
            process = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "main.py"), "--headless"],
                                       cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                                       stdout=handle, stderr=subprocess.STDOUT)
            try:
                moments = wait_until(
                    lambda: [group for group in store.moments().values() if len(group) == 2], 45,
                    interval=0.5, message="a moment captured on both monitors",
                )
                left, right = moments[0]
                assert (left["monitor"], right["monitor"]) == (0, 1)
                assert left["taken_at"] == right["taken_at"] and left["key"] != right["key"]
                assert [(item["width"], item["height"]) for item in (left, right)] == [(960, 1080)] * 2
                left_image, right_image = store.image(left), store.image(right)
                assert left_image.size == right_image.size == (960, 1080)
                assert close_to(left_image.getpixel((480, 900)), LEFT_COLOUR)
                assert close_to(right_image.getpixel((480, 900)), RIGHT_COLOUR)

                xrandr(painted_display, "--delmonitor", "R")
                removed_at = datetime.now(UTC)  # a capture taken after this read the layout after it
                later = wait_until(
                    lambda: [group for moment, group in store.moments().items() if moment > removed_at], 45,
                    interval=0.5, message="a capture after the right monitor was removed",
                )
                shapes = [[(item["monitor"], item["width"]) for item in group] for group in later]
                assert all(shape == [(0, 960)] for shape in shapes), shapes
            finally:
                process.terminate()
                process.wait(10)
                for name in ("R", "L"):
                    subprocess.run(["xrandr", "--display", painted_display.name, "--delmonitor", name],
                                   capture_output=True, check=False, timeout=20)
    assert process.returncode == 0, output.read_text()
    assert "2 monitors: 960x1080, 960x1080" in output.read_text()
