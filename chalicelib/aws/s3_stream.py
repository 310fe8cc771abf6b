"""A read-only file object over an S3 object that survives dropped connections.

Streaming a large upload takes minutes; S3 (and LocalStack) may reset a long GET. Instead of
failing the batch, the reader re-opens the object at the byte it had reached with a Range
request pinned to the same ETag (If-Match), so a file replaced meanwhile is never stitched
together from two versions.
"""
from __future__ import annotations

import io
import time

from botocore.exceptions import BotoCoreError, ClientError, ResponseStreamingError
from urllib3.exceptions import HTTPError

from chalicelib import errors

_STREAM_ERRORS = (ResponseStreamingError, HTTPError, ConnectionError, BotoCoreError)


class ResumableS3Reader(io.RawIOBase):
    def __init__(self, s3, bucket: str, key: str, *, max_resumes: int = 5, backoff_s: float = 0.5,
                 sleep=time.sleep) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._key = key
        self._max_resumes = max_resumes
        self._backoff_s = backoff_s
        self._sleep = sleep
        self._offset = 0
        self.resumes = 0
        resp = self._get()
        self.etag = resp["ETag"]
        self.size = int(resp["ContentLength"])
        self._body = resp["Body"]

    def _get(self, **kw):
        try:
            return self._s3.get_object(Bucket=self._bucket, Key=self._key, **kw)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "412"):
                raise errors.Conflict("the uploaded file changed while it was being read") from e
            raise errors.DependencyUnavailable(f"s3 get_object: {code}") from e

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._offset >= self.size:
            return 0
        while True:
            try:
                data = self._body.read(len(buffer))
                break
            except _STREAM_ERRORS as e:
                if self.resumes >= self._max_resumes:
                    raise errors.DependencyUnavailable("s3: the download kept breaking off") from e
                self.resumes += 1
                self._sleep(self._backoff_s * self.resumes)
                self._body.close()
                self._body = self._get(Range=f"bytes={self._offset}-", IfMatch=self.etag)["Body"]
        n = len(data)
        buffer[:n] = data
        self._offset += n
        return n

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()
