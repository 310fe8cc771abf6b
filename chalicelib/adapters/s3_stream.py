"""A read-only file object over an S3 object, fetched in ranged parts.

Intake reads a large upload slowly (it writes to DynamoDB as it goes), and a single GET held
open for many minutes gets reset by S3 (and by LocalStack). So the file is read as a sequence of
short ranged GETs of `part_size` bytes, each pinned to the ETag seen first (If-Match): memory
stays bounded by one part, a dropped part is simply fetched again, and a file replaced meanwhile
is never stitched together from two versions.
"""
from __future__ import annotations

import io
import time

from botocore.exceptions import BotoCoreError, ClientError, ResponseStreamingError
from urllib3.exceptions import HTTPError

from chalicelib import errors

_STREAM_ERRORS = (ResponseStreamingError, HTTPError, ConnectionError, BotoCoreError)
PART_SIZE = 8 * 1024 * 1024


class RangedS3Reader(io.RawIOBase):
    def __init__(self, s3, bucket: str, key: str, *, part_size: int = PART_SIZE, retries: int = 5,
                 backoff_s: float = 0.5, sleep=time.sleep) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._key = key
        self._part_size = part_size
        self._retries = retries
        self._backoff_s = backoff_s
        self._sleep = sleep
        self._offset = 0  # next byte of the object to fetch
        self._buf = memoryview(b"")
        self.retried = 0
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except ClientError as e:
            raise errors.DependencyUnavailable("s3 head_object failed") from e
        self.etag = head["ETag"]
        self.size = int(head["ContentLength"])

    def readable(self) -> bool:
        return True

    def _fetch(self) -> bytes:
        end = min(self._offset + self._part_size, self.size) - 1
        for attempt in range(self._retries + 1):
            try:
                body = self._s3.get_object(Bucket=self._bucket, Key=self._key, IfMatch=self.etag,
                                           Range=f"bytes={self._offset}-{end}")["Body"]
                try:
                    data = body.read()
                finally:
                    body.close()
                if len(data) == end - self._offset + 1:
                    return data
                failure: Exception = errors.DependencyUnavailable("s3 returned a short part")
            except ClientError as e:
                code = e.response.get("Error", {}).get("Code", "")
                if code in ("PreconditionFailed", "412"):
                    raise errors.Conflict("the uploaded file changed while it was being read") from e
                failure = e
            except _STREAM_ERRORS as e:
                failure = e
            if attempt < self._retries:
                self.retried += 1
                self._sleep(self._backoff_s * (attempt + 1))
        raise errors.DependencyUnavailable("s3: a part of the file could not be read") from failure

    def readinto(self, buffer) -> int:
        if not self._buf:
            if self._offset >= self.size:
                return 0
            data = self._fetch()
            self._offset += len(data)
            self._buf = memoryview(data)
        n = min(len(buffer), len(self._buf))
        buffer[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


class S3UploadSource:
    """Uploaded batch files, read from S3 in ranged parts (intake's UploadSource port)."""

    def __init__(self, s3) -> None:
        self._s3 = s3

    def open(self, bucket: str, key: str) -> RangedS3Reader:
        return RangedS3Reader(self._s3, bucket, key)
