"""Several ``python app.py`` nodes on one PostgreSQL schema and one S3 store, behind HAProxy over TLS.

The HAProxy config is docs/deploy/haproxy.cfg with its ``${NAME}`` values filled in; TLS uses a CA
and a server certificate for 127.0.0.1 made here with ``openssl``. Clients verify HAProxy with the
CA's PEM file (``cluster.ca_bundle``), as an agent does with VINOVA_CA_BUNDLE.

    with running_mail() as mail, running_cluster(directory, node_environ) as cluster:
        requests.get(f"{cluster.url}/health", verify=cluster.ca_bundle)
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import requests
from support import free_port, port_open, wait_until

PROJECT_ROOT = Path(__file__).resolve().parents[1]
HAPROXY_TEMPLATE = PROJECT_ROOT / "docs" / "deploy" / "haproxy.cfg"
NODE_START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
# Request threads per node: one for each request HAProxy sends it at once (the config's maxconn).
_MAXCONN = re.search(r"default-server .* maxconn (\d+)", HAPROXY_TEMPLATE.read_text())
assert _MAXCONN is not None, f"no default-server maxconn in {HAPROXY_TEMPLATE}"
NODE_THREADS = int(_MAXCONN[1])
_PLACEHOLDER = re.compile(r"\$\{(VINOVA_[A-Z0-9_]+)\}")


# --------------------------------------------------------------------------- TLS
@dataclass(frozen=True)
class TlsFiles:
    """The CA's certificate (what clients trust) and HAProxy's certificate chain with its key."""

    ca_bundle: Path
    server_pem: Path


def _openssl(*arguments: str, cwd: Path) -> None:
    subprocess.run(["openssl", *arguments], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_tls_files(directory: Path) -> TlsFiles:
    """A throwaway CA and a certificate it signed for 127.0.0.1 and localhost (P-256, one day)."""
    directory.mkdir(parents=True, exist_ok=True)
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
             "-subj", "/CN=Vinova Test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    _openssl("req", *curve, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
             cwd=directory)
    (directory / "server.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n", encoding="utf-8",
    )
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.crt", "-days", "1", "-extfile", "server.ext", cwd=directory)
    server_pem = directory / "haproxy.pem"
    server_pem.touch(mode=0o600)
    server_pem.write_bytes((directory / "server.crt").read_bytes() + (directory / "server.key").read_bytes())
    return TlsFiles(directory / "ca.pem", server_pem)


# --------------------------------------------------------------------------- nodes
@dataclass
class Node:
    """One ``python app.py`` process and its own plain-HTTP address (behind HAProxy's back)."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 20) -> str:
        """The end of the node's log, for failure messages."""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _start_node(name: str, directory: Path, environ: Mapping[str, str]) -> Node:
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **environ, "VINOVA_DATA_DIR": str(directory / "data"), "PYTHONUNBUFFERED": "1"}
    log_path = directory / "node.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port),
             "--threads", str(NODE_THREADS)],
            cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    return Node(name, f"http://127.0.0.1:{port}", process, log_path)


def _serving(node: Node) -> bool:
    if node.process.poll() is not None:
        raise AssertionError(f"{node.name} exited with {node.process.returncode}:\n{node.log_tail()}")
    try:
        with requests.get(f"{node.url}/health", timeout=2) as answer:
            return answer.status_code == 200
    except requests.RequestException:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_SECONDS)


# --------------------------------------------------------------------------- HAProxy
def haproxy_binary() -> str | None:
    """Debian's ``haproxy`` (scripts/install-apt.sh), or None."""
    return shutil.which("haproxy") or next(
        (str(path) for path in (Path("/usr/sbin/haproxy"),) if path.is_file()), None
    )


def render_haproxy_config(values: Mapping[str, str]) -> str:
    """docs/deploy/haproxy.cfg with every ``${VINOVA_...}`` filled in (a missing value raises KeyError)."""
    template = HAPROXY_TEMPLATE.read_text(encoding="utf-8")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


@dataclass
class Cluster:
    """The nodes, HAProxy's HTTPS address and the CA that verifies it."""

    url: str
    ca_bundle: Path
    nodes: list[Node]
    stats_socket: Path
    haproxy: subprocess.Popen[bytes]
    haproxy_log: Path

    def _server_rows(self) -> list[dict[str, str]]:
        """HAProxy's ``show stat`` rows of each node in the backend."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stats:
            stats.settimeout(5)
            stats.connect(str(self.stats_socket))
            stats.sendall(b"show stat\n")
            chunks = []
            while chunk := stats.recv(65536):
                chunks.append(chunk)
        rows = csv.DictReader(io.StringIO(b"".join(chunks).decode().lstrip("# ")))
        return [row for row in rows
                if row["pxname"] == "vinova_nodes" and row["svname"] not in ("FRONTEND", "BACKEND")]

    def requests_per_server(self) -> dict[str, int]:
        """How many requests HAProxy sent to each node so far (``stot``)."""
        return {row["svname"]: int(row["stot"]) for row in self._server_rows()}

    def servers_up(self) -> bool:
        """Whether HAProxy's health checks see every node UP."""
        states = [row["status"] for row in self._server_rows()]
        return len(states) == len(self.nodes) and all(state.startswith("UP") for state in states)


@contextmanager
def running_cluster(directory: Path, environ: Mapping[str, str], node_count: int = 2) -> Iterator[Cluster]:
    """Start ``node_count`` nodes with ``environ`` (database, secret key, S3, SMTP), then HAProxy."""
    binary = haproxy_binary()
    if binary is None:
        raise FileNotFoundError("haproxy is not installed (scripts/install-apt.sh installs it)")
    if node_count != 2:
        raise ValueError("docs/deploy/haproxy.cfg names two nodes")
    tls = make_tls_files(directory / "tls")
    with ExitStack() as stack:
        nodes = []
        for number in range(1, node_count + 1):
            node = _start_node(f"node{number}", directory / f"node{number}", environ)
            stack.callback(_stop, node.process)
            nodes.append(node)
        for node in nodes:
            wait_until(partial(_serving, node), NODE_START_TIMEOUT_SECONDS, interval=0.1,
                       message=f"{node.name} to serve /health")
        https_port = free_port()
        stats_socket = directory / "haproxy.sock"
        config_path = directory / "haproxy.cfg"
        config_path.write_text(render_haproxy_config({
            "VINOVA_HTTPS_BIND": f"127.0.0.1:{https_port}",
            "VINOVA_TLS_PEM": str(tls.server_pem),
            "VINOVA_STATS_SOCKET": str(stats_socket),
            **{f"VINOVA_NODE_{n}": node.url.removeprefix("http://") for n, node in enumerate(nodes, 1)},
        }), encoding="utf-8")
        haproxy_log = directory / "haproxy.log"
        with haproxy_log.open("wb") as log:
            # -db: stay in the foreground, so the test owns the one process and its exit.
            haproxy = subprocess.Popen([binary, "-db", "-f", str(config_path)], cwd=directory,
                                       stdout=log, stderr=subprocess.STDOUT)
        stack.callback(_stop, haproxy)
        cluster = Cluster(f"https://127.0.0.1:{https_port}", tls.ca_bundle, nodes, stats_socket, haproxy,
                          haproxy_log)

        def haproxy_ready() -> bool:
            if haproxy.poll() is not None:
                raise AssertionError(f"haproxy exited: {haproxy_log.read_text(errors='replace')}")
            return port_open(https_port) and stats_socket.exists() and cluster.servers_up()

        wait_until(haproxy_ready, 20, interval=0.1, message="HAProxy to see every node UP")
        yield cluster
