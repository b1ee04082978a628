"""Vinova's error hierarchy, in one place so every module raises and catches the same names.

    VinovaError
    ├── ConfigError          invalid configuration; carries {field: message} for every bad field
    ├── AuthError            credentials, codes or tokens refused (HTTP 401-ish)
    │   └── SessionExpired   the server no longer accepts our token: sign in again
    ├── TransientError       worth retrying later with backoff and jitter (network, timeout, 408/429/5xx)
    ├── PermanentError       never retried; the item is kept aside with the reason (other 4xx, corrupt file)
    ├── CaptureFailed        the screen could not be grabbed (no display, X error); the capture is skipped
    └── RequestRefused       the server refuses a request; carries HTTP status, stable code, the field(s)
                             to blame and Retry-After; to_json() is the one ``{"error": ...}`` body

Adapters translate library exceptions (requests, botocore, Xlib, OSError) into these at the
boundary with ``raise ... from exc``; feature code never imports a third-party exception.
The server's error handlers (app.py) turn ConfigError (400), AuthError (401/429) and
TransientError (503) into a RequestRefused, and answer every one through ``server.web.error_response``.
"""

from __future__ import annotations


class VinovaError(Exception):
    """Base class of every error Vinova raises on purpose."""


class ConfigError(VinovaError):
    """One or more configuration values are invalid; ``errors`` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        detail = "; ".join(f"{field}: {message}" for field, message in sorted(self.errors.items()))
        super().__init__(f"invalid configuration: {detail}")


class AuthError(VinovaError):
    """Credentials, a code or a token were refused; ``code`` is the server's stable error code."""

    def __init__(
        self, message: str, code: str = "unauthorized", retry_after_seconds: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after_seconds = retry_after_seconds


class SessionExpired(AuthError):
    """The server answered 401 to our token: stop work that needs it and ask for a new sign-in."""

    def __init__(self, message: str = "the session has ended; sign in again") -> None:
        super().__init__(message, code="unauthorized")


class TransientError(VinovaError):
    """A failure that may pass (network down, timeout, 408, 429, 5xx): retry with backoff."""

    def __init__(self, message: str, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class PermanentError(VinovaError):
    """A failure that retrying cannot fix (e.g. a 4xx other than 401/408/429): keep the item aside."""


class CaptureFailed(VinovaError):
    """The screen could not be grabbed (no display, X connection refused); this capture is skipped."""


class RequestRefused(VinovaError):
    """A request broke a server rule; ``status``/``code``/``fields`` map onto the HTTP error body.

    ``field`` names the one field to blame (its message is the error's); ``fields`` maps several.
    ``retry_after_seconds`` becomes the ``Retry-After`` header.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        field: str | None = None,
        fields: dict[str, str] | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.field = field
        self.fields = dict(fields) if fields is not None else ({field: message} if field else None)
        self.retry_after_seconds = retry_after_seconds

    def to_json(self) -> dict[str, object]:
        """The ``{"error": {...}}`` body of docs/API.md (``fields`` when fields are to blame)."""
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.fields is not None:
            body["fields"] = dict(self.fields)
        return {"error": body}
