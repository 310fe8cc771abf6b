"""The ranged S3 reader: every byte once, parts re-fetched after a dropped connection, and never
two versions of a file stitched together."""
from __future__ import annotations

import io

import pytest
from botocore.exceptions import ClientError, ResponseStreamingError

from chalicelib import errors
from chalicelib.adapters.s3_stream import RangedS3Reader

DATA = bytes(range(256)) * 400  # 102,400 bytes


class Body:
    def __init__(self, data, fail):
        self._data, self._fail = data, fail

    def read(self):
        if self._fail:
            raise ResponseStreamingError(error="Connection reset by peer")
        return self._data

    def close(self):
        pass


class FakeS3:
    """S3's HeadObject/GetObject contract (Range, If-Match); drops every `drop_every`-th GET."""

    def __init__(self, drop_every=0, etag='"v1"'):
        self.drop_every, self.etag, self.ranges, self.gets = drop_every, etag, [], 0

    def head_object(self, Bucket, Key):
        return {"ETag": self.etag, "ContentLength": len(DATA)}

    def get_object(self, Bucket, Key, Range, IfMatch):
        if IfMatch != self.etag:
            raise ClientError({"Error": {"Code": "PreconditionFailed"}}, "GetObject")
        self.gets += 1
        start, end = (int(x) for x in Range.split("=")[1].split("-"))
        self.ranges.append((start, end))
        return {"Body": Body(DATA[start:end + 1], self.drop_every and self.gets % self.drop_every == 0)}


def test_reads_every_byte_once_in_bounded_parts():
    s3 = FakeS3()
    got = io.BufferedReader(RangedS3Reader(s3, "b", "k", part_size=30_000), buffer_size=8192).read()
    assert got == DATA
    assert s3.ranges == [(0, 29_999), (30_000, 59_999), (60_000, 89_999), (90_000, 102_399)]


def test_a_dropped_part_is_fetched_again():
    s3 = FakeS3(drop_every=2)
    reader = RangedS3Reader(s3, "b", "k", part_size=30_000, sleep=lambda s: None)
    assert io.BufferedReader(reader).read() == DATA
    assert reader.retried >= 2


def test_a_file_replaced_during_the_read_is_refused_not_stitched():
    s3 = FakeS3()
    reader = io.BufferedReader(RangedS3Reader(s3, "b", "k", part_size=30_000), buffer_size=1000)
    reader.read(1000)
    s3.etag = '"v2"'
    with pytest.raises(errors.Conflict):
        reader.read()


def test_gives_up_when_a_part_keeps_failing():
    reader = RangedS3Reader(FakeS3(drop_every=1), "b", "k", part_size=30_000, retries=2, sleep=lambda s: None)
    with pytest.raises(errors.DependencyUnavailable):
        io.BufferedReader(reader).read()
