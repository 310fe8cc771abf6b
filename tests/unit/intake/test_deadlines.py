"""Intake against a Lambda deadline: a file stops at a checkpoint before the invocation's time runs
out and continues in a continuation message, every row counted once; a continuation is hostile
input (it resumes only an upload batch that exists, from the stored checkpoint, and a duplicate
does nothing)."""
from __future__ import annotations

import csv
import io
import json

import pytest

from chalicelib.intake.service import ChunkResult
from chalicelib.intake.uploads import Upload, continuation_body
from chalicelib.settings import Settings
from tests.fakes import FakeFacilityRegistry, FakeRecords, fake_container
from tests.unit.intake.test_intake_service import NOW, csv_of, row, rows12, uploaded


class Clocked(FakeRecords):
    """The records table, where each chunk's write takes `cost_ms` of the invocation's time."""

    def __init__(self, cost_ms: int = 1000) -> None:
        super().__init__()
        self.cost_ms = cost_ms
        self.elapsed_ms = 0

    def put_many(self, records, now):
        self.elapsed_ms += self.cost_ms
        return super().put_many(records, now)

    def invocation(self, timeout_ms: int):
        """A fresh Lambda context's remaining time."""
        start = self.elapsed_ms
        return lambda: timeout_ms - (self.elapsed_ms - start)


def notification(upload: Upload) -> str:
    return json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {
        "bucket": {"name": upload.bucket}, "object": {"key": upload.key, "eTag": upload.etag}}}]})


def _with_margin(records: Clocked, margin_ms: int):
    return fake_container(Settings(stage="test", deadline_margin_ms=margin_ms),
                          facility_registry=FakeFacilityRegistry({"F1": "001"}), intake_chunk_rows=5,
                          record_store=records, clock=lambda: NOW)


def run_to_the_end(c, records: Clocked, first_body: str, timeout_ms: int) -> list:
    """Delivers the message, then each continuation it hands over, one invocation each."""
    states, bodies = [], [first_body]
    while bodies:
        sent_before = len(c.intake_continuations.messages)
        states += c.upload_delivery.handle(bodies.pop(0), 1, records.invocation(timeout_ms))
        bodies += [json.dumps(m) for m in c.intake_continuations.messages[sent_before:]]
        assert len(states) < 50, "the batch never finishes"
    return states


def test_a_file_longer_than_its_deadline_completes_in_several_invocations_counting_each_row_once():
    records = Clocked(cost_ms=1000)
    c = _with_margin(records, 500)
    upload = uploaded(c, csv_of(rows12()))
    # Given invocations of 2.5 s where each chunk of 5 rows takes 1 s (margin 0.5 s)
    states = run_to_the_end(c, records, notification(upload), timeout_ms=2500)
    # Then the file is worked through in several invocations, each handing the batch on
    assert [s.suspended for s in states] == [True, False]
    assert [m["continuation"] for m in c.intake_continuations.messages] == [1]
    assert states[-1].status == "COMPLETE"
    progress = c.batch_progress.get(upload.batch_id)
    assert (progress["received"], progress["accepted"], progress["rejected"], progress["queued"]) == (12, 10, 2, 10)
    assert progress["rows_done"] == 13 and progress["counts_add_up"]
    # and every row is stored, queued for cleaning, counted and reported exactly once
    assert len(records.items) == 10 and sorted(c.cleaning_queue.refs) == sorted(set(c.cleaning_queue.refs))
    assert len(c.cleaning_queue.refs) == 10 and c.counters.total("NATIONAL", "received") == 10
    report = c.report_store.read(progress["rejected_rows_report"]["key"])
    assert [r["row_number"] for r in csv.DictReader(io.StringIO(report))] == ["4", "10"]


def test_every_invocation_moves_the_batch_on_even_when_one_chunk_takes_longer_than_its_time():
    records = Clocked(cost_ms=5000)
    c = _with_margin(records, 500)
    upload = uploaded(c, csv_of([row(i) for i in range(23)]))
    states = run_to_the_end(c, records, notification(upload), timeout_ms=2000)
    assert [s.rows_done for s in states] == [6, 11, 16, 21, 24] and states[-1].status == "COMPLETE"
    assert [m["continuation"] for m in c.intake_continuations.messages] == [1, 2, 3, 4]
    assert c.batches.get(upload.batch_id)["received"] == 23 == len(records.items)


def test_without_a_deadline_a_file_runs_to_its_end_in_one_invocation():
    c = _with_margin(Clocked(), 500)
    [state] = c.upload_delivery.handle(notification(uploaded(c, csv_of(rows12()))), 1)
    assert state.status == "COMPLETE" and c.intake_continuations.messages == []


def _suspended_after_one_chunk(c, records: Clocked) -> Upload:
    upload = uploaded(c, csv_of(rows12()))
    [state] = c.upload_delivery.handle(notification(upload), 1, records.invocation(1200))
    assert state.suspended and state.rows_done == 6
    return upload


@pytest.mark.parametrize("body", [
    {"rows_done": 0},  # an offset: never taken from a message
    {"key": "incoming/001/other.csv"},  # a file: always the stored one
    {"continuation": 0}, {"continuation": True}, {"continuation": "2"}, {"batch_id": "b-../../x"},
    {"batch_id": ["b-0"]},
])
def test_attack_a_continuation_carrying_anything_but_a_batch_and_its_number_is_dead_lettered(body):
    records = Clocked()
    c = _with_margin(records, 500)
    upload = _suspended_after_one_chunk(c, records)
    writes = records.requests["put_many"]
    forged = {**continuation_body(upload.batch_id, 1), **body}
    assert c.upload_delivery.handle(json.dumps(forged), 1, records.invocation(60_000)) == []
    assert [code for _, _, code, _ in c.dead_letters.sent] == ["MALFORMED_MESSAGE"]
    assert records.requests["put_many"] == writes
    assert c.batches.get(upload.batch_id)["status"] == "PROCESSING"  # the batch is not failed by it


def test_attack_a_continuation_for_an_unknown_batch_or_an_api_call_is_dead_lettered():
    records = Clocked()
    c = _with_margin(records, 500)
    c.batches.api_call("b-" + "a" * 24, ChunkResult(), NOW)
    for batch_id in ("b-" + "0" * 24, "b-" + "a" * 24):
        assert c.upload_delivery.handle(json.dumps(continuation_body(batch_id, 1)), 1) == []
    assert [code for _, _, code, _ in c.dead_letters.sent] == ["NOT_AN_UPLOAD_BATCH"] * 2
    assert records.requests["put_many"] == 0


def test_attack_a_continuation_that_was_never_sent_is_dead_lettered_and_leaves_the_batch_alone():
    records = Clocked()
    c = _with_margin(records, 500)
    upload = _suspended_after_one_chunk(c, records)
    writes = records.requests["put_many"]
    # Continuation 1 was sent; 2 cannot have been (each is sent only by the one before it)
    assert c.upload_delivery.handle(json.dumps(continuation_body(upload.batch_id, 3)), 1) == []
    assert [code for _, _, code, _ in c.dead_letters.sent] == ["CONTINUATION_NOT_ISSUED"]
    assert records.requests["put_many"] == writes
    assert c.batches.get(upload.batch_id)["status"] == "PROCESSING"


def test_attack_a_duplicate_continuation_or_notification_does_nothing_twice():
    records = Clocked()
    c = _with_margin(records, 500)
    upload = _suspended_after_one_chunk(c, records)
    first = json.dumps(c.intake_continuations.messages[0])
    [second] = c.upload_delivery.handle(first, 1, records.invocation(1200))
    assert second.suspended and second.rows_done == 11  # resumed from the stored checkpoint
    writes, sent = records.requests["put_many"], len(c.intake_continuations.messages)
    # When the S3 notification and continuation 1 are delivered again while continuation 2 carries it
    for body in (notification(upload), first):
        [state] = c.upload_delivery.handle(body, 1, records.invocation(60_000))
        assert state.superseded
    # Then they write, count and send nothing
    assert (records.requests["put_many"], len(c.intake_continuations.messages)) == (writes, sent)
    progress = c.batches.get(upload.batch_id)
    assert (progress["rows_done"], progress["received"]) == (11, 10)
    # and once the batch is COMPLETE, its last continuation delivered again does nothing either
    last = json.dumps(c.intake_continuations.messages[-1])
    assert c.upload_delivery.handle(last, 1, records.invocation(60_000))[0].status == "COMPLETE"
    writes = records.requests["put_many"]
    assert c.upload_delivery.handle(last, 2, records.invocation(60_000))[0].status == "COMPLETE"
    assert records.requests["put_many"] == writes and c.batches.get(upload.batch_id)["received"] == 12


def test_a_crash_between_sending_a_continuation_and_recording_it_loses_no_row():
    records = Clocked()
    c = _with_margin(records, 500)

    real_hand_over = c.batches.hand_over
    crashed = {"done": False}

    def hand_over(batch_id, *, continuation, now):
        if not crashed["done"]:
            crashed["done"] = True
            raise RuntimeError("killed after sending the continuation")
        real_hand_over(batch_id, continuation=continuation, now=now)
    c.batches.hand_over = hand_over
    upload = uploaded(c, csv_of(rows12()))
    with pytest.raises(RuntimeError):
        c.upload_delivery.handle(notification(upload), 1, records.invocation(1200))
    early = json.dumps(c.intake_continuations.messages[0])
    # The continuation sent early is current (not a duplicate): it carries the batch on
    [state] = c.upload_delivery.handle(early, 1, records.invocation(60_000))
    assert state.status == "COMPLETE" and not state.superseded
    # and the notification redelivered after the crash finds the batch done
    [again] = c.upload_delivery.handle(notification(upload), 2, records.invocation(60_000))
    assert again.status == "COMPLETE"
    progress = c.batches.get(upload.batch_id)
    assert (progress["received"], progress["accepted"], progress["rejected"]) == (12, 10, 2)
    assert len(c.cleaning_queue.refs) == 10
