"""Server-side auth units: scrypt hashes, masking, codes and tokens kept only as hashes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from server_support import FakeClock
from sqlalchemy import select

import auth_manager
from auth_manager import ServerAuth, hash_password, mask_email, verify_password
from contract.errors import AuthError, ConfigError
from server.db.database import Database
from server.db.models import AuthToken, LoginChallenge, User
from server.passwords import DUMMY_PASSWORD_HASH


class RecordingMailer:
    """Keeps mails in memory (a fake behind the Mailer seam)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, to_address: str, subject: str, body: str) -> None:
        self.sent.append((to_address, subject, body))

    def last_code(self) -> str:
        return next(word for word in self.sent[-1][2].split() if word.isdigit() and len(word) == 6)


@pytest.fixture
def auth(tmp_path: Path) -> Iterator[tuple[ServerAuth, RecordingMailer, FakeClock]]:
    database = Database(f"sqlite:///{tmp_path / 'auth.db'}")
    database.migrate()
    mailer = RecordingMailer()
    clock = FakeClock()
    service = ServerAuth(database, mailer, secret_key="k" * 32, token_ttl=timedelta(days=7), clock=clock)
    service.create_user("ann", "ann@example.com", "correct horse")
    yield service, mailer, clock
    database.dispose()


def test_a_password_hash_is_scrypt_salted_and_verifies() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first.startswith(f"scrypt${auth_manager.SCRYPT_N}$") and first != second
    assert verify_password("correct horse", first) and verify_password("correct horse", second)
    assert not verify_password("correct horsf", first)
    assert not verify_password("correct horse", "not-a-hash")


def test_email_addresses_are_masked_to_the_first_letter() -> None:
    assert mask_email("alice@example.com") == "a***@example.com"


def test_new_accounts_need_a_good_name_address_and_an_eight_character_password(
    auth: tuple[ServerAuth, RecordingMailer, FakeClock],
) -> None:
    service, _, _ = auth
    with pytest.raises(ConfigError) as caught:
        service.create_user("bad name!", "not-an-address", "short")
    assert set(caught.value.errors) == {"username", "email", "password"}
    with pytest.raises(ConfigError) as taken:
        service.create_user("ann", "other@example.com", "long enough")
    assert taken.value.errors == {"username": "is already taken"}


def test_the_code_and_token_are_stored_only_as_hashes(
    auth: tuple[ServerAuth, RecordingMailer, FakeClock],
) -> None:
    service, mailer, _ = auth
    issued = service.login("ann", "correct horse")
    code = mailer.last_code()
    assert mailer.sent[-1][0] == "ann@example.com"
    token = service.verify(issued.challenge_id, code)
    with service.database.session() as session:
        challenge = session.get(LoginChallenge, issued.challenge_id)
        stored_token = session.scalar(select(AuthToken))
        user = session.scalar(select(User))
    assert challenge is not None and code not in challenge.code_hash
    assert stored_token is not None and stored_token.token_hash != token.token
    assert stored_token.token_hash == auth_manager.token_digest(token.token)
    assert user is not None and "correct horse" not in user.password_hash


def test_codes_are_six_random_digits(auth: tuple[ServerAuth, RecordingMailer, FakeClock]) -> None:
    service, mailer, clock = auth
    codes = set()
    for _ in range(5):
        service.login("ann", "correct horse")
        codes.add(mailer.last_code())
        clock.advance(seconds=1)
    assert all(len(code) == 6 and code.isdigit() for code in codes)
    assert len(codes) >= 4


def test_a_failed_mail_leaves_no_challenge_behind(tmp_path: Path) -> None:
    from contract.errors import TransientError

    class BrokenMailer:
        def send(self, to_address: str, subject: str, body: str) -> None:
            raise TransientError("smtp down")

    database = Database(f"sqlite:///{tmp_path / 'broken.db'}")
    database.migrate()
    service = ServerAuth(database, BrokenMailer(), secret_key="k" * 32, token_ttl=timedelta(days=1),
                         clock=FakeClock())
    service.create_user("ann", "ann@example.com", "correct horse")
    with pytest.raises(TransientError):
        service.login("ann", "correct horse")
    with database.session() as session:
        assert session.scalar(select(LoginChallenge)) is None
    database.dispose()


def _wrong(service: ServerAuth, name: str, address: str) -> str:
    with pytest.raises(AuthError) as caught:
        service.login(name, "wrong password", address)
    return caught.value.code


def _fail_in_a_row(service: ServerAuth, name: str, count: int) -> None:
    """Count ``count`` consecutive failures for ``name`` straight on its counter (no hashing)."""
    from server import sign_in_limits
    from server.db import throttle

    key = throttle.counter_key("name", name.lower())
    with service.database.session() as session:
        for _ in range(count):
            throttle.reserve_run(session, sign_in_limits.NAME_CONSECUTIVE_FAILURES, key, service.clock())


def test_no_fifteen_minutes_hold_more_than_ten_failed_passwords_per_name_and_address(
    auth: tuple[ServerAuth, RecordingMailer, FakeClock],
) -> None:
    service, _, clock = auth
    assert [_wrong(service, "ann", "10.0.0.1") for _ in range(10)] == ["invalid_credentials"] * 10
    with pytest.raises(AuthError) as refused:
        service.login("ann", "correct horse", "10.0.0.1")  # even the right password waits
    assert refused.value.code == "too_many_attempts"
    assert 1 <= (refused.value.retry_after_seconds or 0) <= 30 * 60
    assert service.login("ann", "correct horse", "10.0.0.2").sent_to == "a***@example.com"
    clock.advance(seconds=refused.value.retry_after_seconds or 0)
    assert service.login("ann", "correct horse", "10.0.0.1").sent_to == "a***@example.com"


def test_an_unknown_name_is_counted_and_answered_exactly_like_a_real_account(
    auth: tuple[ServerAuth, RecordingMailer, FakeClock],
) -> None:
    service, _, _ = auth
    answers = {}
    for name in ("ann", "nobody"):
        codes = [_wrong(service, name, "10.0.0.1") for _ in range(11)]
        with pytest.raises(AuthError) as eleventh:
            service.login(name, "correct horse", "10.0.0.1")
        answers[name] = (codes, eleventh.value.code, str(eleventh.value), eleventh.value.retry_after_seconds)
    assert answers["ann"] == answers["nobody"]
    assert answers["ann"][0] == ["invalid_credentials"] * 10 + ["too_many_attempts"]


def test_names_are_counted_lowercased(auth: tuple[ServerAuth, RecordingMailer, FakeClock]) -> None:
    service, _, _ = auth
    for index in range(10):
        _wrong(service, "ANN" if index % 2 else "Ann", "10.0.0.1")
    assert _wrong(service, "ann", "10.0.0.1") == "too_many_attempts"


def test_one_address_trying_many_names_is_stopped_at_a_hundred_failures(
    auth: tuple[ServerAuth, RecordingMailer, FakeClock],
) -> None:
    service, _, _ = auth
    codes = [_wrong(service, f"name{index}", "10.0.0.9") for index in range(101)]
    assert codes.count("invalid_credentials") == 100 and codes[-1] == "too_many_attempts"
    assert service.login("ann", "correct horse", "10.0.0.10").sent_to == "a***@example.com"


def test_a_hundred_consecutive_failures_lock_the_name_everywhere_and_mail_the_admins_once(
    auth: tuple[ServerAuth, RecordingMailer, FakeClock],
) -> None:
    service, mailer, _ = auth
    service.create_user("root", "root@example.com", "root password", admin=True)
    _fail_in_a_row(service, "ann", 95)  # as 95 wrong passwords from 95 addresses would
    codes = [_wrong(service, "ann", f"10.0.0.{index}") for index in range(10)]
    assert codes.count("invalid_credentials") == 5 and set(codes[5:]) == {"too_many_attempts"}
    alerts = [sent for sent in mailer.sent if sent[0] == "root@example.com"]
    assert len(alerts) == 1 and "ann" in alerts[0][1] and "unlock-user ann" in alerts[0][2]
    with pytest.raises(AuthError) as locked:
        service.login("ann", "correct horse", "192.0.2.1")
    assert locked.value.code == "too_many_attempts" and service.is_locked("ann")
    service.unlock("ann")
    assert service.login("ann", "correct horse", "192.0.2.1").sent_to == "a***@example.com"


def test_a_right_password_ends_the_run_of_failures(
    auth: tuple[ServerAuth, RecordingMailer, FakeClock],
) -> None:
    service, mailer, _ = auth
    _fail_in_a_row(service, "ann", 98)
    assert _wrong(service, "ann", "10.1.0.1") == "invalid_credentials"  # the 99th
    service.login("ann", "correct horse", "10.2.0.1")
    _fail_in_a_row(service, "ann", 98)
    assert _wrong(service, "ann", "10.3.0.1") == "invalid_credentials"  # 99 again, not 100
    assert not service.is_locked("ann") and all(sent[0] == "ann@example.com" for sent in mailer.sent)


def test_ten_wrong_codes_across_challenges_refuse_even_the_right_code_until_the_window_passes(
    auth: tuple[ServerAuth, RecordingMailer, FakeClock],
) -> None:
    service, mailer, clock = auth
    answers = []
    for _ in range(2):
        challenge = service.login("ann", "correct horse", "10.0.0.1")
        wrong = "000000" if mailer.last_code() != "000000" else "111111"
        for _ in range(5):
            with pytest.raises(AuthError) as caught:
                service.verify(challenge.challenge_id, wrong)
            answers.append(caught.value.code)
    assert answers == (["invalid_code"] * 4 + ["challenge_locked"]) * 2
    third = service.login("ann", "correct horse", "10.0.0.1")
    with pytest.raises(AuthError) as refused:
        service.verify(third.challenge_id, mailer.last_code())
    assert refused.value.code == "too_many_attempts" and refused.value.retry_after_seconds
    clock.advance(seconds=refused.value.retry_after_seconds)
    fresh = service.login("ann", "correct horse", "10.0.0.1")
    assert service.verify(fresh.challenge_id, mailer.last_code()).username == "ann"


def test_at_most_five_codes_are_mailed_per_account_per_fifteen_minutes(
    auth: tuple[ServerAuth, RecordingMailer, FakeClock],
) -> None:
    service, mailer, clock = auth
    first = service.login("ann", "correct horse", "10.0.0.1")
    clock.advance(seconds=30)
    service.resend(first.challenge_id)
    for _ in range(3):
        service.login("ann", "correct horse", "10.0.0.1")
    with pytest.raises(AuthError) as refused:
        service.login("ann", "correct horse", "10.0.0.1")
    assert refused.value.code == "too_many_attempts" and len(mailer.sent) == 5
    assert 1 <= (refused.value.retry_after_seconds or 0) <= 30 * 60


def test_a_right_code_gives_one_token_and_wrong_codes_after_it_are_refused(
    auth: tuple[ServerAuth, RecordingMailer, FakeClock],
) -> None:
    service, mailer, _ = auth
    challenge = service.login("ann", "correct horse", "10.0.0.1")
    code = mailer.last_code()
    service.verify(challenge.challenge_id, code)
    with pytest.raises(AuthError) as again:
        service.verify(challenge.challenge_id, code)
    assert again.value.code == "code_used"
    with service.database.session() as session:
        assert len(list(session.scalars(select(AuthToken)))) == 1


def test_enabling_a_disabled_account_again_revives_none_of_its_tokens(
    auth: tuple[ServerAuth, RecordingMailer, FakeClock],
) -> None:
    service, mailer, _ = auth
    challenge = service.login("ann", "correct horse", "10.0.0.1")
    token = service.verify(challenge.challenge_id, mailer.last_code()).token
    service.set_enabled("ann", False)
    service.set_enabled("ann", True)
    with pytest.raises(AuthError):
        service.authenticate(token)


def test_an_unknown_name_checks_a_dummy_hash_with_the_real_parameters() -> None:
    real = hash_password("correct horse").split("$")
    dummy = DUMMY_PASSWORD_HASH.split("$")
    assert dummy[:4] == real[:4] and len(dummy[5]) == len(real[5])
    assert not verify_password("correct horse", DUMMY_PASSWORD_HASH)


def test_expired_challenges_tokens_and_outbox_mail_are_purged_after_a_day(tmp_path: Path) -> None:
    import os

    from server.mailer import FileOutbox

    database = Database(f"sqlite:///{tmp_path / 'purge.db'}")
    database.migrate()
    outbox = FileOutbox(tmp_path / "outbox", "vinova@example.com")
    clock = FakeClock()
    service = ServerAuth(database, outbox, secret_key="k" * 32, token_ttl=timedelta(hours=1), clock=clock)
    service.create_user("ann", "ann@example.com", "correct horse")
    challenge = service.login("ann", "correct horse", "10.0.0.1")
    mail = next((tmp_path / "outbox").glob("*.eml"))
    code = next(w for w in mail.read_text().split() if w.isdigit() and len(w) == 6)
    service.verify(challenge.challenge_id, code)
    service.login("ann", "correct horse", "10.0.0.1")
    for path in (tmp_path / "outbox").glob("*.eml"):  # the files' own age, as the clock says
        stamp = (clock() - timedelta(minutes=1)).timestamp()
        os.utime(path, (stamp, stamp))
    with database.session() as session:
        assert session.scalar(select(LoginChallenge)) is not None
    clock.advance(hours=26)
    assert service.purge(clock()) >= 3
    with database.session() as session:
        assert session.scalar(select(LoginChallenge)) is None and session.scalar(select(AuthToken)) is None
    assert list((tmp_path / "outbox").glob("*.eml")) == []
    database.dispose()
