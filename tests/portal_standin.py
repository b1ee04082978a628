"""A stand-in for the desktop portal's Screenshot interface, run as ``python -m portal_standin`` on a bus.

It owns ``org.freedesktop.portal.Desktop`` and, at ``/org/freedesktop/portal/desktop``, answers:

* ``org.freedesktop.DBus.Properties.Get("org.freedesktop.portal.Screenshot", "version") -> v`` (2);
* ``org.freedesktop.portal.Screenshot.Screenshot(s parent_window, a{sv} options) -> o``: the Request path
  ``/org/freedesktop/portal/desktop/request/SENDER/TOKEN`` from the caller's name and ``handle_token``,
  then the ``org.freedesktop.portal.Request.Response(u, a{sv})`` signal on it, broadcast as the portal
  does, so only a caller that subscribed hears it. With ``--answer 0`` it first writes a real PNG of
  ``--size`` into ``--folder`` (a name with a space, as "Screenshot from …") and sends its ``file://``
  URI; ``1`` and ``2`` send that response with no results; ``never`` sends nothing;
* ``org.freedesktop.portal.Request.Close()`` on a Request it made.

``--legacy-handle`` answers with a path of its own choosing (as portals before 0.9 did) and signals there;
``--signal-first`` sends the Response before the call's reply. ``--no-screenshot`` owns the name but has no
Screenshot interface. Every call is logged as one JSON line in ``--folder``/calls.jsonl.

The same pattern is drawn by :func:`pattern`, so a test can compare the image it got with what was sent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jeepney import DBusAddress, HeaderFields, Message, MessageType, new_error, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, Proxy, open_dbus_connection
from PIL import Image, ImageDraw

PORTAL_NAME = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SCREENSHOT = "org.freedesktop.portal.Screenshot"
REQUEST = "org.freedesktop.portal.Request"
PROPERTIES = "org.freedesktop.DBus.Properties"
REQUEST_PREFIX = "/org/freedesktop/portal/desktop/request"
VERSION = 2
CALL_LOG = "calls.jsonl"


def pattern(size: tuple[int, int]) -> Image.Image:
    """Bands and a block of colour: far from blank, and each corner differs."""
    image = Image.new("RGB", size, (240, 240, 230))
    draw = ImageDraw.Draw(image)
    for left in range(0, size[0], 64):
        draw.rectangle((left, 0, left + 31, size[1]), fill=(40 + left % 180, 110, 170))
    draw.rectangle((size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2), fill=(210, 30, 30))
    return image


class Portal:
    """The Screenshot service's state: how to answer, where to write, and the calls seen."""

    def __init__(self, connection: DBusConnection, arguments: argparse.Namespace) -> None:
        self.connection = connection
        self.answer: str = arguments.answer
        self.folder = Path(arguments.folder)
        width, height = (int(part) for part in arguments.size.split("x"))
        self.size = (width, height)
        self.legacy_handle: bool = arguments.legacy_handle
        self.signal_first: bool = arguments.signal_first
        self.screenshot: bool = not arguments.no_screenshot
        self.requests: set[str] = set()
        self.sender = ""
        self.count = 0

    def log(self, **entry: Any) -> None:
        with (self.folder / CALL_LOG).open("a") as log:
            log.write(json.dumps(entry) + "\n")

    def handle(self, message: Message) -> None:
        fields = message.header.fields
        key = (fields.get(HeaderFields.path), fields.get(HeaderFields.interface),
               fields.get(HeaderFields.member))
        if key == (PORTAL_PATH, PROPERTIES, "Get") and self.screenshot:
            self._get_property(message)
        elif key == (PORTAL_PATH, SCREENSHOT, "Screenshot") and self.screenshot:
            self._screenshot(message)
        elif key[0] in self.requests and key[1:] == (REQUEST, "Close"):
            self.requests.discard(str(key[0]))
            self.log(method="Close", path=key[0])
            self.connection.send(new_method_return(message))
        else:
            self.connection.send(new_error(message, "org.freedesktop.DBus.Error.UnknownMethod", "s",
                                           (f"no method {key[1]}.{key[2]} at {key[0]}",)))

    def _get_property(self, message: Message) -> None:
        interface, name = message.body
        if (interface, name) != (SCREENSHOT, "version"):
            self.connection.send(new_error(message, "org.freedesktop.DBus.Error.InvalidArgs", "s",
                                           (f"no property {interface}.{name}",)))
            return
        self.connection.send(new_method_return(message, "v", (("u", VERSION),)))

    def _screenshot(self, message: Message) -> None:
        parent_window, options = message.body
        sender = str(message.header.fields[HeaderFields.sender])
        self.sender = sender
        self.count += 1
        token = options["handle_token"][1] if "handle_token" in options else f"t{self.count}"
        owner = sender.lstrip(":").replace(".", "_")
        path = f"{REQUEST_PREFIX}/{owner}/{'legacy' + str(self.count) if self.legacy_handle else token}"
        self.requests.add(path)
        self.log(method="Screenshot", parent_window=parent_window, sender=sender, path=path,
                 options={name: value[1] for name, value in options.items()})
        reply = new_method_return(message, "o", (path,))
        if not self.signal_first:
            self.connection.send(reply)
        if self.answer != "never":
            self._respond(path)
        if self.signal_first:
            self.connection.send(reply)

    def _respond(self, path: str) -> None:
        response = int(self.answer)
        results: dict[str, tuple[str, Any]] = {}
        if response == 0:
            picture = self.folder / f"Screenshot from stand-in {self.count}.png"
            pattern(self.size).save(picture)
            results["uri"] = ("s", "file://" + quote(str(picture)))
            self.log(method="wrote", file=str(picture))
        self.requests.discard(path)
        signal = new_signal(DBusAddress(path, interface=REQUEST), "Response", "ua{sv}", (response, results))
        if self.legacy_handle:
            # A caller learns a legacy path only from the reply, too late to subscribe: sent to it alone.
            signal.header.fields[HeaderFields.destination] = self.sender
        self.connection.send(signal)


def serve(address: str, arguments: argparse.Namespace) -> None:
    """Own the portal's name and answer until the bus goes away or the process is stopped."""
    connection = open_dbus_connection(address)
    portal = Portal(connection, arguments)
    Proxy(message_bus, connection, timeout=10).RequestName(PORTAL_NAME, 0)
    while True:
        message = connection.receive()
        if message.header.message_type is MessageType.method_call:
            portal.handle(message)


def main(argv: list[str]) -> int:
    """``python -m portal_standin --answer 0 --folder DIR`` (the bus is DBUS_SESSION_BUS_ADDRESS's)."""
    parser = argparse.ArgumentParser(prog="portal_standin")
    parser.add_argument("--answer", choices=("0", "1", "2", "never"), default="0")
    parser.add_argument("--folder", required=True, help="where the screenshots and calls.jsonl go")
    parser.add_argument("--size", default="1600x900", help="the screenshot's WIDTHxHEIGHT")
    parser.add_argument("--legacy-handle", action="store_true")
    parser.add_argument("--signal-first", action="store_true")
    parser.add_argument("--no-screenshot", action="store_true")
    arguments = parser.parse_args(argv)
    try:
        serve(os.environ["DBUS_SESSION_BUS_ADDRESS"], arguments)
    except (ConnectionError, EOFError):
        return 0  # the bus went away: the test is over
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
