"""A blocking D-Bus connection for the desktop adapters (jeepney), opened lazily and reopened after a failure.

The Wayland desktops say what the agent needs (idle time, screen lock) over D-Bus (issue 15). Each adapter
owns one :class:`BusConnection`; every call has a deadline, and every failure (no bus, no such service, an
error reply, a timeout, a broken socket) comes out as :class:`DbusUnanswered`, which the adapters turn into
"cannot tell" (None). :class:`ServiceHealth` logs once when a service stops answering and once when it
answers again, so a poll every few seconds never floods the log.

Importing this module opens nothing; jeepney is imported when a connection is first opened.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from contract.errors import VinovaError

logger = logging.getLogger(__name__)

# Where the system bus is when DBUS_SYSTEM_BUS_ADDRESS is not set (the D-Bus specification's default).
DEFAULT_SYSTEM_BUS_ADDRESS = "unix:path=/var/run/dbus/system_bus_socket"
DEFAULT_TIMEOUT_SECONDS = 0.5
# jeepney's socket authentication has its own limit; the Hello that follows is answered by the bus itself.
AUTH_TIMEOUT_SECONDS = 1.0


class DbusUnanswered(VinovaError):
    """A D-Bus call got no usable answer (no bus, no such service or object, an error reply, a timeout)."""


def session_bus_address(environ: Mapping[str, str]) -> str | None:
    """The session bus of ``environ`` (``DBUS_SESSION_BUS_ADDRESS``), or None when the session has none."""
    return environ.get("DBUS_SESSION_BUS_ADDRESS", "").strip() or None


def system_bus_address(environ: Mapping[str, str]) -> str:
    """The system bus (``DBUS_SYSTEM_BUS_ADDRESS``, else the standard socket), where logind answers."""
    return environ.get("DBUS_SYSTEM_BUS_ADDRESS", "").strip() or DEFAULT_SYSTEM_BUS_ADDRESS


class BusConnection:
    """One connection to the bus at ``address``; thread-safe; reconnects on the next call after a failure."""

    def __init__(self, address: str, description: str = "the session bus") -> None:
        self.address = address
        self.description = description
        self._lock = threading.Lock()
        self._connection: Any = None

    def call(
        self,
        destination: str,
        path: str,
        interface: str,
        method: str,
        signature: str = "",
        body: tuple[Any, ...] = (),
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> tuple[str, tuple[Any, ...]]:
        """Call ``interface.method`` on ``destination``'s object ``path``; returns (reply signature, body).

        Blocks up to ``timeout_seconds`` for the reply (plus the connection's set-up when it is new).
        Raises DbusUnanswered for any failure, with a plain reason.
        """
        from jeepney import DBusAddress, HeaderFields, MessageType, new_method_call

        with self._lock:
            connection = self._connect()
            message = new_method_call(DBusAddress(path, bus_name=destination, interface=interface),
                                      method, signature or None, body)
            try:
                reply = connection.send_and_get_reply(message, timeout=max(timeout_seconds, 0.001))
            except TimeoutError as exc:
                # A late reply would sit in the socket; a fresh connection starts clean.
                self._drop()
                raise DbusUnanswered(f"{destination} did not answer {method} within "
                                     f"{timeout_seconds:.1f} s") from exc
            except (OSError, ValueError, RuntimeError) as exc:
                self._drop()
                raise DbusUnanswered(f"{self.description} broke during {method}: {exc}") from exc
        fields = reply.header.fields
        if reply.header.message_type is MessageType.error:
            error_name = fields.get(HeaderFields.error_name, "an error")
            text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
            raise DbusUnanswered(f"{destination} answered {method} with {error_name}"
                                 + (f": {text}" if text else ""))
        return str(fields.get(HeaderFields.signature, "")), tuple(reply.body)

    def close(self) -> None:
        """Close the connection (a later call opens a new one); safe to call twice."""
        with self._lock:
            self._drop()

    def _connect(self) -> Any:
        if self._connection is not None:
            return self._connection
        from jeepney.io.blocking import open_dbus_connection

        try:
            self._connection = open_dbus_connection(self.address, enable_fds=False,
                                                    auth_timeout=AUTH_TIMEOUT_SECONDS)
        except (OSError, ValueError, RuntimeError, StopIteration) as exc:
            # OSError: no socket / refused; ValueError: authentication refused; RuntimeError: a transport
            # jeepney cannot use (tcp:, launchd:).
            reason = str(exc) or type(exc).__name__
            raise DbusUnanswered(f"cannot connect to {self.description} ({reason})") from exc
        return self._connection

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except OSError:
                logger.debug("closing the D-Bus connection failed", exc_info=True)
            self._connection = None


class ServiceHealth:
    """Logs once when a desktop service stops answering, and once when it answers again."""

    def __init__(self, description: str) -> None:
        self.description = description
        self._failing = False
        self._lock = threading.Lock()

    @property
    def failing(self) -> bool:
        """Whether the last call failed."""
        return self._failing

    def failed(self, reason: str) -> None:
        """The call failed for ``reason``; logged only when the service was answering before."""
        with self._lock:
            if self._failing:
                return
            self._failing = True
        logger.warning("%s gives no usable answer (%s); the agent cannot tell for now",
                       self.description, reason)

    def answered(self) -> None:
        """The call succeeded; logged only when it had been failing."""
        with self._lock:
            if not self._failing:
                return
            self._failing = False
        logger.info("%s answers again", self.description)


class Deadline:
    """A time budget shared by the calls one poll makes (monotonic clock)."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left, never below zero."""
        return max(0.0, self._end - time.monotonic())
