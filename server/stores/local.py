"""Screenshots as private files on the server, uploaded and served through HMAC-signed URLs.

The HMAC covers (method, key, expiry, content type, size, sha256), so a signed URL is the credential.
A PUT is kept only when its bytes have the signed size and sha256 (the key's 16 hex digits when no
sha256 was signed), checked on a temp file before the rename; each PUT URL works once (issue 10, item 8).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO
from urllib.parse import quote, urlencode

from contract.errors import RequestRefused
from contract.private_files import replacing
from contract.screenshots import JPEG_CONTENT_TYPE, SHA256_HEX, SignedUpload, parse_key
from server.stores.objectstore import DOWNLOAD_EXPIRY_SECONDS, UPLOAD_EXPIRY_SECONDS, StoredObject, as_utc

LOCAL_URL_BASE = "/uploads/local/"
_COPY_CHUNK_BYTES = 256 * 1024

# Used PUT links are remembered here until they expire; "#" is in no username, so no user folder meets it.
_USED_LINKS_DIR = "#used-links"
_SWEEP_EVERY_SECONDS = 60


@dataclass(frozen=True, slots=True)
class LocalUrlQuery:
    """The signed query of a local-store URL."""

    expires: int
    signature: str
    size_bytes: int | None = None
    content_type: str | None = None
    sha256: str | None = None
    nonce: str | None = None

    def encode(self) -> str:
        """As a URL query string (no leading ``?``)."""
        values: dict[str, str | int] = {"expires": self.expires}
        if self.size_bytes is not None:
            values["size"] = self.size_bytes
        if self.content_type is not None:
            values["type"] = self.content_type
        if self.sha256 is not None:
            values["sha256"] = self.sha256
        if self.nonce is not None:
            values["nonce"] = self.nonce
        values["signature"] = self.signature
        return urlencode(values)


@dataclass(frozen=True, slots=True)
class LocalObjectStore:
    """Screenshots as files under ``root_dir`` (0700 dirs, 0600 files), served through HMAC-signed URLs."""

    root_dir: Path
    secret_key: bytes = field(repr=False)
    prefix: str = ""
    url_base: str = LOCAL_URL_BASE
    mode: str = "local"
    # When this process next sweeps the marks of expired links (epoch seconds; one slot, shared by threads).
    _next_sweep: list[float] = field(default_factory=lambda: [0.0], init=False, repr=False, compare=False)

    def path_for(self, key: str) -> Path:
        """The file of ``key``; refuses anything that would escape ``root_dir``."""
        parts = key.split("/")
        if not key or key.startswith("/") or any(part in {"", ".", ".."} for part in parts) or "\\" in key:
            raise RequestRefused("malformed key", status=400, code="validation_error", field="key")
        return self.root_dir.joinpath(*parts)

    def _signature(
        self, method: str, key: str, expires: int, content_type: str | None, size_bytes: int | None,
        sha256: str | None = None, nonce: str | None = None,
    ) -> str:
        parts = [method, key, str(expires), content_type or "", str(size_bytes or "")]
        if sha256 is not None or nonce is not None:  # links signed without them keep their old signature
            parts += [sha256 or "", nonce or ""]
        message = "\n".join(parts)
        return hmac.new(self.secret_key, message.encode("utf-8"), hashlib.sha256).hexdigest()

    def local_put_url(
        self, key: str, expires_at: datetime, *, content_type: str, size_bytes: int, sha256: str | None = None
    ) -> str:
        """The path+query a client PUTs ``key`` to; the HMAC binds method, key, expiry, type, size, sha256."""
        expires = int(as_utc(expires_at).timestamp())
        # Each link is its own (single use): two signings of one key in one second differ by the nonce.
        nonce = secrets.token_hex(8)
        query = LocalUrlQuery(
            expires=expires,
            signature=self._signature("PUT", key, expires, content_type, size_bytes, sha256, nonce),
            size_bytes=size_bytes,
            content_type=content_type,
            sha256=sha256,
            nonce=nonce,
        )
        return f"{self.url_base}{quote(key)}?{query.encode()}"

    def local_get_url(self, key: str, expires_at: datetime) -> str:
        """The path+query of a short-lived GET link for ``key``."""
        expires = int(as_utc(expires_at).timestamp())
        query = LocalUrlQuery(expires=expires, signature=self._signature("GET", key, expires, None, None))
        return f"{self.url_base}{quote(key)}?{query.encode()}"

    def presign_put(
        self,
        key: str,
        *,
        content_type: str = JPEG_CONTENT_TYPE,
        size_bytes: int,
        now: datetime,
        expires_seconds: int = UPLOAD_EXPIRY_SECONDS,
        sha256: str | None = None,
    ) -> SignedUpload:
        """A signed, single-use PUT on this server (path+query; :func:`sign_upload` makes it absolute)."""
        expires_at = as_utc(now) + timedelta(seconds=expires_seconds)
        url = self.local_put_url(
            key, expires_at, content_type=content_type, size_bytes=size_bytes, sha256=sha256
        )
        return SignedUpload(
            url=url, headers={"Content-Type": content_type}, expires_at=expires_at, mode=self.mode
        )

    def presign_get(self, key: str, *, now: datetime, expires_seconds: int = DOWNLOAD_EXPIRY_SECONDS) -> str:
        """A signed GET path+query valid for ``expires_seconds``."""
        return self.local_get_url(key, as_utc(now) + timedelta(seconds=expires_seconds))

    def _check_signature(
        self,
        method: str,
        key: str,
        query: Mapping[str, str],
        now: datetime,
        content_type: str | None,
        size_bytes: int | None,
        sha256: str | None = None,
        nonce: str | None = None,
    ) -> int:
        """Verify expiry and HMAC; returns the expiry (epoch seconds)."""
        try:
            expires = int(query["expires"])
            signature = str(query["signature"])
        except (KeyError, ValueError) as exc:
            raise RequestRefused("the link is not signed", status=403, code="forbidden") from exc
        expected = self._signature(method, key, expires, content_type, size_bytes, sha256, nonce)
        if not hmac.compare_digest(expected, signature):
            raise RequestRefused("the link's signature does not match", status=403, code="forbidden")
        if as_utc(now).timestamp() > expires:
            raise RequestRefused("the link has expired", status=403, code="forbidden")
        return expires

    def verify_local_put(
        self,
        key: str,
        query: Mapping[str, str],
        *,
        content_type: str | None,
        content_length: int | None,
        now: datetime,
    ) -> int:
        """Check a PUT against its signed URL; returns the signed size in bytes.

        Refuses (RequestRefused) a bad or expired signature (403), another content type (400) and a
        declared body over the signed size (413).
        """
        try:
            signed_size = int(query["size"])
            signed_type = str(query["type"])
        except (KeyError, ValueError) as exc:
            raise RequestRefused("the link is not signed", status=403, code="forbidden") from exc
        signed_sha256 = query.get("sha256")
        self._check_signature(
            "PUT", key, query, now, signed_type, signed_size, signed_sha256, query.get("nonce")
        )
        actual_type = (content_type or "").split(";", 1)[0].strip().lower()
        if actual_type != signed_type:
            raise RequestRefused(
                f"content type must be {signed_type}",
                status=400,
                code="validation_error",
                field="content_type",
            )
        if content_length is not None and content_length > signed_size:
            raise RequestRefused(
                f"body is larger than the signed {signed_size} bytes",
                status=413,
                code="payload_too_large",
                field="size_bytes",
            )
        return signed_size

    def save_local(
        self, key: str, body: IO[bytes], *, max_bytes: int, exact_bytes: int | None = None,
        sha256: str | None = None,
    ) -> int:
        """Write ``body`` to the key's file atomically (temp + fsync + rename, 0600); returns bytes written.

        Refuses (413) a body longer than ``max_bytes`` even when the client lied about its length;
        refuses (400, nothing kept) a body of another length than ``exact_bytes``, or whose sha256 is
        not ``sha256`` (or, without one, does not start with the key's 16 hex digits).
        """
        target = self.path_for(key)
        _make_private_dirs(target.parent, self.root_dir)
        written = 0
        digest = hashlib.sha256()
        with replacing(target) as handle:
            while True:
                chunk = body.read(_COPY_CHUNK_BYTES)
                if not chunk:
                    break
                written += len(chunk)
                if written > max_bytes:
                    raise RequestRefused(
                        f"body is larger than the signed {max_bytes} bytes",
                        status=413,
                        code="payload_too_large",
                        field="size_bytes",
                    )
                digest.update(chunk)
                handle.write(chunk)
            # Checked inside the block: a refusal removes the temp file and leaves the key untouched.
            if exact_bytes is not None and written != exact_bytes:
                raise RequestRefused(
                    f"body has {written} bytes, the link was signed for {exact_bytes}",
                    status=400, code="validation_error", field="size_bytes",
                )
            _check_digest(key, self.prefix, digest.hexdigest(), sha256)
        return written

    def claim_put_link(self, query: Mapping[str, str], now: datetime) -> None:
        """Mark a verified PUT link used; RequestRefused (409 ``link_used``) when it already was.

        The mark is a file made with O_EXCL, so two PUTs racing on one link cannot both pass.
        Marks of expired links are swept away on the way.
        """
        folder = self.root_dir / _USED_LINKS_DIR
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        expires = int(query["expires"])
        # The mark names the link by a digest of its signature, never the signature itself.
        link_id = hashlib.sha256(str(query["signature"]).encode("utf-8")).hexdigest()[:32]
        now_epoch = as_utc(now).timestamp()
        # At most once a minute: the folder holds every link used in the last 15 minutes, thousands
        # with thousands of agents, and reading it on every PUT grew with the load (issue 14).
        if now_epoch >= self._next_sweep[0]:
            self._next_sweep[0] = now_epoch + _SWEEP_EVERY_SECONDS
            for mark in folder.iterdir():
                stamp = mark.name.split("-", 1)[0]
                if stamp.isdigit() and int(stamp) < now_epoch:
                    mark.unlink(missing_ok=True)
        try:
            descriptor = os.open(
                folder / f"{expires}-{link_id}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
            )
        except FileExistsError as exc:
            raise RequestRefused(
                "this upload link was already used; ask for a new one", status=409, code="link_used"
            ) from exc
        os.close(descriptor)

    def receive_local_put(
        self,
        key: str,
        query: Mapping[str, str],
        *,
        content_type: str | None,
        content_length: int | None,
        body: IO[bytes],
        now: datetime,
    ) -> int:
        """The whole ``PUT /uploads/local/<key>`` rule: verify the signed URL, then save; returns bytes."""
        signed_size = self.verify_local_put(
            key, query, content_type=content_type, content_length=content_length, now=now
        )
        self.claim_put_link(query, now)
        return self.save_local(
            key, body, max_bytes=signed_size, exact_bytes=signed_size, sha256=query.get("sha256")
        )

    def verify_local_get(self, key: str, query: Mapping[str, str], *, now: datetime) -> Path:
        """Check a signed GET link; returns the file to send (404 not_found when absent)."""
        self._check_signature("GET", key, query, now, None, None)
        path = self.path_for(key)
        if not path.is_file():
            raise RequestRefused("no such screenshot", status=404, code="not_found")
        return path

    def object_size(self, key: str) -> int | None:
        """The file's size, or None when absent."""
        try:
            return self.path_for(key).stat().st_size
        except FileNotFoundError:
            return None

    def stored_object(self, key: str) -> StoredObject | None:
        """The file's size and sha256 (read through once), or None when absent."""
        digest = hashlib.sha256()
        try:
            with self.path_for(key).open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                for chunk in iter(lambda: handle.read(_COPY_CHUNK_BYTES), b""):
                    digest.update(chunk)
        except FileNotFoundError:
            return None
        return StoredObject(size, digest.hexdigest())

    def delete(self, key: str) -> None:
        """Remove the file (absent is fine)."""
        self.path_for(key).unlink(missing_ok=True)

    def read_bytes(self, key: str) -> bytes | None:
        """The file's bytes, or None when absent."""
        try:
            return self.path_for(key).read_bytes()
        except FileNotFoundError:
            return None

    def write_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        """Write the file atomically (temp + fsync + rename, 0600 in 0700 folders); the type is not kept."""
        target = self.path_for(key)
        _make_private_dirs(target.parent, self.root_dir)
        with replacing(target) as handle:
            handle.write(data)


def _check_digest(key: str, prefix: str, actual_sha256: str, signed_sha256: str | None) -> None:
    """Refuse (400 validation_error, field sha256) bytes whose digest is not the signed or the key's."""
    if signed_sha256 is not None and SHA256_HEX.match(signed_sha256) is not None:
        if not hmac.compare_digest(actual_sha256, signed_sha256):
            raise RequestRefused(
                "the body's sha256 is not the signed one", status=400, code="validation_error", field="sha256"
            )
        return
    if actual_sha256[:16] != parse_key(key, prefix).digest16:
        raise RequestRefused(
            "the body's sha256 does not match the key", status=400, code="validation_error", field="sha256"
        )


def _make_private_dirs(directory: Path, root: Path) -> None:
    """Create ``directory`` (and parents up to and including ``root``) with mode 0700."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
