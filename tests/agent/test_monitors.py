"""Every monitor its own image: the layout readers (X11, Windows, macOS) over fakes, the cut, spool, wire."""

from __future__ import annotations

import ctypes
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image, ImageDraw

from agent.adapters import monitors as monitors_module
from agent.adapters.monitors import (
    CGPoint,
    CGRect,
    CGSize,
    Monitor,
    MonitorImage,
    WinRect,
    arrange,
    cut_monitors,
    mac_displays,
    on_virtual_desktop,
    windows_monitors,
    x11_monitors,
)
from agent.adapters.screen import MacMonitorGrabber, WindowsMonitorGrabber, monitor_images
from agent.spool import CaptureStore
from agent.spool_files import rebuild_capture, sidecar_path
from contract.config_schema import AgentConfig
from contract.errors import RequestRefused
from contract.screenshots import object_key, validate_registration
from screenshot_manager import ScreenshotManager

TAKEN_AT = datetime(2026, 12, 2, 9, 30, 15, tzinfo=UTC)


def two_halves(size: tuple[int, int] = (400, 200)) -> Image.Image:
    """A desktop whose left half is red with a white box and right half blue."""
    image = Image.new("RGB", size, (0, 0, 200))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, size[0] // 2 - 1, size[1]), fill=(200, 0, 0))
    draw.rectangle((20, 20, 60, 60), fill=(255, 255, 255))
    return image


# --------------------------------------------------------------------------- the arrangement and the cut
def test_monitors_are_numbered_left_to_right_then_top_to_bottom() -> None:
    found = arrange([Monitor(1920, 0, 1280, 1024, "right"), Monitor(0, 0, 1920, 1080, "left"),
                     Monitor(0, 1080, 1920, 1080, "below")])
    assert [monitor.name for monitor in found] == ["left", "below", "right"]


def test_mirrored_empty_and_off_screen_monitors_are_dropped_and_edges_clipped() -> None:
    found = arrange(
        [Monitor(0, 0, 100, 100), Monitor(0, 0, 100, 100), Monitor(50, 0, 0, 100), Monitor(500, 0, 10, 10),
         Monitor(150, -20, 100, 100)],
        desktop_size=(200, 100),
    )
    assert [monitor.box for monitor in found] == [(0, 0, 100, 100), (150, 0, 200, 80)]


def test_more_than_sixteen_monitors_keep_the_first_sixteen(caplog: pytest.LogCaptureFixture) -> None:
    found = arrange([Monitor(index * 10, 0, 10, 10) for index in range(20)])
    assert len(found) == 16 and found[-1].x == 150
    assert "20 monitors" in caplog.text


def test_the_desktop_is_cut_into_one_image_per_monitor_of_its_own_size() -> None:
    desktop = two_halves()
    images = cut_monitors(desktop, [Monitor(200, 0, 200, 200), Monitor(0, 0, 200, 200)])
    assert [(shot.monitor, shot.image.size) for shot in images] == [(0, (200, 200)), (1, (200, 200))]
    assert images[0].image.getpixel((100, 150)) == (200, 0, 0)
    assert images[1].image.getpixel((100, 150)) == (0, 0, 200)


def test_one_monitor_covering_the_desktop_or_none_at_all_is_the_whole_image() -> None:
    desktop = two_halves()
    assert cut_monitors(desktop, [Monitor(0, 0, 400, 200)])[0].image is desktop
    assert cut_monitors(desktop, [])[0].image is desktop
    assert [shot.image.size for shot in cut_monitors(desktop, [Monitor(0, 0, 200, 200)])] == [(200, 200)]


def test_a_single_image_from_an_old_style_grabber_is_monitor_zero() -> None:
    image = Image.new("RGB", (8, 8))
    assert monitor_images(image) == [MonitorImage(0, image)]


# --------------------------------------------------------------------------- X11 over a fake python-xlib
class FakeX:
    """The few python-xlib calls the reader makes, answering like an X server with RandR ``version``."""

    def __init__(self, version: tuple[int, int] | None, monitors: list[tuple[int, int, int, int]],
                 crtcs: list[tuple[int, int, int, int, int]]) -> None:
        self.version = version
        self.monitor_rows = monitors
        self.crtc_rows = crtcs
        root = SimpleNamespace(
            xrandr_get_monitors=lambda is_active: SimpleNamespace(monitors=[
                SimpleNamespace(name=1, x=x, y=y, width_in_pixels=w, height_in_pixels=h)
                for x, y, w, h in self.monitor_rows
            ]),
            xrandr_get_screen_resources=lambda: SimpleNamespace(
                crtcs=list(range(len(self.crtc_rows))), config_timestamp=7
            ),
        )
        self._screen = SimpleNamespace(root=root, width_in_pixels=1920, height_in_pixels=1080)

    def screen(self) -> Any:
        return self._screen

    def has_extension(self, name: str) -> bool:
        return name == "RANDR" and self.version is not None

    def xrandr_query_version(self) -> Any:
        assert self.version is not None
        return SimpleNamespace(major_version=self.version[0], minor_version=self.version[1])

    def xrandr_get_crtc_info(self, crtc: int, timestamp: int) -> Any:
        assert timestamp == 7
        x, y, width, height, mode = self.crtc_rows[crtc]
        return SimpleNamespace(x=x, y=y, width=width, height=height, mode=mode)

    def get_atom_name(self, atom: int) -> str:
        return "DP-1"


def test_x11_reads_randr_monitors_first() -> None:
    fake = FakeX((1, 5), [(960, 0, 960, 1080), (0, 0, 960, 1080)], [(0, 0, 1920, 1080, 58)])
    assert [m.box for m in x11_monitors(fake)] == [(960, 0, 1920, 1080), (0, 0, 960, 1080)]


def test_x11_falls_back_to_active_crtcs_then_to_the_whole_screen() -> None:
    crtcs = [(0, 0, 1280, 1024, 60), (1280, 0, 1920, 1080, 61), (0, 0, 0, 0, 0)]  # the third is off
    both = [(0, 0, 1280, 1024), (1280, 0, 3200, 1080)]
    assert [m.box for m in x11_monitors(FakeX((1, 4), [], crtcs))] == both
    assert [m.box for m in x11_monitors(FakeX((1, 5), [], crtcs))] == both  # RandR 1.5 without monitors
    assert [m.box for m in x11_monitors(FakeX((1, 4), [], [(0, 0, 0, 0, 0)]))] == [(0, 0, 1920, 1080)]
    assert [m.box for m in x11_monitors(FakeX(None, [], []))] == [(0, 0, 1920, 1080)]


# --------------------------------------------------------------------------- Windows over a fake user32
class FakeUser32:
    """``EnumDisplayMonitors`` calling back with each RECT, and the DPI awareness calls, recorded."""

    def __init__(self, rects: list[tuple[int, int, int, int]], *, fails: bool = False) -> None:
        self.rects = rects
        self.fails = fails
        self.awareness: list[int | None] = []

    def SetThreadDpiAwarenessContext(self, context: ctypes.c_void_p) -> ctypes.c_void_p:
        self.awareness.append(context.value)
        return ctypes.c_void_p(17)

    def EnumDisplayMonitors(self, dc: Any, clip: Any, callback: Any, data: int) -> int:
        if self.fails:
            return 0
        for left, top, right, bottom in self.rects:
            if not callback(None, None, ctypes.pointer(WinRect(left, top, right, bottom)), data):
                break
        return 1


def test_windows_monitors_are_read_per_monitor_dpi_aware_and_the_awareness_restored() -> None:
    user32 = FakeUser32([(0, 0, 2560, 1440), (-1920, 200, 0, 1280)])
    found = windows_monitors(user32)
    assert [m.box for m in found] == [(0, 0, 2560, 1440), (-1920, 200, 0, 1280)]
    per_monitor = ctypes.c_void_p(monitors_module.DPI_AWARENESS_CONTEXT_PER_MONITOR_AWARE).value
    assert user32.awareness == [per_monitor, 17]
    assert [m.box for m in on_virtual_desktop(found)] == [(1920, 0, 4480, 1440), (0, 200, 1920, 1280)]


def test_windows_grabber_cuts_the_virtual_desktop_and_falls_back_when_sizes_disagree(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from PIL import ImageGrab

    desktop = two_halves((400, 200))
    calls: list[dict[str, Any]] = []

    def grab(**options: Any) -> Image.Image:
        calls.append(options)
        return desktop

    monkeypatch.setattr(ImageGrab, "grab", grab)
    images = WindowsMonitorGrabber(FakeUser32([(0, 0, 200, 200), (-200, 0, 0, 200)]))()
    assert calls == [{"all_screens": True}]
    assert [(shot.monitor, shot.image.getpixel((100, 150))) for shot in images] == [
        (0, (200, 0, 0)), (1, (0, 0, 200))
    ]
    scaled = WindowsMonitorGrabber(FakeUser32([(0, 0, 100, 100), (100, 0, 200, 100)]))()  # DPI-virtualised
    assert [shot.image.size for shot in scaled] == [(400, 200)]
    assert "does not match" in caplog.text
    failing = WindowsMonitorGrabber(FakeUser32([], fails=True))()
    assert [shot.image.size for shot in failing] == [(400, 200)]


# --------------------------------------------------------------------------- macOS over a fake CoreGraphics
def fake_core_graphics(bounds: dict[int, tuple[float, float, float, float]], error: int = 0) -> Any:
    def get_active_display_list(maximum: int, displays: Any, count: Any) -> int:
        for index, display in enumerate(list(bounds)[:maximum]):
            displays[index] = display
        count.contents.value = min(len(bounds), maximum)
        return error

    def display_bounds(display: int) -> CGRect:
        x, y, width, height = bounds[display]
        return CGRect(CGPoint(x, y), CGSize(width, height))

    return SimpleNamespace(CGGetActiveDisplayList=get_active_display_list, CGDisplayBounds=display_bounds)


def test_mac_displays_are_listed_with_their_bounds_in_points() -> None:
    found = mac_displays(fake_core_graphics({69733382: (0, 0, 1512, 982), 2: (1512.0, -200.0, 2560, 1440)}))
    assert [m.box for m in found] == [(0, 0, 1512, 982), (1512, -200, 4072, 1240)]
    with pytest.raises(OSError, match="CGError 1001"):
        mac_displays(fake_core_graphics({1: (0, 0, 10, 10)}, error=1001))


def test_mac_grabber_grabs_each_display_by_its_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import ImageGrab

    boxes: list[Any] = []

    def grab(bbox: Any = None) -> Image.Image:
        boxes.append(bbox)
        return Image.new("RGBA", (2 * (bbox[2] - bbox[0]), 2 * (bbox[3] - bbox[1])) if bbox else (5, 5))

    monkeypatch.setattr(ImageGrab, "grab", grab)
    images = MacMonitorGrabber(fake_core_graphics({7: (1512, 0, 1920, 1080), 1: (0, 0, 1512, 982)}))()
    assert boxes == [(0, 0, 1512, 982), (1512, 0, 3432, 1080)]
    assert [(shot.monitor, shot.image.size, shot.image.mode) for shot in images] == [
        (0, (3024, 1964), "RGB"), (1, (3840, 2160), "RGB")
    ]
    assert [shot.image.size for shot in MacMonitorGrabber(fake_core_graphics({}, error=1000))()] == [(5, 5)]


# --------------------------------------------------------------------------- the capture job, spool, wire
@pytest.fixture
def store(tmp_path: Path) -> Iterator[CaptureStore]:
    capture_store = CaptureStore(tmp_path / "agent", key_folder="shots/alice/")
    yield capture_store
    capture_store.close()


def manager_for(store: CaptureStore, images: list[MonitorImage], enqueued: list[int]) -> ScreenshotManager:
    manager = ScreenshotManager(
        grab=lambda: images, store=store, enqueue=enqueued.append, username="alice", prefix="shots/",
        skip_reason=lambda: None, timezone_name=lambda: "Europe/Berlin", spool_limit_bytes=10**9,
        clock=lambda: TAKEN_AT,
    )
    manager.apply_config(AgentConfig(blur_screenshots=False))
    return manager


def test_two_monitors_showing_the_same_picture_are_two_captures_of_one_moment(store: CaptureStore) -> None:
    same = Image.new("RGB", (320, 200), (40, 90, 160))
    enqueued: list[int] = []
    first = manager_for(store, [MonitorImage(0, same), MonitorImage(1, same.copy())], enqueued).capture_now()
    assert first is not None and first.monitor == 0
    records = store.pending()
    assert [record.monitor for record in records] == [0, 1] and enqueued == [r.capture_id for r in records]
    assert {record.taken_at for record in records} == {TAKEN_AT}
    assert len({record.key for record in records}) == 2 and len({record.path for record in records}) == 2
    for record in records:  # each key is its own bytes' digest: content addressing still holds
        data = record.path.read_bytes()
        assert record.key == object_key("shots/", "alice", TAKEN_AT, hashlib.sha256(data).hexdigest())
        assert json.loads(sidecar_path(record.path).read_text())["monitor"] == record.monitor
    assert [record.registration().to_json()["monitor"] for record in records] == [0, 1]


def test_a_spool_rebuilt_from_its_files_keeps_each_capture_s_monitor(store: CaptureStore) -> None:
    images = [MonitorImage(0, two_halves()), MonitorImage(1, Image.new("RGB", (100, 80), "navy"))]
    manager_for(store, images, []).capture_now()
    second = store.pending()[1]
    rebuilt = rebuild_capture(second.path, "shots/alice/")
    assert rebuilt is not None and (rebuilt.monitor, rebuilt.width, rebuilt.height) == (1, 100, 80)
    sidecar_path(second.path).unlink()
    without_sidecar = rebuild_capture(second.path, "shots/alice/")
    assert without_sidecar is not None and without_sidecar.monitor == 0


def registration_body(**changes: Any) -> dict[str, Any]:
    digest = "ab" * 32
    return {"key": object_key("", "ann", TAKEN_AT, digest), "taken_at": TAKEN_AT.isoformat(),
            "timezone": "UTC", "blurred": True, "width": 960, "height": 1080, "size_bytes": 10,
            "sha256": digest, **changes}


def test_the_registration_takes_a_monitor_from_0_to_15_and_old_agents_mean_0() -> None:
    assert validate_registration(registration_body(), username="ann", prefix="").monitor == 0
    assert validate_registration(registration_body(monitor=15), username="ann", prefix="").monitor == 15


@pytest.mark.parametrize("monitor", [-1, 16, True, "1", 1.0, None])
def test_a_bad_monitor_is_refused_naming_the_field(monitor: Any) -> None:
    with pytest.raises(RequestRefused) as refused:
        validate_registration(registration_body(monitor=monitor), username="ann", prefix="")
    assert (refused.value.status, refused.value.field) == (400, "monitor")


def test_captures_spooled_by_an_agent_before_monitors_upgrade_as_monitor_zero(tmp_path: Path) -> None:
    agent_dir = tmp_path / "old-agent"
    agent_dir.mkdir()
    old_file = Path(__file__).resolve().parents[1] / "data" / "agent-db-v0.sqlite"  # see test_localdb
    (agent_dir / "agent.db").write_bytes(old_file.read_bytes())
    upgraded = CaptureStore(agent_dir)
    try:
        records = upgraded.pending() + upgraded.kept_aside()
        assert records and {record.monitor for record in records} == {0}
        assert {record.registration().to_json()["monitor"] for record in records} == {0}
    finally:
        upgraded.close()


def test_each_monitor_s_image_is_blurred_on_its_own(store: CaptureStore) -> None:
    sharp = Image.new("RGB", (320, 200), "white")
    ImageDraw.Draw(sharp).rectangle((0, 0, 159, 199), fill="black")  # one hard edge, in the middle
    manager = manager_for(store, [MonitorImage(0, sharp), MonitorImage(1, sharp.copy())], [])
    manager.apply_config(AgentConfig(blur_screenshots=True))
    manager.capture_now()
    records = store.pending()
    assert [(record.monitor, record.blurred) for record in records] == [(0, True), (1, True)]
    for record in records:
        with Image.open(record.path) as image:
            row = image.convert("L").crop((150, 100, 170, 101)).tobytes()
        assert len([value for value in row if 40 < value < 215]) >= 4  # the edge is a ramp now, not a step


def fake_x_server(depth: int, bits_per_pixel: int, byte_order: int) -> Any:
    formats = [SimpleNamespace(depth=1, bits_per_pixel=1, scanline_pad=32),
               SimpleNamespace(depth=depth, bits_per_pixel=bits_per_pixel, scanline_pad=32)]
    info = SimpleNamespace(pixmap_formats=formats, image_byte_order=byte_order)
    screen = SimpleNamespace(root_depth=depth)
    return SimpleNamespace(screen=lambda: screen, display=SimpleNamespace(info=info))


def test_the_banded_x11_grab_reads_only_24_bit_pixels_in_32_bits_in_either_byte_order() -> None:
    from agent.adapters.x11_grab import band_format

    assert band_format(fake_x_server(24, 32, 0)) == "BGRX"  # LSBFirst, as x86 servers give
    assert band_format(fake_x_server(24, 32, 1)) == "XRGB"  # MSBFirst
    assert band_format(fake_x_server(16, 16, 0)) is None  # Pillow's grab then
    assert band_format(fake_x_server(24, 24, 0)) is None  # packed 3-byte pixels
    assert band_format(fake_x_server(30, 32, 0)) is None  # a 10-bit deep-colour server
