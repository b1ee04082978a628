"""Simulated agents for bench_load.py: a small asyncio HTTP/1.1 client and one agent's request loop.

Each agent does what ``agent/`` does, with the same request shapes (docs/API.md): ``GET /get-config``
with If-None-Match every 60 s, ``POST /activity`` with its device and one minute every 60 s, and every
300 s a screenshot (``POST /uploads/sign``, ``PUT`` of 150 KB to the returned URL, ``POST /screenshots``).
Every schedule starts at a random phase and each wake is jittered, so agents never run in lockstep.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

CONFIG_PERIOD_S = 60.0
ACTIVITY_PERIOD_S = 60.0
SCREENSHOT_PERIOD_S = 300.0
JITTER_S = 3.0
SCREENSHOT_BYTES = 150 * 1024  # about what a blurred 1080p capture weighs at the default quality
TIMEOUT_S = 10.0  # the agent's own timeout (agent/client.py DEFAULT_TIMEOUT_SECONDS)


@functools.cache
def capture_jpeg(size_bytes: int = SCREENSHOT_BYTES) -> bytes:
    """A real 1920x1080 JPEG of about ``size_bytes`` (made once): the server decodes it for its thumbnail.

    Keys are per user and second, so every agent may send the same bytes.
    """
    from PIL import Image, ImageDraw

    rng = random.Random(1080)
    image = Image.new("RGB", (1920, 1080), (236, 239, 244))
    draw = ImageDraw.Draw(image)
    for _ in range(600):  # windows and lines of text: a screen's mix of flat areas and edges
        x, y = rng.randrange(1920), rng.randrange(1080)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.rectangle((x, y, x + rng.randrange(8, 240), y + rng.randrange(2, 14)), fill=colour)
    best = b""
    for quality in range(30, 96, 5):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        if best and buffer.tell() > size_bytes:
            break
        best = buffer.getvalue()
    return best


@dataclass(frozen=True)
class Target:
    """Where agents send requests, which processes count as the server, and the other measured ones."""

    base_url: str
    server_pids: tuple[int, ...]
    upload_prefix: str
    support: dict[str, Callable[[], tuple[int, ...]]]  # read at each step: database backends come and go


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, headers (lowercased names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Stats:
    """Latencies (ms) per request kind, error counts by kind and reason, counted from ``since``."""

    since: float = 0.0
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    error_examples: list[str] = field(default_factory=list)

    def record(self, kind: str, started: float, error: str | None) -> None:
        """Count one request that started at ``started`` (monotonic) and ended now."""
        if started < self.since:
            return
        self.latencies_ms.setdefault(kind, []).append((time.monotonic() - started) * 1000)
        if error is not None:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            if len(self.error_examples) < 10:
                self.error_examples.append(f"{kind}: {error}")

    def reset(self, now: float) -> None:
        """Forget everything; count requests that start from ``now`` on."""
        self.since = now
        self.latencies_ms = {}
        self.errors = {}
        self.error_examples = []


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str], status: int) -> bytes:
    if status in (204, 304) or 100 <= status < 200:
        return b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts: list[bytes] = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readline()
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readline()
    length = headers.get("content-length")
    if length is not None:
        return await reader.readexactly(int(length))
    return await reader.read()


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, netloc: str, method: str,
                    path: str, headers: dict[str, str], body: bytes, keep_alive: bool) -> Answer:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {netloc}", f"Content-Length: {len(body)}"]
    lines += [] if keep_alive else ["Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionResetError("the server closed the connection")
    status = int(status_line.split()[1])
    answer_headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        answer_headers[name.strip().lower()] = value.strip()
    return Answer(status, answer_headers, await _read_body(reader, answer_headers, status))


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass


async def http_request(
    url: str, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> Answer:
    """One request on its own connection (``Connection: close``).

    A fresh connection per request keeps the number of open sockets at the number of requests in
    flight, not the number of agents (waitress serves at most 100 open connections by default).
    """
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
    try:
        return await _exchange(reader, writer, parts.netloc, method, path, headers, body, False)
    finally:
        await _close(writer)


@dataclass
class KeptConnections:
    """Persistent connections reused between calls, as the agent's requests.Session (urllib3) keeps them."""

    url: str
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=list)

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Answer:
        """Send on an idle kept connection (or a new one); once more on a new one if it had been closed."""
        parts = urlsplit(self.url)
        for attempt in (1, 2):
            reused = bool(self.idle)
            reader, writer = self.idle.pop() if reused else await asyncio.open_connection(
                parts.hostname, parts.port or 80)
            try:
                answer = await _exchange(reader, writer, parts.netloc, method, path, headers, body, True)
            except (OSError, asyncio.IncompleteReadError):
                await _close(writer)
                if reused and attempt == 1:
                    continue  # an idle connection the server timed out: urllib3 retries it too
                raise
            except BaseException:
                await _close(writer)
                raise
            if answer.headers.get("connection", "").lower() == "close":
                await _close(writer)
            else:
                self.idle.append((reader, writer))
            return answer
        raise AssertionError("unreachable")


# The last ETag each user's agent saw, kept across steps as the agent's config cache keeps it.
REMEMBERED_ETAGS: dict[str, str] = {}


@dataclass
class SimulatedAgent:
    """One agent: a user's token, a device, an ETag, and its three schedules."""

    base_url: str
    username: str
    token: str
    upload_prefix: str
    stats: Stats
    keep_alive: bool = False
    device_id: str = ""
    etag: str | None = None
    kept: KeptConnections | None = None

    def __post_init__(self) -> None:
        # A real agent keeps its device id and its cached config (with the ETag) across restarts, so a
        # later step of the bench (or the run after a warm-up) meets the server as a running fleet does.
        self.device_id = self.device_id or uuid.uuid5(uuid.NAMESPACE_URL, f"bench:{self.username}").hex
        self.etag = self.etag or REMEMBERED_ETAGS.get(self.username)

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    async def _call(self, kind: str, method: str, path: str, *, json_body: Any = None,
                    headers: dict[str, str] | None = None, expect: tuple[int, ...] = (200,),
                    url: str | None = None, raw: bytes | None = None) -> Answer | None:
        started = time.monotonic()
        body = raw if raw is not None else (b"" if json_body is None else json.dumps(json_body).encode())
        all_headers = dict(headers or {})
        if json_body is not None:
            all_headers["Content-Type"] = "application/json"
        if self.keep_alive and url is None:
            self.kept = self.kept or KeptConnections(self.base_url)
            exchange = self.kept.request(method, path, all_headers, body)
        else:
            exchange = http_request(url or self.base_url, method, path, all_headers, body)
        try:
            answer = await asyncio.wait_for(exchange, TIMEOUT_S)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            self.stats.record(kind, started, f"{type(exc).__name__} {exc}"[:200])
            return None
        if answer.status not in expect:
            self.stats.record(kind, started, f"HTTP {answer.status} {answer.body[:160]!r}")
            return None
        self.stats.record(kind, started, None)
        return answer

    async def poll_config(self) -> None:
        """``GET /get-config`` with the last ETag: a 304 when nothing changed."""
        extra = {"If-None-Match": self.etag} if self.etag else {}
        answer = await self._call("config", "GET", "/get-config", headers=self._headers(extra),
                                  expect=(200, 304))
        if answer is not None and answer.status == 200:
            self.etag = answer.headers.get("etag")
            if self.etag:
                REMEMBERED_ETAGS[self.username] = self.etag

    async def post_minute(self) -> None:
        """``POST /activity``: the minute that just ended, with this device and the agent's report."""
        minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
        sample = {"minute_start": minute.isoformat(), "active_seconds": random.randint(0, 60),
                  "keys": random.randint(0, 300), "clicks": random.randint(0, 40),
                  "scrolls": random.randint(0, 20),
                  "mouse_px": random.randint(0, 20000), "state": "tracking", "timezone": "UTC",
                  "utc_offset_minutes": 0}
        body = {"device": {"id": self.device_id, "name": f"bench {self.username}"}, "samples": [sample],
                "agent": {"uploads_waiting": 0, "kept_aside": 0, "minutes_set_aside": 0, "input_ok": True,
                          "input_restarts": 0}}
        await self._call("activity", "POST", "/activity", json_body=body, headers=self._headers())

    async def screenshot(self) -> None:
        """Sign an upload, PUT 150 KB to the URL it names (server or object store), register it."""
        payload = capture_jpeg()
        digest = hashlib.sha256(payload).hexdigest()
        taken_at = datetime.now(UTC).replace(microsecond=0)
        key = f"{self.upload_prefix}{self.username}/{taken_at:%Y/%m/%d/%H%M%S}Z-{digest[:16]}.jpg"
        common = {"key": key, "size_bytes": len(payload), "sha256": digest, "device_id": self.device_id}
        signed = await self._call("sign", "POST", "/uploads/sign", headers=self._headers(),
                                  json_body={**common, "content_type": "image/jpeg"})
        if signed is None:
            return
        grant = json.loads(signed.body)
        target = urlsplit(grant["url"])
        put_base = f"{target.scheme}://{target.netloc}" if target.netloc else self.base_url
        put_path = target.path + (f"?{target.query}" if target.query else "")
        put_url = None if put_base == self.base_url and self.keep_alive else put_base
        put = await self._call("put", grant.get("method", "PUT"), put_path, url=put_url, raw=payload,
                               headers=dict(grant.get("headers", {})), expect=(200, 201, 204))
        if put is None:
            return
        await self._call("register", "POST", "/screenshots", headers=self._headers(), expect=(200, 201),
                         json_body={**common, "taken_at": taken_at.isoformat(), "timezone": "UTC",
                                    "blurred": True, "width": 1920, "height": 1080})

    async def run(self, until: float) -> None:
        """Run the three schedules until the monotonic time ``until``."""
        await asyncio.gather(
            self._every(CONFIG_PERIOD_S, self.poll_config, until),
            self._every(ACTIVITY_PERIOD_S, self.post_minute, until),
            self._every(SCREENSHOT_PERIOD_S, self.screenshot, until),
        )

    @staticmethod
    async def _every(period_s: float, action: Any, until: float) -> None:
        next_at = time.monotonic() + random.uniform(0, period_s)  # a random phase: no lockstep
        while True:
            wake = next_at + random.uniform(-JITTER_S, JITTER_S)
            if wake >= until:
                return
            await asyncio.sleep(max(0.0, wake - time.monotonic()))
            await action()
            next_at += period_s
