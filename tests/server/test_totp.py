"""Authenticator apps (RFC 6238): our code check against the RFC's vectors and oathtool, then the API.

The sign-in tests run on SQLite and PostgreSQL with a fake clock, through ``app.test_client()``.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from server_support import Server, ServerSetup, bearer
from sqlalchemy import select
from totp_support import app_code

from server.db.models import User
from server.db.totp_data import RecoveryCode
from server.totp import matching_step, step_at

PASSWORD = "correct horse battery"
# Aligned 5 s into a time step, so "now" and "now + 30 s" are different steps for sure.
START = datetime(2026, 12, 2, 9, 0, 5, tzinfo=UTC)

# RFC 6238 Appendix B: the seeds are ASCII "1234567890" repeated to 20, 32 and 64 bytes; 8 digits.
SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize(("unix_time", "sha1", "sha256", "sha512"), VECTORS)
def test_the_rfc_6238_vectors_pass_our_check_at_their_own_step(
    unix_time: int, sha1: str, sha256: str, sha512: str
) -> None:
    moment = datetime.fromtimestamp(unix_time, UTC)
    for name, code in (("sha1", sha1), ("sha256", sha256), ("sha512", sha512)):
        secret = base64.b32encode(SEEDS[name]).decode()
        digest = getattr(hashlib, name)
        assert matching_step(secret, code, moment, digits=8, digest=digest, window_steps=0) == unix_time // 30
        wrong = f"{(int(code) + 1) % 10**8:08d}"
        assert matching_step(secret, wrong, moment, digits=8, digest=digest) is None


@pytest.mark.skipif(shutil.which("oathtool") is None,
                    reason="oathtool is not installed (scripts/install-apt.sh)")
@pytest.mark.parametrize("moment", [START, datetime(2031, 5, 17, 23, 59, 59, tzinfo=UTC),
                                    datetime(2001, 9, 9, 1, 46, 40, tzinfo=UTC)])
def test_our_check_agrees_with_oathtool_on_the_same_secret_and_time(moment: datetime) -> None:
    secret = pyotp.random_base32()
    stamp = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    answer = subprocess.run(["oathtool", "--totp", "-b", secret, "--now", stamp],
                            capture_output=True, text=True, check=True, timeout=10)
    code = answer.stdout.strip()
    assert len(code) == 6 and code.isdigit()
    assert matching_step(secret, code, moment, window_steps=0) == step_at(moment)
    # The step before and after are oathtool's too (its -w window), and ours within ±1 only.
    window = subprocess.run(["oathtool", "--totp", "-b", secret, "--now", stamp, "-w", "2"],
                            capture_output=True, text=True, check=True, timeout=10).stdout.split()
    assert window[0] == code
    assert matching_step(secret, window[1], moment) == step_at(moment) + 1
    assert matching_step(secret, window[2], moment) is None


# --------------------------------------------------------------------------- the API
@pytest.fixture
def server_setup() -> ServerSetup:
    """ann (admin) and bob, signed in through the mailed code at START."""
    return ServerSetup(password=PASSWORD, start=START, signed_in=True)


def post(server: Server, path: str, body: dict[str, Any], token: str | None = None) -> Any:
    return server.client.post(path, json=body, headers=bearer(token) if token else {})


def turn_on(server: Server, username: str) -> tuple[str, list[str]]:
    """Set up and confirm the app of ``username``; its secret and recovery codes."""
    token = server.tokens[username]
    setup = post(server, "/auth/totp/setup", {}, token)
    assert setup.status_code == 200
    secret = setup.get_json()["secret"]
    assert setup.get_json()["otpauth_uri"].startswith(f"otpauth://totp/Vinova:{username}?secret={secret}")
    confirmed = post(server, "/auth/totp/confirm", {"code": app_code(secret, server.clock())}, token)
    assert confirmed.status_code == 200, confirmed.get_json()
    return secret, confirmed.get_json()["recovery_codes"]


def app_sign_in(server: Server, username: str, code: str) -> Any:
    login = post(server, "/auth/login", {"username": username, "password": PASSWORD})
    assert login.status_code == 200 and login.get_json()["method"] == "totp"
    return post(server, "/auth/verify", {"challenge_id": login.get_json()["challenge_id"], "code": code})


def mails(server: Server) -> int:
    return len(list((server.data_dir / "outbox").glob("*.eml")))


def test_a_totp_sign_in_mails_nothing_and_takes_each_step_once_within_one_step(server: Server) -> None:
    secret, _codes = turn_on(server, "bob")  # used the step of START
    sent_before = mails(server)
    replay = app_sign_in(server, "bob", app_code(secret, START))
    assert (replay.status_code, replay.get_json()["error"]["code"]) == (401, "invalid_code")
    assert app_sign_in(server, "bob", app_code(secret, START, steps=2)).status_code == 401  # +2: refused
    ahead = app_sign_in(server, "bob", app_code(secret, START, steps=1))  # +1: accepted
    assert ahead.status_code == 200 and ahead.get_json()["username"] == "bob"
    server.clock.advance(90)  # now three steps after START
    assert app_sign_in(server, "bob", app_code(secret, START, steps=1)).status_code == 401  # -2 (and used)
    behind = app_sign_in(server, "bob", app_code(secret, START, steps=2))  # -1: accepted
    assert behind.status_code == 200
    assert mails(server) == sent_before
    who = server.client.get("/auth/me", headers=bearer(behind.get_json()["token"]))
    assert who.get_json()["totp_enabled"] is True


def test_a_recovery_code_signs_in_once(server: Server) -> None:
    _secret, codes = turn_on(server, "bob")
    assert len(codes) == 10 and len(set(codes)) == 10
    first = app_sign_in(server, "bob", codes[3].upper().replace("-", " "))  # as typed from paper
    assert first.status_code == 200
    again = app_sign_in(server, "bob", codes[3])
    assert (again.status_code, again.get_json()["error"]["code"]) == (401, "invalid_code")
    assert app_sign_in(server, "bob", codes[4]).status_code == 200
    with server.context.database.session() as db:
        stored = list(db.scalars(select(RecoveryCode.code_hash)))
    assert len(stored) == 10
    assert not any(code.replace("-", "") in digest for code in codes for digest in stored)


def test_wrong_app_codes_meet_the_email_codes_limits(server: Server) -> None:
    turn_on(server, "bob")
    login = post(server, "/auth/login", {"username": "bob", "password": PASSWORD}).get_json()
    answers = [post(server, "/auth/verify", {"challenge_id": login["challenge_id"], "code": f"{n:06d}"})
               for n in range(6)]
    assert [a.status_code for a in answers] == [401] * 4 + [429, 429]
    assert answers[4].get_json()["error"]["code"] == "challenge_locked"
    resend = post(server, "/auth/resend", {"challenge_id": login["challenge_id"]})
    assert resend.status_code in (409, 429)


def test_resend_is_refused_for_an_app_sign_in(server: Server) -> None:
    turn_on(server, "bob")
    login = post(server, "/auth/login", {"username": "bob", "password": PASSWORD}).get_json()
    assert login["sent_to"] == ""
    resend = post(server, "/auth/resend", {"challenge_id": login["challenge_id"]})
    assert (resend.status_code, resend.get_json()["error"]["code"]) == (409, "no_mail_for_app_sign_in")


def test_setup_confirm_and_turn_off_refuse_bad_input_by_field(server: Server) -> None:
    token = server.tokens["bob"]
    early = post(server, "/auth/totp/confirm", {"code": "123456"}, token)
    assert (early.status_code, early.get_json()["error"]["code"]) == (409, "totp_not_set_up")
    secret = post(server, "/auth/totp/setup", {}, token).get_json()["secret"]
    wrong = post(server, "/auth/totp/confirm", {"code": app_code(secret, START, steps=3)}, token)
    assert wrong.status_code == 400 and "code" in wrong.get_json()["error"]["fields"]
    missing = post(server, "/auth/totp/confirm", {}, token)
    assert missing.status_code == 400 and "code" in missing.get_json()["error"]["fields"]
    assert post(server, "/auth/totp/confirm", {"code": app_code(secret, START)}, token).status_code == 200
    again = post(server, "/auth/totp/setup", {}, token)
    assert (again.status_code, again.get_json()["error"]["code"]) == (409, "totp_already_enabled")
    assert server.client.post("/auth/totp/setup").status_code == 401
    bad_password = server.client.delete("/auth/totp", json={"password": "not it"}, headers=bearer(token))
    assert bad_password.status_code == 400 and "password" in bad_password.get_json()["error"]["fields"]
    off = server.client.delete("/auth/totp", json={"password": PASSWORD}, headers=bearer(token))
    assert off.status_code == 204
    login = post(server, "/auth/login", {"username": "bob", "password": PASSWORD}).get_json()
    assert login["method"] == "email" and login["sent_to"]


def test_the_secret_is_sealed_at_rest_and_bound_to_its_account(server: Server) -> None:
    secret, _codes = turn_on(server, "bob")
    with server.context.database.session() as db:
        stored = db.scalar(select(User.totp_secret).where(User.username == "bob"))
        assert stored is not None and stored.startswith("v1:") and secret not in stored
        # Moved onto another account the sealed secret opens no more: ann's sign-ins stay email ones.
        ann = db.scalar(select(User).where(User.username == "ann"))
        assert ann is not None
        ann.totp_secret, ann.totp_enabled_at = stored, START
    login = post(server, "/auth/login", {"username": "ann", "password": PASSWORD}).get_json()
    assert login["method"] == "email"  # a secret that does not open locks nobody out: a code is mailed
    code = app_code(secret, server.clock() + timedelta(seconds=30))
    moved = post(server, "/auth/verify", {"challenge_id": login["challenge_id"], "code": code})
    assert moved.status_code == 401


def test_two_concurrent_sign_ins_with_one_app_code_get_one_token(server: Server) -> None:
    import threading

    from contract.errors import AuthError

    secret, _codes = turn_on(server, "bob")
    auth = server.context.auth
    challenges = [auth.login("bob", PASSWORD, "198.51.100.1").challenge_id for _ in range(4)]
    code = app_code(secret, START, steps=1)
    results: list[str] = []
    barrier = threading.Barrier(len(challenges))

    def attempt(challenge_id: str) -> None:
        barrier.wait(5)
        try:
            results.append(auth.verify(challenge_id, code).token)
        except AuthError as exc:
            results.append(exc.code)

    threads = [threading.Thread(target=attempt, args=(challenge_id,)) for challenge_id in challenges]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(result == "invalid_code" for result in results) == [False, True, True, True]
