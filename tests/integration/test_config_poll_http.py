"""The config poll over real HTTP against a server that misbehaves: the last good config stays."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, Response, request
from support import live_server

from agent.client import ServerClient
from config_updater import ConfigPoller
from contract.config_schema import DEFAULTS


class BrokenServer:
    """Serves whatever body/status the test sets, honouring If-None-Match like the real server."""

    def __init__(self) -> None:
        self.status = 200
        self.body = ""
        self.etag = '"1"'


@pytest.fixture
def broken_server() -> Iterator[tuple[BrokenServer, str]]:
    state = BrokenServer()
    app = Flask("broken")

    @app.get("/get-config")
    def get_config() -> Response:
        if state.status == 200 and request.headers.get("If-None-Match") == state.etag:
            return Response(status=304)
        return Response(state.body, status=state.status, headers={"ETag": state.etag},
                        content_type="application/json")

    with live_server(app) as url:
        yield state, url


def good(**changes: object) -> str:
    return json.dumps({**DEFAULTS, **changes, "version": 2})


@pytest.mark.integration
def test_the_agent_keeps_its_last_good_config_through_every_kind_of_bad_answer(
    broken_server: tuple[BrokenServer, str], tmp_path: Path
) -> None:
    state, url = broken_server
    changes_seen: list[dict[str, object]] = []
    poller = ConfigPoller(ServerClient(url, token="t"), tmp_path / "config.json",
                          lambda config, changes: changes_seen.append(dict(changes)))
    state.body = good(screenshot_interval=45)
    assert poller.poll() is True

    bad_answers = [
        (200, "{this is not json", '"2"'),
        (200, json.dumps({**DEFAULTS, "screenshot_interval": "often"}), '"3"'),
        (200, json.dumps({**DEFAULTS, "jpeg_quality": 3}), '"4"'),
        (200, json.dumps({**DEFAULTS, "capture_enabled": 1}), '"5"'),
        (200, json.dumps(["a", "list"]), '"6"'),
        (500, '{"error": {"code": "internal_error", "message": "x"}}', '"7"'),
        (503, "", '"8"'),
    ]
    for status, body, etag in bad_answers:
        state.status, state.body, state.etag = status, body, etag
        assert poller.poll() is False
        assert poller.current.screenshot_interval == 45
        assert poller.last_error is not None

    state.status, state.body, state.etag = 200, good(screenshot_interval=45, blur_screenshots=True), '"9"'
    assert poller.poll() is True
    assert poller.last_error is None
    assert changes_seen == [{"screenshot_interval": (300, 45)}, {"blur_screenshots": (False, True)}]
