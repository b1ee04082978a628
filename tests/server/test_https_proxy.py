"""HTTPS behind a TLS proxy: HSTS and Secure cookies only when the request came over HTTPS.

With ``VINOVA_TRUSTED_PROXIES=N`` the scheme is the Nth proxy's ``X-Forwarded-Proto``; without it a
client's own ``X-Forwarded-Proto`` changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from server_support import make_app

from server.context import services_of

HSTS = "Strict-Transport-Security"


@pytest.fixture
def apps(tmp_path: Path) -> Any:
    built = {
        trusted: make_app(f"sqlite:///{tmp_path / trusted / 'vinova.db'}", tmp_path / trusted,
                          VINOVA_TRUSTED_PROXIES=trusted)
        for trusted in ("0", "1")
    }
    yield built
    for app in built.values():
        services_of(app).database.dispose()


def session_cookie(answer: Any) -> str:
    cookies = [value for value in answer.headers.getlist("Set-Cookie") if value.startswith("vinova_admin=")]
    assert len(cookies) == 1, answer.headers
    return str(cookies[0])


@pytest.mark.parametrize("path", ["/health", "/admin/login"])
def test_https_through_a_trusted_proxy_gets_hsts(apps: dict[str, Any], path: str) -> None:
    answer = apps["1"].test_client().get(path, headers={"X-Forwarded-Proto": "https"})
    assert answer.headers[HSTS] == "max-age=31536000"


def test_https_through_a_trusted_proxy_makes_the_session_cookie_secure(apps: dict[str, Any]) -> None:
    answer = apps["1"].test_client().get("/admin/login", headers={"X-Forwarded-Proto": "https"})
    assert "; Secure" in session_cookie(answer)
    assert "HttpOnly" in session_cookie(answer)


def test_plain_http_through_a_trusted_proxy_gets_no_hsts_and_no_secure_cookie(apps: dict[str, Any]) -> None:
    answer = apps["1"].test_client().get("/admin/login", headers={"X-Forwarded-Proto": "http"})
    assert HSTS not in answer.headers
    assert "Secure" not in session_cookie(answer)


def test_a_clients_own_forwarded_proto_is_ignored_without_trusted_proxies(apps: dict[str, Any]) -> None:
    answer = apps["0"].test_client().get("/admin/login", headers={"X-Forwarded-Proto": "https"})
    assert HSTS not in answer.headers
    assert "Secure" not in session_cookie(answer)


def test_https_straight_to_the_server_gets_hsts_and_a_secure_cookie(apps: dict[str, Any]) -> None:
    answer = apps["0"].test_client().get("/admin/login", base_url="https://vinova.example")
    assert answer.headers[HSTS] == "max-age=31536000"
    assert "; Secure" in session_cookie(answer)


def test_plain_http_gets_no_hsts(apps: dict[str, Any]) -> None:
    assert HSTS not in apps["0"].test_client().get("/health").headers
