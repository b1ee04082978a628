"""The agent's HTTP client over real HTTP: each kind of answer becomes the right error class."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask, Response, request
from support import free_port, live_server

from agent.activity_answer import ActivityAnswer, BatchRefused, Refusal
from agent.client import ServerClient
from agent.device import Device
from contract.errors import AuthError, PermanentError, SessionExpired, TransientError


class Script:
    """What the scripted server answers next: (status, body, headers)."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, str, dict[str, str]]] = []
        self.requests: list[dict[str, Any]] = []


@pytest.fixture
def scripted() -> Iterator[tuple[Script, str]]:
    script = Script()
    app = Flask("scripted")

    @app.route("/<path:path>", methods=["GET", "POST"])
    def answer(path: str) -> Response:
        script.requests.append(
            {"path": path, "headers": dict(request.headers), "json": request.get_json(silent=True)}
        )
        status, body, headers = script.answers.pop(0)
        return Response(body, status=status, headers=headers, content_type="application/json")

    with live_server(app) as url:
        yield script, url


def error_body(code: str) -> str:
    return f'{{"error": {{"code": "{code}", "message": "refused: {code}"}}}}'


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_retryable_statuses_become_transient(scripted: tuple[Script, str], status: int) -> None:
    script, url = scripted
    script.answers = [(status, error_body("x"), {"Retry-After": "7"})]
    client = ServerClient(url, token="t")
    with pytest.raises(TransientError) as caught:
        client.post_activity([])
    assert caught.value.retry_after_seconds == 7.0


def test_401_on_a_token_call_ends_the_session(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    script.answers = [(401, error_body("unauthorized"), {})]
    with pytest.raises(SessionExpired):
        ServerClient(url, token="t").get_config(None)


def test_other_4xx_are_permanent_and_carry_the_code(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    script.answers = [(400, error_body("validation_error"), {})]
    with pytest.raises(PermanentError, match="validation_error"):
        ServerClient(url, token="t").post_activity([{"minute_start": "x"}])


def test_an_unreachable_server_is_transient() -> None:
    client = ServerClient(f"http://127.0.0.1:{free_port()}", token="t", timeout_seconds=2)
    with pytest.raises(TransientError, match="cannot reach the server"):
        client.get_config(None)


def test_get_config_sends_if_none_match_and_understands_304(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    script.answers = [(304, "", {"ETag": '"abc"'})]
    answer = ServerClient(url, token="secret-token").get_config('"abc"')
    assert answer.payload is None and answer.etag == '"abc"'
    assert script.requests[0]["headers"]["If-None-Match"] == '"abc"'
    assert script.requests[0]["headers"]["Authorization"] == "Bearer secret-token"


@pytest.mark.parametrize("body", ["{not json", "[1, 2]"])
def test_a_config_that_is_not_a_json_object_is_permanent(scripted: tuple[Script, str], body: str) -> None:
    script, url = scripted
    script.answers = [(200, body, {})]
    with pytest.raises(PermanentError):
        ServerClient(url, token="t").get_config(None)


def test_sign_in_refusals_keep_the_servers_code_and_wait(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    script.answers = [(429, error_body("too_many_attempts"), {"Retry-After": "840"})]
    with pytest.raises(AuthError) as caught:
        ServerClient(url).login("ann", "wrong password")
    assert caught.value.code == "too_many_attempts"
    assert caught.value.retry_after_seconds == 840


@pytest.mark.parametrize(("status", "code"), [(503, "mail_unavailable"), (500, "internal_error"), (408, "x")])
def test_a_failing_server_during_sign_in_is_transient(
    scripted: tuple[Script, str], status: int, code: str
) -> None:
    script, url = scripted
    script.answers = [(status, error_body(code), {})]
    with pytest.raises(TransientError):
        ServerClient(url).login("ann", "password1")


def test_a_wrong_password_is_a_sign_in_refusal_not_an_ended_session(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    script.answers = [(401, error_body("invalid_credentials"), {})]
    with pytest.raises(AuthError) as caught:
        ServerClient(url).login("ann", "wrong password")
    assert caught.value.code == "invalid_credentials" and not isinstance(caught.value, SessionExpired)


def test_verify_keeps_the_token_for_later_calls(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    script.answers = [
        (200, '{"challenge_id": "c1", "sent_to": "a***@example.com"}', {}),
        (200, '{"token": "tok", "username": "ann", "is_admin": false, "expires_at": "2026-12-02"}', {}),
        (200, '{"accepted": 2}', {}),
    ]
    client = ServerClient(url)
    challenge = client.login("ann", "password1")
    assert challenge.sent_to == "a***@example.com"
    signed_in = client.verify(challenge.challenge_id, "123456")
    assert signed_in.username == "ann" and client.token == "tok"
    assert client.post_activity([{}, {}]).accepted == 2
    assert script.requests[2]["headers"]["Authorization"] == "Bearer tok"


def test_calls_without_a_token_fail_before_sending(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    with pytest.raises(SessionExpired):
        ServerClient(url).post_activity([])
    assert script.requests == []


# ---------------------------------------------------------------- issue 10: devices, refusals, bounds
DEVICE = Device("0123456789abcdef0123456789abcdef", "ann-laptop")


def test_activity_carries_the_device_and_reads_the_refused_minutes(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    answer = ('{"accepted": 1, "refused": [{"index": 1, "field": "samples[1].minute_start",'
              ' "message": "is in the future"}]}')
    script.answers = [(200, answer, {})]
    result = ServerClient(url, token="t", device=DEVICE).post_activity([{}, {}], {"kept_aside": 0})
    assert result == ActivityAnswer(1, (Refusal(1, "samples[1].minute_start", "is in the future"),))
    body = script.requests[0]["json"]
    assert body["device"] == {"id": DEVICE.id, "name": "ann-laptop"}
    assert body["agent"] == {"kept_aside": 0}


def test_a_whole_batch_400_carries_the_fields_the_server_blamed(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    body = ('{"error": {"code": "validation_error", "message": "bad",'
            ' "fields": {"samples[3].keys": "must be a whole number"}}}')
    script.answers = [(400, body, {})]
    with pytest.raises(BatchRefused) as caught:
        ServerClient(url, token="t").post_activity([{}] * 5)
    assert caught.value.sample_refusals(5) == (Refusal(3, "samples[3].keys", "must be a whole number"),)


def test_upload_signing_and_registration_carry_the_device_id(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    signed = '{"url": "http://x/", "headers": {}, "expires_at": "2026-11-25T18:00:00+00:00"}'
    script.answers = [(200, signed, {}), (201, "{}", {})]
    client = ServerClient(url, token="t", device=DEVICE)
    client.sign_upload({"key": "k"})
    client.register_screenshot({"key": "k"})
    assert [request["json"]["device_id"] for request in script.requests] == [DEVICE.id] * 2


def test_a_key_the_server_already_holds_needs_no_upload(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    script.answers = [(409, error_body("already_registered"), {}), (409, error_body("conflict"), {})]
    client = ServerClient(url, token="t")
    assert client.sign_upload({"key": "k"}) is None
    with pytest.raises(PermanentError):  # another conflict is no success
        client.sign_upload({"key": "k"})


def test_a_config_answer_nested_100000_deep_is_refused_plainly(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    script.answers = [(200, '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", {})]
    with pytest.raises(PermanentError, match="not valid JSON"):
        ServerClient(url, token="t").get_config(None)


@pytest.mark.parametrize(("header", "expected"), [("1e9", 3600.0), ("inf", None), ("nan", None), ("-4", 0.0)])
def test_retry_after_from_the_server_is_bounded(
    scripted: tuple[Script, str], header: str, expected: Any
) -> None:
    script, url = scripted
    script.answers = [(503, error_body("x"), {"Retry-After": header})]
    with pytest.raises(TransientError) as caught:
        ServerClient(url, token="t").post_activity([])
    assert caught.value.retry_after_seconds == expected


def test_a_sign_in_refusal_with_retry_after_inf_is_said_not_crashed(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    script.answers = [(429, error_body("too_many_attempts"), {"Retry-After": "inf"})]
    with pytest.raises(AuthError) as caught:
        ServerClient(url).login("ann", "pw")
    assert caught.value.retry_after_seconds is None


class RecordingSession(requests.Session):
    """A Session that records each request's keywords and answers from ``outcome`` (no network)."""

    def __init__(self, outcome: Exception | None = None) -> None:
        super().__init__()
        self.outcome = outcome
        self.calls: list[dict[str, Any]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        self.calls.append(kwargs)
        if self.outcome is not None:
            raise self.outcome
        response = requests.Response()
        response.status_code = 200
        response._content = b'{"username": "ann"}'
        return response


def test_the_ca_bundle_verifies_every_request_over_requests_own_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests lets REQUESTS_CA_BUNDLE override a Session's verify; VINOVA_CA_BUNDLE must win.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "other.pem"))
    bundle = tmp_path / "company-ca.pem"
    with RecordingSession() as session:
        client = ServerClient("https://vinova.example", session=session, token="t", ca_bundle=bundle)
        assert client.whoami() == {"username": "ann"}
        ServerClient("https://vinova.example", session=session, token="t").whoami()
    assert [call["verify"] for call in session.calls] == [str(bundle), True]


def test_an_untrusted_certificate_is_said_plainly_and_names_the_setting() -> None:
    with RecordingSession(requests.exceptions.SSLError("certificate verify failed")) as session:
        client = ServerClient("https://vinova.example", session=session)
        with pytest.raises(TransientError) as caught:
            client.login("ann", "pw")
    assert "not trusted" in str(caught.value) and "VINOVA_CA_BUNDLE" in str(caught.value)
