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


def test_throttling_counts_only_failures_inside_the_window(
    auth: tuple[ServerAuth, RecordingMailer, FakeClock],
) -> None:
    service, _, clock = auth
    for _ in range(9):
        with pytest.raises(AuthError):
            service.login("ann", "wrong password")
    clock.advance(minutes=15)  # those nine leave the window
    for _ in range(9):
        with pytest.raises(AuthError):
            service.login("ann", "wrong password")
    assert service.login("ann", "correct horse").sent_to == "a***@example.com"
    with pytest.raises(AuthError):
        service.login("ann", "wrong password")
    with pytest.raises(AuthError) as caught:
        service.login("ann", "correct horse")
    assert caught.value.code == "too_many_attempts" and caught.value.retry_after_seconds
