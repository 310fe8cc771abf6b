"""S3 adapter of the passport QR image cache (reports bucket), read by the passport routes."""
from __future__ import annotations


class S3ImageCache:
    def __init__(self, s3, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def get(self, key: str) -> bytes | None:
        from chalicelib.adapters.aws_errors import s3_get_or_none

        return s3_get_or_none(self._s3, self._bucket, key, "qr cache")

    def put(self, key: str, data: bytes, content_type: str) -> None:
        from chalicelib.adapters.aws_errors import aws_call

        with aws_call("qr cache: write"):
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type,
                                CacheControl="private, max-age=86400")
