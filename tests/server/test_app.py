"""Sign-in routes and error shapes through app.test_client(), on SQLite and PostgreSQL.

Codes are read from the file outbox (the embedded default); the real SMTP path is covered in
tests/integration/test_otp_mail.py.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from server_support import Server, ServerSetup, bearer, latest_code

PASSWORD = "correct horse battery"


@pytest.fixture
def server_setup() -> ServerSetup:
    """An admin (ann) and a user (bob), with a 64 KiB body cap."""
    return ServerSetup(password=PASSWORD, overrides={"VINOVA_MAX_BODY_BYTES": "65536"})


def login(server: Server, username: str = "bob", password: str = PASSWORD) -> Any:
    return server.client.post("/auth/login", json={"username": username, "password": password})


def still_serves(server: Server) -> bool:
    return server.client.get("/health").status_code == 200


def error_code(response: Any) -> str:
    return str(response.get_json()["error"]["code"])


# --------------------------------------------------------------------------- login / verify
def test_login_mails_a_code_to_the_registered_address_and_verify_returns_a_token(server: Server) -> None:
    response = login(server, "bob")
    assert response.status_code == 200
    body = response.get_json()
    assert body["sent_to"] == "b***@example.com"
    code = server.code_for("bob@example.com")
    verified = server.client.post("/auth/verify", json={"challenge_id": body["challenge_id"], "code": code})
    assert verified.status_code == 200
    token_body = verified.get_json()
    assert token_body["username"] == "bob" and token_body["is_admin"] is False
    assert len(token_body["token"]) >= 43  # 256 bits, URL-safe base64
    me = server.client.get("/auth/me", headers=bearer(token_body["token"]))
    assert me.get_json()["username"] == "bob"


def test_the_code_goes_only_to_the_account_address_never_one_the_client_supplies(server: Server) -> None:
    response = server.client.post(
        "/auth/login", json={"username": "bob", "password": PASSWORD, "email": "mallory@evil.test"}
    )
    assert response.status_code == 200
    assert latest_code(server.data_dir, "bob@example.com")
    with pytest.raises(AssertionError):
        latest_code(server.data_dir, "mallory@evil.test")


def test_wrong_username_and_wrong_password_get_the_same_answer(server: Server) -> None:
    unknown = login(server, "nobody")
    wrong = login(server, "bob", "wrong password")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.get_json() == wrong.get_json()
    assert error_code(unknown) == "invalid_credentials"


def test_a_code_expires_after_five_minutes(server: Server) -> None:
    challenge_id = login(server).get_json()["challenge_id"]
    code = server.code_for("bob@example.com")
    server.clock.advance(minutes=5)
    response = server.client.post("/auth/verify", json={"challenge_id": challenge_id, "code": code})
    assert response.status_code == 401 and error_code(response) == "code_expired"
    assert still_serves(server)


def test_a_code_works_once(server: Server) -> None:
    challenge_id = login(server).get_json()["challenge_id"]
    code = server.code_for("bob@example.com")
    first = server.client.post("/auth/verify", json={"challenge_id": challenge_id, "code": code})
    again = server.client.post("/auth/verify", json={"challenge_id": challenge_id, "code": code})
    assert first.status_code == 200
    assert again.status_code == 401 and error_code(again) == "code_used"


def test_the_fifth_wrong_code_kills_the_challenge_and_the_sixth_attempt_is_refused(server: Server) -> None:
    challenge_id = login(server).get_json()["challenge_id"]
    code = server.code_for("bob@example.com")
    wrong = "000000" if code != "000000" else "111111"
    statuses = [
        server.client.post("/auth/verify", json={"challenge_id": challenge_id, "code": wrong})
        for _ in range(5)
    ]
    assert [r.status_code for r in statuses] == [401, 401, 401, 401, 429]
    assert error_code(statuses[0]) == "invalid_code" and error_code(statuses[4]) == "challenge_locked"
    sixth = server.client.post("/auth/verify", json={"challenge_id": challenge_id, "code": code})
    assert sixth.status_code == 429 and error_code(sixth) == "challenge_locked"
    assert still_serves(server)


def test_an_unknown_challenge_is_an_invalid_code(server: Server) -> None:
    response = server.client.post("/auth/verify", json={"challenge_id": "nope", "code": "123456"})
    assert response.status_code == 401 and error_code(response) == "invalid_code"


def test_resend_waits_thirty_seconds_and_replaces_the_old_code(server: Server) -> None:
    challenge_id = login(server).get_json()["challenge_id"]
    old_code = server.code_for("bob@example.com")
    too_soon = server.client.post("/auth/resend", json={"challenge_id": challenge_id})
    assert too_soon.status_code == 429 and error_code(too_soon) == "resend_too_soon"
    assert 1 <= int(too_soon.headers["Retry-After"]) <= 30
    server.clock.advance(seconds=30)
    resent = server.client.post("/auth/resend", json={"challenge_id": challenge_id})
    assert resent.status_code == 200 and resent.get_json()["sent_to"] == "b***@example.com"
    new_code = server.code_for("bob@example.com")
    if new_code != old_code:  # 1 in a million they coincide
        stale = server.client.post("/auth/verify", json={"challenge_id": challenge_id, "code": old_code})
        assert stale.status_code == 401 and error_code(stale) == "invalid_code"
    fresh = server.client.post("/auth/verify", json={"challenge_id": challenge_id, "code": new_code})
    assert fresh.status_code == 200


def test_the_eleventh_password_attempt_within_fifteen_minutes_is_throttled(server: Server) -> None:
    for _ in range(10):
        assert login(server, "bob", "wrong password").status_code == 401
    eleventh = login(server, "bob", PASSWORD)
    assert eleventh.status_code == 429 and error_code(eleventh) == "too_many_attempts"
    retry_after = int(eleventh.headers["Retry-After"])
    assert 1 <= retry_after <= 30 * 60  # no 15-minute span holds more than 10: up to two windows
    assert login(server, "ann").status_code == 200  # other accounts are not affected
    server.clock.advance(seconds=retry_after)
    assert login(server, "bob", PASSWORD).status_code == 200


# --------------------------------------------------------------------------- tokens
def test_missing_bad_and_malformed_tokens_get_401(server: Server) -> None:
    basic = {"Authorization": "Basic Ym9iOnB3"}
    for headers in ({}, bearer("not-a-token"), basic, {"Authorization": "Bearer"}):
        response = server.client.get("/get-config", headers=headers)
        assert response.status_code == 401 and error_code(response) == "unauthorized"


def test_logout_revokes_the_token(server: Server) -> None:
    token = server.sign_in("bob")
    assert server.client.get("/get-config", headers=bearer(token)).status_code == 200
    assert server.client.post("/auth/logout", headers=bearer(token)).status_code == 204
    response = server.client.get("/get-config", headers=bearer(token))
    assert response.status_code == 401 and error_code(response) == "unauthorized"


def test_a_token_expires_after_its_lifetime(server: Server) -> None:
    # Tokens slide (issue 11): they end 30 days (VINOVA_TOKEN_IDLE_DAYS) after their last use.
    token = server.sign_in("bob")
    server.clock.advance(seconds=30 * 24 * 3600 - 1)
    assert server.client.get("/get-config", headers=bearer(token)).status_code == 200
    server.clock.advance(seconds=30 * 24 * 3600)
    assert server.client.get("/get-config", headers=bearer(token)).status_code == 401


def test_disabling_an_account_stops_its_tokens_at_once_and_blocks_sign_in(server: Server) -> None:
    token = server.sign_in("bob")
    runner = server.app.test_cli_runner()
    assert runner.invoke(args=["disable-user", "bob"]).exit_code == 0
    assert server.client.get("/get-config", headers=bearer(token)).status_code == 401
    assert login(server, "bob").status_code == 401
    assert runner.invoke(args=["enable-user", "bob"]).exit_code == 0
    assert login(server, "bob").status_code == 200


# --------------------------------------------------------------------------- bad input and error shapes
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "bad_request"),
        (b"[1, 2]", 400, "bad_request"),
        (b"null", 400, "bad_request"),
        (b"", 400, "bad_request"),
        (b'{"username": 5, "password": "x"}', 400, "validation_error"),
        (b'{"username": "bob"}', 400, "validation_error"),
    ],
)
def test_malformed_login_bodies_are_refused_and_the_server_keeps_serving(
    server: Server, body: bytes, status: int, code: str
) -> None:
    response = server.client.post("/auth/login", data=body, content_type="application/json")
    assert response.status_code == status and error_code(response) == code
    assert still_serves(server)


def test_a_validation_error_names_each_bad_field(server: Server) -> None:
    response = server.client.post("/auth/verify", json={"challenge_id": 1, "code": None})
    assert set(response.get_json()["error"]["fields"]) == {"challenge_id", "code"}


def test_an_oversized_body_gets_413_json(server: Server) -> None:
    response = server.client.post(
        "/auth/login", data=b'{"username": "' + b"a" * 70000 + b'"}', content_type="application/json"
    )
    assert response.status_code == 413 and error_code(response) == "payload_too_large"
    assert still_serves(server)


def test_unknown_paths_and_wrong_methods_answer_json(server: Server) -> None:
    missing = server.client.get("/no/such/page")
    assert missing.status_code == 404 and error_code(missing) == "not_found"
    wrong_method = server.client.delete("/get-config")
    assert wrong_method.status_code == 405 and error_code(wrong_method) == "method_not_allowed"
    assert "GET" in wrong_method.headers["Allow"]


def test_an_unexpected_error_is_a_bare_500_with_a_request_id_in_the_log(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    def explode() -> str:
        raise RuntimeError("secret detail from the database")

    server.app.add_url_rule("/explode", "explode", explode)
    with caplog.at_level(logging.ERROR):
        response = server.client.get("/explode")
    assert response.status_code == 500 and error_code(response) == "internal_error"
    assert "secret detail" not in response.get_data(as_text=True)
    request_id = response.headers["X-Request-Id"]
    assert request_id in response.get_json()["error"]["message"]
    assert any(request_id in record.getMessage() and record.exc_info for record in caplog.records)
    assert still_serves(server)


def test_passwords_and_codes_never_reach_the_log(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        token = server.sign_in("bob")
        login(server, "bob", "wrong password but long")
    code = server.code_for("bob@example.com")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert PASSWORD not in logged and "wrong password but long" not in logged
    assert code not in logged and token not in logged
    assert "outbox" in logged  # the log says where the mail went


# --------------------------------------------------------------------------- CLI
def test_cli_creates_lists_and_refuses_short_passwords(server: Server) -> None:
    runner = server.app.test_cli_runner()
    created = runner.invoke(
        args=["create-user", "carol", "--email", "carol@example.com", "--admin", "--password-stdin"],
        input="a long enough password\n",
    )
    assert created.exit_code == 0, created.output
    prompted = runner.invoke(
        args=["create-user", "dave", "--email", "dave@example.com"], input="passw0rd-dave\npassw0rd-dave\n"
    )
    assert prompted.exit_code == 0, prompted.output
    short = runner.invoke(
        args=["create-user", "erin", "--email", "erin@example.com", "--password-stdin"], input="short\n"
    )
    assert short.exit_code != 0 and "at least 8" in short.output
    listed = runner.invoke(args=["list-users"]).output
    assert "carol\tcarol@example.com\tadmin" in listed and "dave" in listed and "erin" not in listed
    assert "a long enough password" not in listed
    assert login(server, "carol", "a long enough password").status_code == 200
