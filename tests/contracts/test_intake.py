"""Intake's other ports: the fakes of tests/fakes/intake.py and the adapters of aws/intake_adapters.py,
aws/s3_stream.py and aws/access_adapters.py keep the same contract: batches resume only after a
delivery failure and count each chunk once, cleaning messages of at most `chunk` references, the
rejected-rows report joined in chunk order and escaped, an API call recorded once, rate windows
that never go over their limit."""
from __future__ import annotations

import csv
import io
from dataclasses import astuple
from datetime import datetime, timezone

import pytest

from chalicelib import errors
from chalicelib.intake.errors import MalformedFile
from chalicelib.intake.records import FieldError
from chalicelib.intake.report import REPORT_COLUMNS
from chalicelib.intake.service import ChunkResult
from tests.contracts.conftest import BOTH, FAKE, own_queue, real
from tests.integration.helpers import drain_queue
from tests.fakes import (FakeApiCallStore, FakeBatchStore, FakeCleaningQueue, FakeContinuations, FakeRateWindows,
                         FakeReportStore, FakeUploadSource)

NOW = datetime(2026, 1, 5, tzinfo=timezone.utc)


# -- batches ------------------------------------------------------------------------------------
@pytest.fixture(params=BOTH)
def batches(request):
    return FakeBatchStore() if request.param == FAKE else real(request).batches


class TestBatchStoreContract:
    """A batch FAILED by its delivery resumes on replay; one FAILED by its file, or COMPLETE, never."""

    def _begin(self, batches, batch_id):
        return batches.begin(batch_id, province_code="001", source="s3://b/k", etag="e", now=NOW)

    def _fail(self, batches, batch_id, failure):
        batches.fail(batch_id, code="RETRIES_EXHAUSTED", message="m", failure=failure, province_code="001",
                     source="s3://b/k", now=NOW)

    def test_a_delivery_failure_resumes_from_its_checkpoint(self, batches, unique):
        b = f"b-{unique}"
        self._begin(batches, b)
        batches.checkpoint(b, expected_rows_done=0, rows_done=7, chunk=ChunkResult(received=6), now=NOW)
        self._fail(batches, b, "delivery")
        assert astuple(self._begin(batches, b))[1:5] == ("FAILED", 7, 1, "delivery")
        assert astuple(batches.resume(b, now=NOW))[1:5] == ("PROCESSING", 7, 1, None)

    def test_a_file_failure_or_a_complete_batch_stays_as_it_is(self, batches, unique):
        failed, complete = f"b-{unique}-f", f"b-{unique}-c"
        for b in (failed, complete):
            self._begin(batches, b)
        batches.finish(failed, status="FAILED", report_key=None, error=MalformedFile("x"), now=NOW)
        batches.finish(complete, status="COMPLETE", report_key=None, error=None, now=NOW)
        self._fail(batches, complete, "delivery")
        assert batches.resume(failed, now=NOW).failure == "file"
        assert self._begin(batches, complete).status == "COMPLETE"

    def test_a_batch_that_never_began_is_created_failed(self, batches, unique):
        b = f"b-{unique}"
        self._fail(batches, b, "file")
        assert astuple(self._begin(batches, b))[1:5] == ("FAILED", 0, 0, "file")

    def test_a_checkpoint_moves_only_from_the_rows_it_was_decided_on(self, batches, unique):
        b = f"b-{unique}"
        self._begin(batches, b)
        chunk = ChunkResult(received=5, accepted=4, duplicates=1, rejected=1, queued=3)
        batches.checkpoint(b, expected_rows_done=0, rows_done=5, chunk=chunk, now=NOW)
        with pytest.raises(errors.Conflict):  # another delivery processed it: counted once
            batches.checkpoint(b, expected_rows_done=0, rows_done=5, chunk=chunk, now=NOW)
        batches.finish(b, status="COMPLETE", report_key=f"reports/{b}/rejected-rows.csv", error=None, now=NOW)
        got = batches.get(b)
        assert {k: got[k] for k in ("status", "received", "accepted", "duplicates", "rejected", "queued", "rows_done",
                                    "province_code", "failure", "report_key")} == {
            "status": "COMPLETE", "received": 5, "accepted": 4, "duplicates": 1, "rejected": 1, "queued": 3,
            "rows_done": 5, "province_code": "001", "failure": None, "report_key": f"reports/{b}/rejected-rows.csv"}
        assert batches.get(f"{b}-absent") is None


    def test_a_batch_is_handed_to_later_continuations_only_and_knows_its_file(self, batches, unique):
        b = f"b-{unique}"
        assert self._begin(batches, b).continuation == 0
        batches.hand_over(b, continuation=2, now=NOW)
        batches.hand_over(b, continuation=1, now=NOW)  # an earlier hand-over landing late changes nothing
        assert self._begin(batches, b).continuation == 2
        got = batches.get(b)
        assert (got["source"], got["etag"], got["continuation"]) == ("s3://b/k", "e", 2)
        batches.hand_over(f"{b}-absent", continuation=1, now=NOW)  # creates nothing
        assert batches.get(f"{b}-absent") is None


# -- continuations -------------------------------------------------------------------------------
@pytest.fixture(params=BOTH)
def continuations(request, unique):
    """(the adapter, a function returning the messages sent)"""
    if request.param == FAKE:
        fake = FakeContinuations()
        return fake, lambda: fake.messages
    from chalicelib.adapters.intake.continuations import SqsContinuations

    c = real(request)
    url = own_queue(c, unique)
    return SqsContinuations(c.client("sqs"), url), lambda: drain_queue(c.client("sqs"), url)


class TestContinuationsContract:
    def test_a_continuation_is_one_message_naming_the_batch_and_its_number(self, continuations):
        adapter, sent = continuations
        adapter.send("b-" + "0" * 24, 3)
        assert sent() == [{"kind": "intake-continuation", "batch_id": "b-" + "0" * 24, "continuation": 3}]


# -- the cleaning queue ---------------------------------------------------------------------------
@pytest.fixture(params=BOTH)
def cleaning_queue(request, unique):
    """(the queue, a function returning the messages sent)"""
    if request.param == FAKE:
        fake = FakeCleaningQueue(chunk=100)
        return fake, lambda: fake.messages
    from chalicelib.adapters.intake.cleaning_queue import SqsCleaningQueue

    c = real(request)
    url = own_queue(c, unique)
    return SqsCleaningQueue(c.client("sqs"), url, 100), lambda: drain_queue(c.client("sqs"), url)


class TestCleaningQueueContract:
    def test_references_are_sent_in_messages_of_at_most_a_chunk(self, cleaning_queue):
        queue, sent = cleaning_queue
        refs = [("F1", f"R{i:03d}", 1) for i in range(250)]
        assert queue.enqueue("b1", refs) == 250
        messages = sorted(sent(), key=lambda m: m["records"][0][1])
        assert [len(m["records"]) for m in messages] == [100, 100, 50]
        assert {m["batch_id"] for m in messages} == {"b1"}
        assert [tuple(r) for m in messages for r in m["records"]] == refs


# -- the rejected-rows report ---------------------------------------------------------------------
@pytest.fixture(params=BOTH)
def reports(request):
    """(the report store, a function reading a report's text)"""
    if request.param == FAKE:
        fake = FakeReportStore()
        return fake, fake.read
    c = real(request)
    s3, bucket = c.client("s3"), c.settings.bucket("reports")
    return c.report_store, lambda key: s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8-sig")


class TestReportStoreContract:
    def test_parts_are_joined_in_chunk_order_with_cells_escaped(self, reports, unique):
        store, read = reports
        batch = f"b-{unique}"
        store.put_part(batch, 1, [FieldError(501, "dose_number", "BAD", "=cmd|' /C calc'!A0", "=1+2")])
        store.put_part(batch, 0, [FieldError(2, "full_name", "MISSING", "full_name is required", "")])
        key = store.compose(batch, MalformedFile("broken after row 501"))
        assert key == f"reports/{batch}/rejected-rows.csv"
        rows = list(csv.reader(io.StringIO(read(key))))
        assert tuple(rows[0]) == REPORT_COLUMNS
        assert rows[1] == ["", "(file)", "MALFORMED_FILE", "broken after row 501", ""]
        assert rows[2][:3] == ["2", "full_name", "MISSING"]
        assert rows[3] == ["501", "dose_number", "BAD", "'=cmd|' /C calc'!A0", "'=1+2"]
        link = store.link(key)
        assert link["key"] == key and link["url"].startswith("http") and key in link["url"]

    def test_a_batch_without_rejections_has_a_report_of_its_header(self, reports, unique):
        store, read = reports
        key = store.compose(f"b-{unique}", None)
        assert list(csv.reader(io.StringIO(read(key)))) == [list(REPORT_COLUMNS)]


# -- uploaded files ------------------------------------------------------------------------------
@pytest.fixture(params=BOTH)
def uploads(request):
    """(the upload source, a function storing an upload, its bucket)"""
    if request.param == FAKE:
        fake = FakeUploadSource()
        return fake, fake.put, "intake"
    c = real(request)
    s3 = c.client("s3")
    return c.upload_source, lambda bucket, key, data: s3.put_object(Bucket=bucket, Key=key, Body=data), \
        c.settings.bucket("intake")


class TestUploadSourceContract:
    def test_an_upload_is_read_as_stored_and_an_absent_one_is_unavailable(self, uploads, unique):
        source, put, bucket = uploads
        data = "record_id,full_name\nR1,Nguyễn Văn An\n".encode() * 1000
        put(bucket, f"incoming/001/{unique}.csv", data)
        stream = source.open(bucket, f"incoming/001/{unique}.csv")
        try:
            assert stream.read() == data
        finally:
            stream.close()
        with pytest.raises(errors.DependencyUnavailable):
            source.open(bucket, f"incoming/001/{unique}-absent.csv")


# -- API call records -----------------------------------------------------------------------------
@pytest.fixture(params=BOTH)
def api_calls(request):
    """(the API call store, the batch store it completes batches in)"""
    if request.param == FAKE:
        batches = FakeBatchStore()
        return FakeApiCallStore(batches), batches
    c = real(request)
    return c.api_calls, c.batches


class TestApiCallStoreContract:
    def test_a_call_is_recorded_once_with_its_answer_and_completes_its_batch(self, api_calls, unique):
        calls, batches = api_calls
        namespace, key, batch = f"ns-{unique}", "key-1", f"api-{unique}"
        assert calls.lookup(namespace, key) is None
        chunk = ChunkResult(received=3, accepted=2, duplicates=1, rejected=1)
        calls.complete(namespace, key, batch_id=batch, request_hash="h1", response={"accepted": 2, "name": "Đào"},
                       chunk=chunk, now=NOW)
        found = calls.lookup(namespace, key)
        assert (found.request_hash, found.response) == ("h1", {"accepted": 2, "name": "Đào"})
        assert calls.lookup(f"{namespace}-other", key) is None
        with pytest.raises(errors.Conflict):  # a concurrent call with this key finished first
            calls.complete(namespace, key, batch_id=batch, request_hash="h1", response={}, chunk=chunk, now=NOW)
        progress = batches.get(batch)
        assert (progress["status"], progress["kind"], progress["received"], progress["accepted"],
                progress["rejected"]) == ("COMPLETE", "api", 3, 2, 1)


# -- rate windows ---------------------------------------------------------------------------------
@pytest.fixture(params=BOTH)
def windows(request):
    return FakeRateWindows() if request.param == FAKE else real(request).rate_windows


class TestRateWindowsContract:
    def test_a_window_takes_up_to_its_limit_and_a_refusal_adds_nothing(self, windows, unique):
        caller, start = f"facility#{unique}", 1_767_600_000
        assert windows.try_take(caller, start, 6, 10, start + 120)
        assert not windows.try_take(caller, start, 5, 10, start + 120)
        assert windows.try_take(caller, start, 4, 10, start + 120)
        assert not windows.try_take(caller, start, 1, 10, start + 120)
        assert windows.try_take(caller, start + 60, 10, 10, start + 180)  # the next window
        assert windows.try_take(f"{caller}-other", start, 10, 10, start + 120)  # another caller
