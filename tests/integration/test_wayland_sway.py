"""The Wayland adapters against a real headless sway: idle from org_kde_kwin_idle, captures through grim."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat
from support import wait_until
from wayland_support import OUTPUT_SIZE, Sway, missing_tools, running_sway

from agent.adapters.session import WLROOTS, detect_session
from agent.adapters.wayland import KDE_IDLE, WaylandIdleWatch, connect, list_outputs
from agent.adapters.wayland_screen import GrimMonitorGrabber

pytestmark = pytest.mark.skipif(
    bool(missing_tools()), reason=f"needs {', '.join(missing_tools())} (scripts/install-apt.sh installs them)"
)


def pattern(size: tuple[int, int]) -> Image.Image:
    """Stripes and blocks of colour: a capture of it is far from blank and easy to compare."""
    image = Image.new("RGB", size, (250, 250, 245))
    draw = ImageDraw.Draw(image)
    for index in range(0, size[0], 80):
        draw.rectangle((index, 0, index + 39, size[1]), fill=(30 + index % 200, 90, 160))
    draw.rectangle((100, 100, 500, 300), fill=(200, 40, 40))
    return image


@pytest.fixture(scope="module")
def background(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wayland") / "pattern.png"
    pattern(OUTPUT_SIZE).save(path)
    return path


@pytest.fixture(scope="module")
def sway(background: Path) -> Iterator[Sway]:
    with running_sway(background) as running:
        yield running


def test_the_session_is_detected_as_wayland_under_wlroots(sway: Sway) -> None:
    session = detect_session(sway.environ)
    assert session.is_wayland and session.desktop == WLROOTS


def test_the_idle_clock_follows_typed_input_and_turns_idle_after_a_quiet_second(sway: Sway) -> None:
    client = connect(sway.environ)
    inputs: list[int] = []
    watch = WaylandIdleWatch(client, on_input=lambda: inputs.append(1))
    assert watch.protocol == KDE_IDLE  # what sway 1.7 offers
    watch.start()
    try:
        wait_until(lambda: (watch.seconds_since_last_input() or 0) >= 1.0, 10, message="idle after 1 s")
        assert sway.run("wtype", "hello").returncode == 0
        wait_until(lambda: watch.seconds_since_last_input() == 0.0, 5, message="input seen")
        assert inputs, "the resumed event reaches on_input"
        wait_until(lambda: (watch.seconds_since_last_input() or 0) >= 1.5, 10, message="idle again")
    finally:
        watch.stop()
    assert watch.seconds_since_last_input() is None  # disconnected: it cannot tell


def test_one_capture_per_output_of_the_output_size_showing_the_screen(sway: Sway, background: Path) -> None:
    client = connect(sway.environ)
    try:
        outputs = list_outputs(client)
    finally:
        client.close()
    described = [(output.name, output.width, output.height) for output in outputs]
    assert described == [("HEADLESS-1", *OUTPUT_SIZE)]
    images = GrimMonitorGrabber(sway.environ)()
    assert [item.monitor for item in images] == [0]
    captured = images[0].image
    assert captured.size == OUTPUT_SIZE and captured.mode == "RGB"
    difference = ImageStat.Stat(ImageChops.difference(captured, Image.open(background).convert("RGB")))
    assert max(difference.mean) < 8, "the capture shows the drawn screen, not black or noise"


def test_an_output_added_while_running_is_captured_at_the_next_capture(background: Path) -> None:
    with running_sway(background) as own_sway:  # its own: the module's sway keeps one output
        grabber = GrimMonitorGrabber(own_sway.environ)
        assert len(grabber()) == 1
        assert own_sway.run("swaymsg", "create_output").returncode == 0
        wait_until(lambda: len(grabber()) == 2, 10, message="the new output captured")
        assert [item.monitor for item in grabber()] == [0, 1]
