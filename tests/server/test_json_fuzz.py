"""Every JSON endpoint against mutated bodies, signed in and not: no answer is ever a 500 (issue 10 item 13).

Before: a body nested 100,000 deep raised RecursionError on every endpoint, a lone surrogate in
username/challenge/code a UnicodeEncodeError, extreme dates an OverflowError. The endpoints come
from ``app.url_map`` so a new one is fuzzed too; the random bodies come from a fixed seed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from server_support import Server, ServerSetup

SEED = 20261202
BODIES_PER_ENDPOINT = 40
FIELDS = (
    "username", "password", "challenge_id", "code", "samples", "device", "agent", "device_id", "key",
    "taken_at", "timezone", "blurred", "width", "height", "size_bytes", "sha256", "content_type",
    "minute_start", "active_seconds", "keys", "clicks", "scrolls", "mouse_px", "state", "utc_offset_minutes",
    "id", "name", "uploads_waiting", "kept_aside", "input_ok", "screenshot_interval", "blur_screenshots",
    "idle_threshold", "capture_enabled",
)
DEEP_BYTES = b'{"username": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def _strange_value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(16)
    if choice == 0:
        return "\ud800"
    if choice == 1:
        return rng.choice([10**30, -(10**30), 2**63, 2**64 + 1, -(2**63) - 1])
    if choice == 2:
        return rng.choice([1e308, -1e308, 5e-324, 0.5])
    if choice == 3:
        return rng.choice(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01", "9999-12-31",
                           "2026-02-30T00:00:00+00:00", "-1", "1e9", "", " "])
    if choice == 4:
        return None
    if choice == 5:
        return "x" * rng.choice([65, 513, 20_000])
    if choice == 6:
        return rng.choice([True, False, 0, -1, 1])
    if choice == 7 and depth < 3:
        return [_strange_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if choice == 8 and depth < 3:
        return _strange_object(rng, depth + 1)
    if choice == 9:
        return rng.choice(["tracking", "idle", "paused", "Mars/Olympus", "UTC", "a" * 32, "g" * 32, "../x"])
    if choice == 10:
        return rng.choice(["ann/2026/01/01/000000Z-abc.jpg", "ann/../../etc/passwd", "ann/\u0000.jpg"])
    if choice == 11 and depth < 3:
        return [_sample(rng) for _ in range(rng.randrange(1, 4))]
    return rng.choice(["", "123456", "\u202e", "😀", "\ud83d", "\udfff x", "0" * 6])


def _sample(rng: random.Random) -> dict[str, Any]:
    sample: dict[str, Any] = {
        "minute_start": "2026-12-02T10:00:00+00:00", "active_seconds": 30, "keys": 1, "clicks": 1,
        "scrolls": 0, "mouse_px": 5, "state": "tracking", "timezone": "UTC", "utc_offset_minutes": 0,
    }
    for name in rng.sample(sorted(sample), rng.randrange(1, 3)):
        sample[name] = _strange_value(rng, 3)
    return sample


def _strange_object(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    names = rng.sample(FIELDS, rng.randrange(1, 6))
    return {name: _strange_value(rng, depth) for name in names}


SHOT = {
    "key": "bob/2026/12/02/100000Z-0123456789abcdef.jpg", "taken_at": "2026-12-02T10:00:00+00:00",
    "timezone": "UTC", "blurred": False, "width": 1920, "height": 1080, "size_bytes": 1000,
    "sha256": "0" * 64, "content_type": "image/jpeg", "device_id": "0" * 32,
}
TEMPLATES: dict[str, dict[str, Any]] = {
    "/auth/login": {"username": "bob", "password": "wrong password"},
    "/auth/verify": {"challenge_id": "x" * 32, "code": "123456"},
    "/auth/resend": {"challenge_id": "x" * 32},
    "/activity": {"samples": [], "device": {"id": "0" * 32, "name": "desk"},
                  "agent": {"uploads_waiting": 0, "kept_aside": 0, "input_ok": True}},
    "/uploads/sign": SHOT,
    "/screenshots": SHOT,
    "/api/config": {"screenshot_interval": 300, "idle_threshold": 300},
    "/api/users/bob/config": {"screenshot_interval": 300},
}


def _from_template(rng: random.Random, template: dict[str, Any]) -> dict[str, Any]:
    """A valid-looking body of the endpoint with one to three fields made strange (or samples added)."""
    body: dict[str, Any] = json.loads(json.dumps(template))
    if "samples" in body:
        body["samples"] = [_sample(rng) for _ in range(rng.randrange(1, 4))]
    for name in rng.sample(sorted(body), min(len(body), rng.randrange(1, 4))):
        if isinstance(body[name], dict) and rng.random() < 0.5:
            inner = body[name]
            inner[rng.choice(sorted(inner))] = _strange_value(rng, 3)
        elif name != "samples" or rng.random() < 0.3:
            body[name] = _strange_value(rng, 1)
    return body


def mutated_bodies(rng: random.Random, path: str = "") -> Iterator[bytes]:
    """Deep nesting first, then the endpoint's own body with strange values, or random objects."""
    yield DEEP_BYTES
    yield b"[" * 100_000
    yield b'{"username": "\\ud800", "password": "\\ud800"}'
    yield b'{"challenge_id": "\\udfff", "code": "\\ud800"}'
    yield b'{"n": 1' + b"0" * 5000 + b"}"
    yield b'{"n": NaN, "m": Infinity, "o": 1e999}'
    template = TEMPLATES.get(path)
    for index in range(BODIES_PER_ENDPOINT - 6):
        body = _from_template(rng, template) if template and index % 4 else _strange_object(rng)
        yield json.dumps(body, ensure_ascii=True).encode("ascii")


@pytest.fixture
def server_setup() -> ServerSetup:
    """An admin (ann) and a user (bob), both signed in."""
    return ServerSetup(signed_in=True)


def json_endpoints(server: Server) -> list[tuple[str, str]]:
    """(method, path) of every rule taking a body, path parameters filled in (the /admin forms excluded)."""
    endpoints = []
    for rule in server.app.url_map.iter_rules():
        if rule.rule.startswith(("/admin", "/static")):
            continue
        values = {name: ("1" if name.endswith("id") else "bob") for name in rule.arguments}
        path = rule.rule
        for name, value in values.items():
            path = path.replace(f"<{name}>", value)
            for converter in ("int", "string", "path"):
                path = path.replace(f"<{converter}:{name}>", value)
        for method in sorted((rule.methods or set()) & {"POST", "PUT", "PATCH"}):
            endpoints.append((method, path))
    # Sign-out revokes the token the later endpoints are fuzzed with: it goes last.
    return sorted(endpoints, key=lambda endpoint: endpoint[1] == "/auth/logout")


def test_no_mutated_body_on_any_json_endpoint_gets_a_500(server: Server) -> None:
    rng = random.Random(SEED)
    endpoints = json_endpoints(server)
    assert ("POST", "/auth/login") in endpoints and ("POST", "/activity") in endpoints
    failures: list[str] = []
    sent = 0
    for method, path in endpoints:
        for headers in ({}, server.headers("ann"), server.headers("bob")):
            for body in mutated_bodies(rng, path):
                response = server.client.open(
                    path, method=method, data=body, content_type="application/json", headers=headers
                )
                sent += 1
                if response.status_code >= 500:
                    failures.append(f"{method} {path} {response.status_code} {body[:160]!r}")
    assert sent >= 1000
    assert failures == [], f"{len(failures)} of {sent} bodies got >= 500:\n" + "\n".join(failures[:40])
