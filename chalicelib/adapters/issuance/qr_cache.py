"""S3 adapter of the passport QR image cache (reports bucket), read by the passport routes."""
from __future__ import annotations

from chalicelib import errors


class S3ImageCache:
    def __init__(self, s3, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            return self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise errors.DependencyUnavailable("qr cache: read failed") from e

    def put(self, key: str, data: bytes, content_type: str) -> None:
        from chalicelib.adapters.aws_errors import aws_call

        with aws_call("qr cache: write"):
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type,
                                CacheControl="private, max-age=86400")
