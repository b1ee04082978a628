"""Passwords: NIST SP 800-63B rules, "forgot password" (202, limits, link), the CLI's reset link, links."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from people_support import mails_to, path_of, wait_for_link
from server_support import Server, ServerSetup, add_user, bearer, latest_code, make_app, sign_in
from sqlalchemy import func, select
from support import wait_until

from contract.errors import ConfigError
from server.db import links
from server.db.links import OneTimeLink
from server.db.models import User
from server.passwords import (
    COMMON_PASSWORDS_FILE,
    common_passwords,
    has_password,
    hash_password,
    password_problem,
    unset_password_hash,
    verify_password,
)
from server.settings import load_settings

PASSWORD = "people password 1"
NEW_PASSWORD = "tea with two sugars"
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def server_setup() -> ServerSetup:
    """An admin (root) and a member (bob), both signed in."""
    return ServerSetup(users={"root": True, "bob": False}, signed_in=True, password=PASSWORD)


# --------------------------------------------------------------------------- the rules
def test_the_shipped_list_holds_at_least_ten_thousand_common_passwords() -> None:
    assert len(common_passwords()) >= 10_000
    assert COMMON_PASSWORDS_FILE.stat().st_size > 100_000
    assert {"password", "12345678", "iloveyou", "qwertyuiop"} <= common_passwords()


@pytest.mark.parametrize(("password", "problem"), [
    ("seven77", "at least 8"),
    ("x" * 257, "at most 256"),
    ("Password1", "most common"),
    ("QWERTYUIOP", "most common"),
    ("sunshine", "most common"),
    ("Bob.Smith", "your username"),
    ("\uff42\uff4f\uff42\uff0e\uff53\uff4d\uff49\uff54\uff48", "your username"),  # fullwidth: NFKC
])
def test_a_refused_password_says_why(password: str, problem: str) -> None:
    found = password_problem(password, "bob.smith")
    assert found is not None and problem in found


@pytest.mark.parametrize("password", [
    "x" * 256, "eightch!", "all lowercase words", "ÜBER grüße 🌍🌍", "   spaces   count   ",
    "12345678901234567",
])
def test_any_characters_are_accepted_without_composition_rules(password: str) -> None:
    assert password_problem(password, "bob.smith") is None


def test_an_unset_password_matches_nothing_yet_costs_a_real_check() -> None:
    unset = unset_password_hash()
    assert not has_password(unset) and has_password(hash_password("x" * 8))
    assert not verify_password("", unset) and not verify_password(unset, unset)
    assert not verify_password(unset[1:], unset)


def test_public_url_must_be_an_http_address() -> None:
    base = {"VINOVA_ENV_FILE": "", "VINOVA_DATA_DIR": "/tmp/unused"}
    assert load_settings(base | {"VINOVA_PUBLIC_URL": "https://vinova.example.com/"}).public_url == (
        "https://vinova.example.com")
    for bad in ("vinova.example.com", "ftp://x", "https://x/?a=1"):
        with pytest.raises(ConfigError) as caught:
            load_settings(base | {"VINOVA_PUBLIC_URL": bad})
        assert "VINOVA_PUBLIC_URL" in caught.value.errors


# --------------------------------------------------------------------------- forgot password
def _reset(server: Server, body: dict[str, object], address: str = "10.0.0.1") -> tuple[int, object]:
    answer = server.client.post("/auth/password-reset", json=body, environ_base={"REMOTE_ADDR": address})
    return answer.status_code, answer.get_json()


def _reset_links(server: Server, username: str) -> int:
    with server.context.database.session() as session:
        user_id = session.scalar(select(User.id).where(User.username == username))
        return int(session.scalar(select(func.count(OneTimeLink.id)).where(
            OneTimeLink.user_id == user_id, OneTimeLink.kind == links.PASSWORD_RESET)) or 0)


@SQLITE_ONLY
def test_a_reset_answers_202_with_the_same_body_whether_or_not_the_account_exists(server: Server) -> None:
    known = _reset(server, {"username": "bob"})
    unknown = _reset(server, {"username": "nobody"})
    by_email = _reset(server, {"email": "BOB@example.com"})
    unknown_email = _reset(server, {"email": "nobody@example.com"})
    assert known == unknown == by_email == unknown_email
    assert known[0] == 202
    wait_for_link(server.data_dir, "bob@example.com", "password-reset", count=2)
    assert mails_to(server.data_dir, "nobody@example.com") == []
    assert _reset(server, {})[0] == 400
    status, body = _reset(server, {"username": 5})
    assert status == 400 and "username" in body["error"]["fields"]  # type: ignore[index]


@SQLITE_ONLY
def test_a_reset_link_sets_a_new_password_ends_every_sign_in_and_mails_a_notice(server: Server) -> None:
    old_token = server.tokens["bob"]
    browser_token = server.sign_in("bob")
    _reset(server, {"username": "bob"})
    path = path_of(wait_for_link(server.data_dir, "bob@example.com", "password-reset"))
    assert path.startswith("/password-reset/")
    client = server.app.test_client()
    page = client.get(path).get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    form = {"csrf_token": csrf, "password": "bob", "password_again": "bob"}
    assert client.post(path, data=form).status_code == 400
    differing = form | {"password": NEW_PASSWORD, "password_again": "other"}
    assert client.post(path, data=differing).status_code == 400
    done = client.post(path, data=form | {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert done.status_code == 200 and "signed out" in done.get_data(as_text=True)
    for token in (old_token, browser_token):
        assert server.client.get("/auth/me", headers=bearer(token)).status_code == 401
    old_password = server.client.post("/auth/login", json={"username": "bob", "password": PASSWORD})
    assert old_password.status_code == 401
    new_token = sign_in(server.client, "bob", NEW_PASSWORD, lambda: server.code_for("bob@example.com"))
    assert server.client.get("/auth/me", headers=bearer(new_token)).status_code == 200
    wait_until(lambda: any(subject == "Your Vinova password was changed"
                           for subject, _text in mails_to(server.data_dir, "bob@example.com")), 10)
    assert client.post(path, data=form | {"password": "yet another one", "password_again": "yet another one"}
                       ).status_code == 410


@SQLITE_ONLY
def test_a_reset_link_works_for_30_minutes(server: Server) -> None:
    _reset(server, {"username": "bob"})
    path = path_of(wait_for_link(server.data_dir, "bob@example.com", "password-reset"))
    server.clock.advance(minutes=29)
    assert server.app.test_client().get(path).status_code == 200
    server.clock.advance(minutes=1, seconds=1)
    assert server.app.test_client().get(path).status_code == 410


def test_resets_are_limited_per_name_per_account_and_per_client_address(server: Server) -> None:
    for _attempt in range(5):
        assert _reset(server, {"username": "bob"}, "10.0.0.2")[0] == 202
    assert _reset_links(server, "bob") == 3  # 3 per name in 15 minutes
    assert _reset(server, {"email": "bob@example.com"}, "10.0.0.3")[0] == 202
    assert _reset_links(server, "bob") == 3  # the account's own limit holds across name and address
    for _attempt in range(15):
        assert _reset(server, {"username": "someone"}, "10.0.0.2")[0] == 202
    status, body = _reset(server, {"username": "root"}, "10.0.0.2")
    assert status == 429 and body["error"]["code"] == "too_many_attempts"  # type: ignore[index]
    server.clock.advance(minutes=31)
    assert _reset(server, {"username": "bob"}, "10.0.0.2")[0] == 202
    assert _reset_links(server, "bob") == 4


# --------------------------------------------------------------------------- the CLI
@SQLITE_ONLY
def test_the_cli_prints_a_reset_link_that_gets_a_locked_out_admin_back_in(server: Server) -> None:
    runner = server.app.test_cli_runner()
    result = runner.invoke(args=["reset-password", "root", "--port", "8123"])
    assert result.exit_code == 0, result.output
    url = next(line for line in result.output.splitlines() if line.startswith("http"))
    assert url.startswith("http://127.0.0.1:8123/password-reset/")
    path = path_of(url)
    client = server.app.test_client()
    csrf = client.get(path).get_data(as_text=True).split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    form = {"csrf_token": csrf, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    answer = client.post(path, data=form)
    assert answer.status_code == 200
    sign_in(server.client, "root", NEW_PASSWORD, lambda: latest_code(server.data_dir, "root@example.com"))
    assert runner.invoke(args=["reset-password", "nobody"]).exit_code != 0


@SQLITE_ONLY
def test_the_cli_invites_and_create_user_refuses_a_taken_name_before_the_password(server: Server) -> None:
    runner = server.app.test_cli_runner()
    invited = runner.invoke(args=["invite", "ann", "--email", "ann@example.com"])
    assert invited.exit_code == 0 and "invitation mailed to ann@example.com" in invited.output
    url = wait_for_link(server.data_dir, "ann@example.com", "welcome")
    assert url.startswith("http://127.0.0.1:5000/welcome/")
    taken = runner.invoke(
        args=["create-user", "ANN", "--email", "a@example.com", "--password-stdin"], input=""
    )
    assert taken.exit_code != 0 and "already taken" in taken.output
    common = runner.invoke(args=["create-user", "cy", "--email", "cy@example.com", "--password-stdin"],
                           input="password1\n")
    assert common.exit_code != 0 and "most common" in common.output
    own_name = runner.invoke(
        args=["create-user", "cyrus.long", "--email", "cy@example.com", "--password-stdin"],
        input="Cyrus.Long\n",
    )
    assert own_name.exit_code != 0 and "your username" in own_name.output


def test_links_use_the_public_url_when_it_is_set(tmp_path: Path) -> None:
    data = tmp_path
    app = make_app(f"sqlite:///{data / 'v.db'}", data, VINOVA_PUBLIC_URL="https://vinova.example.com/")
    add_user(app, "bob", "bob@example.com", PASSWORD)
    app.test_client().post("/auth/password-reset", json={"username": "bob"})
    assert wait_for_link(data, "bob@example.com", "password-reset").startswith(
        "https://vinova.example.com/password-reset/")


# --------------------------------------------------------------------------- the links table
def test_a_link_is_used_once_even_when_submitted_at_the_same_time(server: Server) -> None:
    context = server.context
    now = server.clock()
    with context.database.session() as session:
        user_id = session.scalars(select(User.id).where(User.username == "bob")).one()
        issued = links.create(session, links.PASSWORD_RESET, user_id, now)
    barrier = threading.Barrier(4)
    winners: list[bool] = []

    def use() -> None:
        barrier.wait(5)
        with context.database.session() as session:
            winners.append(links.consume(session, links.PASSWORD_RESET, issued.token, now) is not None)

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(winners) == [False, False, False, True]
    with context.database.session() as session:
        assert links.find_open(session, links.PASSWORD_RESET, issued.token, now) is None
        assert links.consume(session, links.INVITATION, "not a token", now) is None


def test_purge_expired_deletes_only_links_past_their_time(server: Server) -> None:
    context = server.context
    now = server.clock()
    with context.database.session() as session:
        user_id = session.scalars(select(User.id).where(User.username == "bob")).one()
        links.create(session, links.PASSWORD_RESET, user_id, now)
        invitation = links.create(session, links.INVITATION, user_id, now)
        stored = list(session.scalars(select(OneTimeLink.token_hash)))
    assert all(len(digest) == 64 and invitation.token not in digest for digest in stored)
    with context.database.session() as session:
        assert links.purge_expired(session, now + timedelta(minutes=31)) == 1
        assert links.find_open(session, links.INVITATION, invitation.token, now) is not None
        assert links.purge_expired(session, now + timedelta(hours=48)) == 1
        assert session.scalar(select(func.count(OneTimeLink.id))) == 0
