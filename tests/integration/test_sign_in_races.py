"""Sign-in counters under concurrency, over real HTTP, from several loopback addresses (issue 10 items 10-11).

Before: 60-100 concurrent bad passwords got 17-24 checks against a limit of 10, 40 concurrent
wrong codes up to 24 against 5, and one code gave up to 6 tokens. Each client binds its socket
to its own source address (127.0.0.2, 127.0.0.3), so the server sees different clients.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from server_support import Server, ServerSetup
from sqlalchemy import func, select
from support import live_server

from server.db.models import AuthToken, LoginChallenge, User

THREADS = 60
PASSWORD = "correct horse battery"


@pytest.fixture
def server_setup() -> ServerSetup:
    """bob, a plain account."""
    return ServerSetup(users={"bob": False}, password=PASSWORD)


class SourceAddressAdapter(HTTPAdapter):
    """Connects from a chosen local address (a second client on the loopback network)."""

    def __init__(self, source_address: str) -> None:
        self.source_address = source_address
        super().__init__(pool_connections=4, pool_maxsize=THREADS)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source_address, 0)
        super().init_poolmanager(*args, **kwargs)


@pytest.fixture
def base_url(server: Server) -> Iterator[str]:
    """The test server over real HTTP."""
    with live_server(server.app) as url:
        yield url


def client_from(source_address: str) -> requests.Session:
    """An HTTP client whose connections come from ``source_address``."""
    session = requests.Session()
    session.mount("http://", SourceAddressAdapter(source_address))
    return session


def at_once(count: int, action: Callable[[], requests.Response]) -> Counter[tuple[int, str]]:
    """Run ``action`` on ``count`` threads released together; (status, error code) of each answer."""
    barrier = threading.Barrier(count)

    def one() -> tuple[int, str]:
        barrier.wait(30)
        response = action()
        body = response.json()
        return response.status_code, str(body.get("error", {}).get("code", "ok"))

    with ThreadPoolExecutor(count) as pool:
        return Counter(pool.map(lambda _: one(), range(count)))


def post(client: requests.Session, base_url: str, path: str, body: dict[str, str]) -> requests.Response:
    return client.post(f"{base_url}{path}", json=body, timeout=60)


def test_concurrent_wrong_passwords_get_ten_checks_and_never_block_the_user_elsewhere(
    server: Server, base_url: str
) -> None:
    attacker = client_from("127.0.0.2")
    answers = {
        name: at_once(THREADS, lambda name=name: post(  # type: ignore[misc]
            attacker, base_url, "/auth/login", {"username": name, "password": "wrong password"}))
        for name in ("bob", "nobody")
    }
    assert answers["bob"] == answers["nobody"]  # an unknown name is answered exactly alike
    assert answers["bob"][(401, "invalid_credentials")] == 10
    assert answers["bob"][(429, "too_many_attempts")] == THREADS - 10
    user = client_from("127.0.0.3")
    signed_in = post(user, base_url, "/auth/login", {"username": "bob", "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text


def _challenge(server: Server, base_url: str) -> tuple[str, str]:
    body = {"username": "bob", "password": PASSWORD}
    response = post(client_from("127.0.0.3"), base_url, "/auth/login", body)
    assert response.status_code == 200, response.text
    return response.json()["challenge_id"], server.code_for("bob@example.com")


def test_concurrent_wrong_codes_get_five_checks_per_challenge_and_ten_per_account(
    server: Server, base_url: str
) -> None:
    challenges = [_challenge(server, base_url) for _ in range(3)]
    attacker = client_from("127.0.0.2")
    index = iter(range(THREADS))
    lock = threading.Lock()

    def guess() -> requests.Response:
        with lock:
            challenge_id, code = challenges[next(index) % len(challenges)]
        wrong = "000000" if code != "000000" else "111111"
        return post(attacker, base_url, "/auth/verify", {"challenge_id": challenge_id, "code": wrong})

    answers = at_once(THREADS, guess)
    ids = [challenge_id for challenge_id, _ in challenges]
    with server.context.database.session() as session:
        rows = session.scalars(select(LoginChallenge).where(LoginChallenge.id.in_(ids)))
        attempts = {row.id: row.failed_attempts for row in rows}
    assert max(attempts.values()) <= 5 and sum(attempts.values()) == 10, attempts
    assert answers[(401, "invalid_code")] <= 10 and not [key for key in answers if key[0] >= 500]
    last_id, last_code = challenges[2]
    right_code = post(attacker, base_url, "/auth/verify", {"challenge_id": last_id, "code": last_code})
    assert right_code.status_code == 429  # the account's ten are spent: even the right code waits


def test_one_code_gives_exactly_one_token_under_concurrency(server: Server, base_url: str) -> None:
    challenge_id, code = _challenge(server, base_url)
    client = client_from("127.0.0.3")
    answers = at_once(
        50, lambda: post(client, base_url, "/auth/verify", {"challenge_id": challenge_id, "code": code})
    )
    assert answers[(200, "ok")] == 1 and not [key for key in answers if key[0] >= 500], answers
    with server.context.database.session() as session:
        tokens = session.scalar(
            select(func.count(AuthToken.id))
            .join(User, User.id == AuthToken.user_id)
            .where(User.username == "bob")
        )
    assert tokens == 1
