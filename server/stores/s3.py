"""Screenshots in an S3-compatible bucket, reached through SigV4-presigned URLs.

A PUT's signature covers Content-Type, Content-Length and ``x-amz-checksum-sha256`` (signing
requires the sha256 in S3 mode): a store that checks checksums (S3; SeaweedFS: 400 BadDigest)
refuses other bytes, and registration compares the stored checksum (HEAD with checksum mode)
where the store returns one (moto returns none).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta
from typing import Any

from contract.screenshots import JPEG_CONTENT_TYPE, SignedUpload
from server.stores.objectstore import DOWNLOAD_EXPIRY_SECONDS, UPLOAD_EXPIRY_SECONDS, StoredObject, as_utc

CHECKSUM_HEADER = "x-amz-checksum-sha256"


class S3ObjectStore:
    """Screenshots in an S3 bucket; URLs are SigV4-presigned (content type and length are signed)."""

    mode = "s3"

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

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
        """A presigned PUT whose signature covers Content-Type, Content-Length and the sha256 checksum."""
        params: dict[str, Any] = {
            "Bucket": self.bucket, "Key": key, "ContentType": content_type, "ContentLength": size_bytes,
        }
        headers = {"Content-Type": content_type}
        if sha256 is not None:
            checksum = base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
            params["ChecksumSHA256"] = checksum
            headers[CHECKSUM_HEADER] = checksum
        url = self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_seconds)
        return SignedUpload(
            url=url,
            headers=headers,
            expires_at=as_utc(now) + timedelta(seconds=expires_seconds),
            mode=self.mode,
        )

    def presign_get(self, key: str, *, now: datetime, expires_seconds: int = DOWNLOAD_EXPIRY_SECONDS) -> str:
        """A presigned GET link valid for ``expires_seconds``."""
        return str(
            self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_seconds
            )
        )

    def stored_object(self, key: str) -> StoredObject | None:
        """HEAD the object (asking for its checksum); None when it does not exist."""
        from botocore.exceptions import ClientError

        try:
            answer = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404:
                return None
            raise
        checksum = answer.get("ChecksumSHA256")
        sha256 = None
        # A whole-object checksum is plain base64; a multipart one ends in "-<parts>" and is not the file's.
        if isinstance(checksum, str) and "-" not in checksum:
            sha256 = base64.b64decode(checksum).hex()
        return StoredObject(int(answer["ContentLength"]), sha256)

    def object_size(self, key: str) -> int | None:
        """HEAD the object; None when it does not exist."""
        stored = self.stored_object(key)
        return None if stored is None else stored.size_bytes

    def delete(self, key: str) -> None:
        """Delete the object (S3 treats an absent key as success)."""
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def read_bytes(self, key: str) -> bytes | None:
        """GET the whole object; None when it does not exist."""
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404:
                return None
            raise
        with answer["Body"] as body:
            return bytes(body.read())

    def write_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        """PUT ``data`` with its content type and sha256 checksum."""
        checksum = base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
        self.client.put_object(
            Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, ChecksumSHA256=checksum
        )
