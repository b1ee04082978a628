"""Screenshots on GNOME and KDE Plasma under Wayland: the xdg-desktop-portal Screenshot interface (issue 15).

Neither desktop offers applications a capture protocol of their own; both answer
``org.freedesktop.portal.Screenshot.Screenshot(parent_window s, options a{sv}) -> o`` on the portal
service ``org.freedesktop.portal.Desktop`` at ``/org/freedesktop/portal/desktop``. The call returns a
Request object at once; the result comes later as that object's ``org.freedesktop.portal.Request.Response``
signal, ``(response u, results a{sv})``: 0 with ``results["uri"]`` (a ``file://`` URI of the image the
portal wrote, usually in ~/Pictures), 1 when the person said no, 2 when the request ended otherwise.

The Request's path is predictable (``/org/freedesktop/portal/desktop/request/SENDER/TOKEN``, SENDER the
caller's unique bus name without ':' and with '.' → '_', TOKEN our ``handle_token``), so the agent subscribes
to the Response before calling: an answer sent before the call's reply cannot be missed. The desktop may
ask the person the first time (GNOME and KDE keep the answer); the agent asks non-interactively.

Importing this module opens nothing; jeepney is imported when a capture or the probe runs.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from PIL import Image, UnidentifiedImageError

from agent.adapters.dbus_bus import AUTH_TIMEOUT_SECONDS, BusConnection, DbusUnanswered, session_bus_address
from agent.adapters.monitors import MonitorImage
from agent.seams import ScreenshotsBlocked
from contract.errors import CaptureFailed

logger = logging.getLogger(__name__)

PORTAL_NAME = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SCREENSHOT_INTERFACE = "org.freedesktop.portal.Screenshot"
REQUEST_INTERFACE = "org.freedesktop.portal.Request"
REQUEST_PATH_PREFIX = "/org/freedesktop/portal/desktop/request"
PROPERTIES_INTERFACE = "org.freedesktop.DBus.Properties"

RESPONSE_SUCCESS = 0
RESPONSE_CANCELLED = 1
RESPONSE_OTHER = 2

# Long enough to read and answer the desktop's one-time permission prompt; an allowed capture takes < 1 s.
RESPONSE_TIMEOUT_SECONDS = 30.0
# The portal may be started on demand by the bus (D-Bus activation) when the agent first asks for it.
PROBE_TIMEOUT_SECONDS = 5.0
REQUEST_NAME_PREFIX = "vinova_"  # begins each handle_token: names our Request objects

BLOCKED_ADVICE = (
    "allow Vinova to take screenshots in the desktop's privacy settings (GNOME: Settings → Apps or "
    "Privacy → Screenshots; KDE Plasma: System Settings → Application Permissions) and answer Allow "
    "when it asks; the agent tries again at the next capture"
)


def request_path(unique_name: str, token: str) -> str:
    """The Request object the portal creates for a call by ``unique_name`` with ``handle_token`` ``token``."""
    sender = unique_name.lstrip(":").replace(".", "_")
    return f"{REQUEST_PATH_PREFIX}/{sender}/{token}"


def file_path_of(uri: str) -> Path:
    """The local file of a ``file://`` URI; CaptureFailed for any other kind of URI."""
    parts = urlsplit(uri)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost") or not parts.path:
        scheme = parts.scheme or "none"
        raise CaptureFailed(f"the screenshot portal gave no local file (URI scheme {scheme!r})")
    path = Path(unquote(parts.path))
    if not path.is_absolute():
        raise CaptureFailed("the screenshot portal gave a relative file path")
    return path


def blocked_message(response: int) -> str:
    """What the window and the log say when the portal answered ``response`` (1 refused, 2 ended)."""
    if response == RESPONSE_CANCELLED:
        return f"the desktop refused the screenshot; {BLOCKED_ADVICE}"
    return f"the desktop ended the screenshot request without an image (answer {response}); {BLOCKED_ADVICE}"


class PortalMonitorGrabber:
    """The whole desktop as monitor 0, through the desktop portal (a MonitorGrabber for GNOME and KDE).

    The portal gives one image of every screen together and no per-monitor split, so there is one
    image, numbered 0. The file the portal wrote is read into RGB and deleted at once: a screenshot
    never stays in the person's Pictures folder.

    Called on the scheduler thread; blocks until the portal answers (well under a second once allowed;
    while the desktop's one-time permission prompt is open, up to ``timeout_seconds``). Raises
    ScreenshotsBlocked when the desktop refuses (or the prompt is dismissed), CaptureFailed when the
    portal does not answer in time, the bus is gone, or the image cannot be read.
    """

    asks_permission = True
    """The desktop may show a permission prompt at the first capture; the window explains it beforehand."""

    def __init__(
        self, address: str, *, timeout_seconds: float = RESPONSE_TIMEOUT_SECONDS, version: int | None = None
    ) -> None:
        self.address = address
        self.timeout_seconds = timeout_seconds
        self.version = version
        self._size_seen: tuple[int, int] | None = None

    def __call__(self) -> list[MonitorImage]:
        uri = self.request_uri()
        image = _read_and_delete(file_path_of(uri))
        if image.size != self._size_seen:
            logger.info("the desktop portal's screenshot is %dx%d (every monitor in one image)", *image.size)
            self._size_seen = image.size
        return [MonitorImage(0, image)]

    def request_uri(self) -> str:
        """Ask the portal for a screenshot and wait for its Response: the URI of the file it wrote.

        The file stays; the caller deletes it (``__call__`` does). Raises as ``__call__`` does.
        """
        from jeepney.io.blocking import open_dbus_connection

        deadline = time.monotonic() + self.timeout_seconds
        try:
            connection = open_dbus_connection(self.address, enable_fds=False,
                                              auth_timeout=AUTH_TIMEOUT_SECONDS)
        except (OSError, ValueError, RuntimeError, StopIteration) as exc:
            raise CaptureFailed(f"cannot reach the desktop portal: no session bus ({exc})") from exc
        try:
            response, results = self._exchange(connection, deadline)
        finally:
            connection.close()
        if response != RESPONSE_SUCCESS:
            raise ScreenshotsBlocked(blocked_message(response))
        uri = results.get("uri")
        if not isinstance(uri, tuple) or len(uri) != 2 or not isinstance(uri[1], str) or not uri[1]:
            raise CaptureFailed("the screenshot portal answered without the image's location")
        return uri[1]

    def _exchange(self, connection: Any, deadline: float) -> tuple[int, dict[str, Any]]:
        """Subscribe, call, and wait on one connection; (response, results) of the Response signal."""
        from jeepney import DBusAddress, HeaderFields, MatchRule, new_method_call

        token = REQUEST_NAME_PREFIX + secrets.token_hex(8)
        expected = request_path(connection.unique_name, token)
        # Every Response on this connection is queued; only the ones at our Request's path count.
        responses_here = MatchRule(type="signal", interface=REQUEST_INTERFACE, member="Response")
        awaited = {expected}
        handle = expected
        with connection.filter(responses_here, bufsize=16) as queue:
            try:
                _add_match(connection, expected, deadline)
                call = new_method_call(
                    DBusAddress(PORTAL_PATH, bus_name=PORTAL_NAME, interface=SCREENSHOT_INTERFACE),
                    "Screenshot", "sa{sv}",
                    ("", {"handle_token": ("s", token), "interactive": ("b", False)}),
                )
                reply = connection.send_and_get_reply(call, timeout=_remaining(deadline))
                handle = _handle_of(reply, HeaderFields)
                if handle != expected:
                    # A portal older than 0.9 chose its own path: follow it (its Response may be queued).
                    awaited.add(handle)
                    _add_match(connection, handle, deadline)
                while True:
                    signal = connection.recv_until_filtered(queue, timeout=_remaining(deadline))
                    if signal.header.fields.get(HeaderFields.path) in awaited:
                        return _response_of(signal.body)
            except TimeoutError as exc:
                _close_request(connection, handle)
                raise CaptureFailed(
                    f"the desktop portal did not answer the screenshot request within "
                    f"{self.timeout_seconds:g} s"
                ) from exc
            except (OSError, EOFError, ValueError, RuntimeError) as exc:
                raise CaptureFailed(f"the session bus broke during the screenshot request: {exc}") from exc


def _add_match(connection: Any, path: str, deadline: float) -> None:
    """Ask the bus to route the Response signals of the Request at ``path`` to this connection."""
    from jeepney import MatchRule, MessageType
    from jeepney.bus_messages import message_bus

    rule = MatchRule(type="signal", interface=REQUEST_INTERFACE, member="Response", path=path)
    reply = connection.send_and_get_reply(message_bus.AddMatch(rule), timeout=_remaining(deadline))
    if reply.header.message_type is MessageType.error:
        raise CaptureFailed(f"the session bus refused the portal subscription: {reply.body}")


def _remaining(deadline: float) -> float:
    # jeepney treats a timeout of 0 as "poll once", which is what an expired budget should do.
    return max(0.0, deadline - time.monotonic())


def _handle_of(reply: Any, header_fields: Any) -> str:
    """The Request path in the Screenshot call's reply; CaptureFailed for an error reply or another shape."""
    from jeepney import MessageType

    if reply.header.message_type is MessageType.error:
        error_name = reply.header.fields.get(header_fields.error_name, "an error")
        text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
        raise CaptureFailed(f"the desktop portal refused the screenshot call: {error_name}"
                            + (f": {text}" if text else ""))
    if len(reply.body) != 1 or not isinstance(reply.body[0], str):
        raise CaptureFailed("the desktop portal's screenshot call returned no request handle")
    return str(reply.body[0])


def _response_of(body: tuple[Any, ...]) -> tuple[int, dict[str, Any]]:
    """(response, results) from a Response signal's body ``(u, a{sv})``."""
    if len(body) != 2 or not isinstance(body[0], int) or not isinstance(body[1], dict):
        raise CaptureFailed("the desktop portal's answer has an unexpected shape")
    return int(body[0]), dict(body[1])


def _close_request(connection: Any, handle: str) -> None:
    """Ask the portal to end the request (its prompt closes), so no late image is written and left behind."""
    from jeepney import DBusAddress, new_method_call

    try:
        request = DBusAddress(handle, bus_name=PORTAL_NAME, interface=REQUEST_INTERFACE)
        connection.send(new_method_call(request, "Close"))
    except OSError:
        logger.debug("closing the portal request failed", exc_info=True)


def _read_and_delete(path: Path) -> Image.Image:
    """The image at ``path`` in RGB; the file is deleted once it is known to be an image."""
    try:
        opened = Image.open(path)
    except FileNotFoundError as exc:
        raise CaptureFailed("the screenshot portal's image file is missing") from exc
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as exc:
        # Not an image: not a screenshot of ours either, so it is left where it is.
        raise CaptureFailed(f"the screenshot portal's file is not a readable image: {exc}") from exc
    try:
        with opened:
            return opened.convert("RGB")
    except (OSError, Image.DecompressionBombError) as exc:
        raise CaptureFailed(f"the screenshot portal's image could not be read: {exc}") from exc
    finally:
        _delete(path)


def _delete(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("the desktop portal's screenshot file %s could not be deleted: %s", path, exc)


def portal_screenshot_version(bus: BusConnection, timeout_seconds: float = PROBE_TIMEOUT_SECONDS) -> int:
    """The portal's Screenshot interface version (its ``version`` property); DbusUnanswered if absent."""
    signature, body = bus.call(PORTAL_NAME, PORTAL_PATH, PROPERTIES_INTERFACE, "Get", "ss",
                               (SCREENSHOT_INTERFACE, "version"), timeout_seconds=timeout_seconds)
    value = body[0] if signature == "v" and len(body) == 1 else None
    if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int)
            and not isinstance(value[1], bool)):
        raise DbusUnanswered(f"the portal's Screenshot version is not a number ({signature or 'no'} reply)")
    return int(value[1])


def choose_portal_grabber(
    environ: Mapping[str, str], timeout_seconds: float = RESPONSE_TIMEOUT_SECONDS
) -> PortalMonitorGrabber | None:
    """The desktop portal's grabber when the session bus has a portal with a Screenshot interface.

    Asks the portal once (its ``version``; this may start it). None, with the reason logged, when there
    is no session bus, no portal, or the portal has no Screenshot interface.
    """
    address = session_bus_address(environ)
    if address is None:
        logger.info("no screenshot portal: DBUS_SESSION_BUS_ADDRESS is not set")
        return None
    bus = BusConnection(address, "the session bus")
    try:
        version = portal_screenshot_version(bus)
    except DbusUnanswered as exc:
        logger.info("no screenshot portal on the session bus: %s", exc)
        return None
    finally:
        bus.close()
    logger.info("screenshots through the desktop portal (Screenshot interface version %d)", version)
    return PortalMonitorGrabber(address, timeout_seconds=timeout_seconds, version=version)
