"""The agent's HTTP client for the Vinova server: sign-in, config, activity and screenshot calls.

Every library error is translated here, at the boundary (STYLE §4), by the one retry table
(:mod:`contract.retry`): RETRY (network errors, timeouts, 408, 429, 5xx) → TransientError;
SIGN_IN (401) → SessionExpired; anything else → PermanentError. Sign-in refusals become AuthError
with the server's stable code. Answers are classified on explicit status codes and error codes,
never on a Response's truthiness.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from agent.activity_answer import ActivityAnswer, BatchRefused
from agent.device import Device
from agent.version import user_agent
from contract.errors import AuthError, PermanentError, SessionExpired, TransientError
from contract.retry import DONE, RETRY, SIGN_IN, classify, retry_after_seconds
from time_manager import to_utc

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 10.0
HEALTH_TIMEOUT_SECONDS = 3.0  # the probe while offline must be cheap and quick (agent.reachability)


@dataclass(frozen=True, slots=True)
class Challenge:
    """A pending sign-in: where the code went, until when it is valid, and which code it takes.

    ``method`` is "email" (a mailed code) or "totp" (the code of the person's authenticator app).
    """

    challenge_id: str
    sent_to: str
    expires_at: str | None = None
    method: str = "email"


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A bearer token and who it belongs to."""

    token: str
    username: str
    is_admin: bool
    expires_at: str


@dataclass(frozen=True, slots=True)
class ConfigResponse:
    """The answer to ``GET /get-config``: the raw payload (None on 304) and its ETag."""

    payload: dict[str, Any] | None
    etag: str | None


def _json_body(response: requests.Response) -> Any:
    """The answer's JSON; ValueError when it is not JSON or nested too deep to read (RecursionError)."""
    try:
        return response.json()
    except RecursionError as exc:
        raise ValueError("the answer is nested too deep") from exc


def _error_fields(response: requests.Response) -> tuple[str, str]:
    """The server's stable error code and message, or generic ones for a non-JSON body."""
    code, message, _fields = _error_details(response)
    return code, message


def _error_details(response: requests.Response) -> tuple[str, str, dict[str, str]]:
    """The stable error code, the message and the ``fields`` the server blamed (may be empty)."""
    try:
        body = _json_body(response)
    except ValueError:
        return "http_error", f"HTTP {response.status_code} {response.reason}", {}
    error = body.get("error", {}) if isinstance(body, dict) else {}
    if not isinstance(error, dict):
        error = {}
    raw_fields = error.get("fields")
    fields = (
        {str(name): str(text) for name, text in raw_fields.items()} if isinstance(raw_fields, dict) else {}
    )
    return str(error.get("code", "http_error")), str(error.get("message", response.reason)), fields


class ServerClient:
    """Talks to one Vinova server; thread-safe (the token is read under a lock, Session is shared)."""

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        token: str | None = None,
        device: Device | None = None,
        ca_bundle: Path | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.device = device  # sent with activity, upload signing and registration (issue 10 item 1)
        self._session = session or requests.Session()
        # Given on every request, not as Session.verify: requests lets REQUESTS_CA_BUNDLE override
        # a session's verify, and VINOVA_CA_BUNDLE is the one that must win (issue 14).
        self._verify: str | bool = str(ca_bundle) if ca_bundle is not None else True
        self._timeout_seconds = timeout_seconds
        self._token = token
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ token
    @property
    def token(self) -> str | None:
        """The bearer token in use, or None before sign-in."""
        with self._lock:
            return self._token

    def set_token(self, token: str | None) -> None:
        """Use ``token`` for every later call (None forgets it)."""
        with self._lock:
            self._token = token

    # ------------------------------------------------------------------ transport
    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        authenticated: bool = True,
        params: dict[str, str] | None = None,
    ) -> requests.Response:
        """Send one request; network failures become TransientError. Status handling is the caller's."""
        # The User-Agent names this agent's version (issue 13): "vinova/1.5.0".
        all_headers = {"User-Agent": user_agent(), **(headers or {})}
        if authenticated:
            token = self.token
            if token is None:
                raise SessionExpired("not signed in")
            all_headers["Authorization"] = f"Bearer {token}"
        try:
            return self._session.request(
                method,
                f"{self.base_url}{path}",
                json=json_body,
                headers=all_headers,
                params=params,
                timeout=self._timeout_seconds,
                verify=self._verify,
            )
        except requests.exceptions.SSLError as exc:
            raise TransientError(
                f"{method} {path}: the server's TLS certificate is not trusted; if it is signed by your "
                "own certificate authority, set VINOVA_CA_BUNDLE to that authority's PEM file"
            ) from exc
        except requests.Timeout as exc:
            raise TransientError(f"{method} {path}: the server did not answer in time") from exc
        except requests.RequestException as exc:
            raise TransientError(f"{method} {path}: cannot reach the server ({type(exc).__name__})") from exc

    @staticmethod
    def _raise_for_status(response: requests.Response, what: str) -> None:
        """Translate a non-2xx/304 answer of a token call into the error hierarchy (by the retry table)."""
        status = response.status_code
        if status < 400:
            return
        code, message = _error_fields(response)
        outcome = classify(status, code)
        if outcome is RETRY:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            raise TransientError(f"{what}: HTTP {status} ({code})", retry_after)
        if outcome is SIGN_IN:
            raise SessionExpired(f"{what}: the server no longer accepts this session ({code})")
        raise PermanentError(f"{what}: HTTP {status} {code}: {message}")

    # ------------------------------------------------------------------ sign-in
    def _auth_call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._request("POST", path, json_body=body, authenticated=False)
        status = response.status_code
        if status >= 400:
            code, message = _error_fields(response)
            if classify(status, code) is RETRY:
                raise TransientError(f"sign-in: the server failed (HTTP {status})")
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            wait_seconds = None if retry_after is None else int(retry_after)
            raise AuthError(message, code=code, retry_after_seconds=wait_seconds)
        try:
            data = _json_body(response)
        except ValueError as exc:
            raise PermanentError("sign-in: the server's answer is not valid JSON") from exc
        if not isinstance(data, dict):
            raise PermanentError("sign-in: the server answered with something other than a JSON object")
        return data

    def login(self, username: str, password: str) -> Challenge:
        """Check the password; the server mails a 6-digit code to the account's address."""
        data = self._auth_call("/auth/login", {"username": username, "password": password})
        method = "totp" if data.get("method") == "totp" else "email"
        sent_to = str(data.get("sent_to", ""))
        return Challenge(str(data["challenge_id"]), sent_to, data.get("expires_at"), method)

    def verify(self, challenge_id: str, code: str) -> SignedIn:
        """Trade the emailed code for a bearer token (which this client then uses)."""
        body = {"challenge_id": challenge_id, "code": code}
        if self.device is not None:
            body["device_name"] = self.device.name  # what the person's /account page lists
        data = self._auth_call("/auth/verify", body)
        signed_in = SignedIn(
            token=str(data["token"]),
            username=str(data["username"]),
            is_admin=bool(data.get("is_admin", False)),
            expires_at=str(data.get("expires_at", "")),
        )
        self.set_token(signed_in.token)
        return signed_in

    def request_password_reset(self, username: str) -> None:
        """``POST /auth/password-reset``: the server mails a reset link if the account exists (always 202)."""
        self._auth_call("/auth/password-reset", {"username": username})

    def resend(self, challenge_id: str) -> Challenge:
        """Ask for a new code for the same challenge (the server allows one per 30 s)."""
        data = self._auth_call("/auth/resend", {"challenge_id": challenge_id})
        return Challenge(challenge_id, str(data.get("sent_to", "")), data.get("expires_at"))

    def logout(self) -> None:
        """Revoke the token on the server (best effort) and forget it."""
        try:
            response = self._request("POST", "/auth/logout")
            if response.status_code not in (200, 204, 401):
                log.warning("sign-out: the server answered HTTP %s", response.status_code)
        except (TransientError, SessionExpired) as exc:
            log.warning("sign-out: %s", exc)
        finally:
            self.set_token(None)

    def whoami(self) -> dict[str, Any]:
        """``GET /auth/me``: checks that the stored token still works."""
        response = self._request("GET", "/auth/me")
        self._raise_for_status(response, "session check")
        try:
            data = _json_body(response)
        except ValueError as exc:
            raise PermanentError("session check: the answer is not valid JSON") from exc
        if not isinstance(data, dict):
            raise PermanentError("session check: unexpected answer")
        return data

    def check_health(self) -> None:
        """``GET /health`` (no token, short timeout): TransientError while the server is away or failing.

        Any other answer means the server is there again (see agent.reachability).
        """
        try:
            response = self._session.get(f"{self.base_url}/health", timeout=HEALTH_TIMEOUT_SECONDS,
                                         verify=self._verify, headers={"User-Agent": user_agent()})
        except requests.RequestException as exc:
            raise TransientError(f"health check: cannot reach the server ({type(exc).__name__})") from exc
        with response:
            if classify(response.status_code, "") is RETRY:
                raise TransientError(f"health check: HTTP {response.status_code}")

    # ------------------------------------------------------------------ config
    def get_config(self, etag: str | None) -> ConfigResponse:
        """``GET /get-config`` with If-None-Match; the payload is NOT validated here (the poller does it)."""
        headers = {"If-None-Match": etag} if etag else {}
        response = self._request("GET", "/get-config", headers=headers)
        if response.status_code == 304:
            return ConfigResponse(None, etag)
        self._raise_for_status(response, "config poll")
        try:
            payload = _json_body(response)
        except ValueError as exc:
            raise PermanentError(f"config poll: the answer is not valid JSON ({exc})") from exc
        if not isinstance(payload, dict):
            raise PermanentError("config poll: the answer is not a JSON object")
        return ConfigResponse(payload, response.headers.get("ETag"))

    # ------------------------------------------------------------------ activity
    def post_activity(
        self, samples: list[dict[str, Any]], agent: dict[str, int] | None = None
    ) -> ActivityAnswer:
        """``POST /activity`` with this device and the agent's report; which samples were accepted.

        A 400 is :class:`~agent.activity_answer.BatchRefused` carrying the fields the server blamed.
        """
        body: dict[str, Any] = {"samples": samples}
        if self.device is not None:
            body["device"] = self.device.to_json()
        if agent is not None:
            body["agent"] = agent
        response = self._request("POST", "/activity", json_body=body)
        if response.status_code >= 400:
            code, message, fields = _error_details(response)
            outcome = classify(response.status_code, code)
            if outcome is not RETRY and outcome is not SIGN_IN:
                raise BatchRefused(
                    f"activity upload: HTTP {response.status_code} {code}: {message}", fields
                )
        self._raise_for_status(response, "activity upload")
        try:
            data = _json_body(response)
        except ValueError:
            data = None
        return ActivityAnswer.from_json(data, len(samples))

    # ------------------------------------------------------------------ screenshots
    def _with_device(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.device is None:
            return body
        return {**body, "device_id": self.device.id}

    def sign_upload(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """``POST /uploads/sign``: the method, URL and headers of a short-lived PUT for one capture.

        None when the server already holds that key (409 ``already_registered``): nothing to PUT.
        """
        response = self._request("POST", "/uploads/sign", json_body=self._with_device(body))
        if response.status_code >= 400:
            code, _message = _error_fields(response)
            if classify(response.status_code, code) is DONE:
                return None
        self._raise_for_status(response, "upload signing")
        try:
            data = _json_body(response)
        except ValueError as exc:
            raise PermanentError("upload signing: the answer is not valid JSON") from exc
        if not isinstance(data, dict) or "url" not in data:
            raise PermanentError("upload signing: unexpected answer")
        return data

    def register_screenshot(self, body: dict[str, Any]) -> int | None:
        """``POST /screenshots``: record an uploaded capture (idempotent on its key); the server's id.

        None when the answer names no id (an older server): the capture cannot be deleted by id.
        """
        response = self._request("POST", "/screenshots", json_body=self._with_device(body))
        self._raise_for_status(response, "screenshot registration")
        try:
            data = _json_body(response)
        except ValueError:
            return None
        screenshot_id = data.get("id") if isinstance(data, dict) else None
        if isinstance(screenshot_id, bool) or not isinstance(screenshot_id, int):
            return None
        return screenshot_id

    def delete_my_screenshot(self, screenshot_id: int) -> None:
        """``DELETE /api/me/screenshots/<id>`` (204); outside the delete window PermanentError
        ``delete_not_allowed``."""
        response = self._request("DELETE", f"/api/me/screenshots/{int(screenshot_id)}")
        self._raise_for_status(response, "deleting the screenshot")

    def report_withheld(self, taken_at: datetime, device_id: str | None = None) -> None:
        """``POST /api/me/withheld``: a capture taken at ``taken_at`` was deleted on this device (204).

        Only the fact is told; the image never leaves the machine.
        """
        body: dict[str, Any] = {"taken_at": to_utc(taken_at).isoformat()}
        uid = device_id or (self.device.id if self.device is not None else None)
        if uid is not None:
            body["device_id"] = uid
        response = self._request("POST", "/api/me/withheld", json_body=body)
        self._raise_for_status(response, "reporting a capture deleted on this device")
