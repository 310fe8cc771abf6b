"""The resumable S3 reader: a dropped connection resumes at the right byte of the same version."""
from __future__ import annotations

import io

import pytest
from botocore.exceptions import ClientError, ResponseStreamingError

from chalicelib import errors
from chalicelib.aws.s3_stream import ResumableS3Reader

DATA = bytes(range(256)) * 400  # 102,400 bytes


class BreakingBody:
    def __init__(self, data, break_after):
        self._io = io.BytesIO(data)
        self._left = break_after

    def read(self, n=-1):
        if self._left is not None and self._left <= 0:
            raise ResponseStreamingError(error="Connection reset by peer")
        chunk = self._io.read(n if self._left is None else min(n, self._left))
        if self._left is not None:
            self._left -= len(chunk)
        return chunk

    def close(self):
        pass


class FakeS3:
    """Stands in for S3's GetObject contract (Range, If-Match); breaks every stream after `every` bytes."""

    def __init__(self, every, etag='"v1"'):
        self.every, self.etag, self.calls = every, etag, []

    def get_object(self, Bucket, Key, Range=None, IfMatch=None):
        self.calls.append((Range, IfMatch))
        if IfMatch is not None and IfMatch != self.etag:
            raise ClientError({"Error": {"Code": "PreconditionFailed"}}, "GetObject")
        start = int(Range.split("=")[1].rstrip("-")) if Range else 0
        return {"ETag": self.etag, "ContentLength": len(DATA) - start, "Body": BreakingBody(DATA[start:], self.every)}


def test_resumes_at_the_byte_it_reached_and_delivers_every_byte_once():
    s3 = FakeS3(every=30_000)
    reader = ResumableS3Reader(s3, "b", "k", sleep=lambda s: None)
    got = io.BufferedReader(reader, buffer_size=8192).read()
    assert got == DATA
    assert reader.resumes == 3
    assert s3.calls[1:] == [("bytes=30000-", '"v1"'), ("bytes=60000-", '"v1"'), ("bytes=90000-", '"v1"')]


def test_a_file_replaced_during_the_read_is_refused_not_stitched():
    s3 = FakeS3(every=30_000)
    reader = ResumableS3Reader(s3, "b", "k", sleep=lambda s: None)
    s3.etag = '"v2"'
    with pytest.raises(errors.Conflict):
        io.BufferedReader(reader).read()


def test_gives_up_after_too_many_resumes():
    reader = ResumableS3Reader(FakeS3(every=1000), "b", "k", max_resumes=2, sleep=lambda s: None)
    with pytest.raises(errors.DependencyUnavailable):
        io.BufferedReader(reader).read()
