"""Screenshots in an S3-compatible bucket, reached through SigV4-presigned URLs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from contract.screenshots import JPEG_CONTENT_TYPE, SignedUpload
from server.stores.objectstore import DOWNLOAD_EXPIRY_SECONDS, UPLOAD_EXPIRY_SECONDS, as_utc


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
    ) -> SignedUpload:
        """A presigned PUT whose signature covers Content-Type and Content-Length."""
        url = self.client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ContentType": content_type,
                "ContentLength": size_bytes,
            },
            ExpiresIn=expires_seconds,
        )
        return SignedUpload(
            url=url,
            headers={"Content-Type": content_type},
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

    def object_size(self, key: str) -> int | None:
        """HEAD the object; None when it does not exist."""
        from botocore.exceptions import ClientError

        try:
            answer = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404:
                return None
            raise
        return int(answer["ContentLength"])

    def delete(self, key: str) -> None:
        """Delete the object (S3 treats an absent key as success)."""
        self.client.delete_object(Bucket=self.bucket, Key=key)
