"""IntakeService on uploaded files, RecordSubmission and BatchProgress: the real services, built by
the composition root over the fakes (tests/fakes/), with chunks of 5 rows so that a few rows
cross several checkpoints. Crash and redelivery, replay from the DLQ, a file that goes bad half
way, a call retried after it died: what the integration tests show through S3 and SQS, here in
milliseconds (their contract: tests/contracts/)."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

import pytest

from chalicelib import errors
from chalicelib.auth.principal import Principal, Role
from chalicelib.intake.uploads import Upload
from chalicelib.wiring import Container
from tests.fakes import FakeFacilityRegistry, FakeRecords, fake_adapters, fake_container

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)
BUCKET = "intake"
HEADER = ["record_id", "facility_id", "citizen_id", "full_name", "date_of_birth", "province_code",
          "vaccine_product", "lot_number", "dose_number", "vaccination_date"]
F1 = Principal("s-f1", Role.FACILITY, facility_id="F1", province_code="001")


def row(i: int, facility: str = "F1", **changes) -> dict:
    r = {"record_id": f"R{i:03d}", "facility_id": facility, "citizen_id": f"00109{i:07d}", "full_name": "Nguyễn Văn An",
         "date_of_birth": "1990-05-17", "province_code": "001", "vaccine_product": "AstraZeneca", "lot_number": "L1",
         "dose_number": "1", "vaccination_date": "2021-08-20"}
    return {**r, **changes}


def csv_of(rows: list[dict]) -> bytes:
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=HEADER)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def rows12() -> list[dict]:
    """12 rows: row 3 (line 4) has a bad date, row 9 (line 10) names an unknown facility."""
    rows = [row(i) for i in range(12)]
    rows[2]["vaccination_date"] = "not a date"
    rows[8]["facility_id"] = "F9"
    return rows


def world(records=None) -> Container:
    overrides = {"record_store": records} if records is not None else {}
    return fake_container(facility_registry=FakeFacilityRegistry({"F1": "001"}), intake_chunk_rows=5,
                          clock=lambda: NOW, **overrides)


def uploaded(c: Container, data: bytes, key: str = "incoming/001/a.csv", etag: str = "e1") -> Upload:
    c.upload_source.put(BUCKET, key, data)
    return Upload(BUCKET, key, etag)


class CrashingRecords(FakeRecords):
    """Stores the `crash_at`-th chunk, then dies before its checkpoint (once)."""

    def __init__(self, crash_at: int) -> None:
        super().__init__()
        self.crash_at, self.crashed = crash_at, False

    def put_many(self, records, now):
        lost = super().put_many(records, now)
        if self.requests["put_many"] == self.crash_at and not self.crashed:
            self.crashed = True
            raise RuntimeError("the process was killed after writing, before the checkpoint")
        return lost


# -- IntakeService on uploads ---------------------------------------------------------------------
def test_a_file_is_stored_counted_queued_and_its_rejected_rows_reported():
    c = world()
    state = c.intake.ingest_stored(uploaded(c, csv_of(rows12())))
    assert (state.status, state.rows_done, state.chunks_done) == ("COMPLETE", 13, 3)
    progress = c.batch_progress.get(state.batch_id)
    assert (progress["received"], progress["accepted"], progress["rejected"], progress["queued"]) == (12, 10, 2, 10)
    assert progress["counts_add_up"] and progress["province_code"] == "001" and progress["failure"] is None
    report = c.report_store.read(progress["rejected_rows_report"]["key"])
    assert [(r["row_number"], r["code"]) for r in csv.DictReader(io.StringIO(report))] == [
        ("4", "BAD_DATE"), ("10", "UNKNOWN_FACILITY")]
    assert len(c.record_store.items) == 10 and len(c.cleaning_queue.refs) == 10
    assert c.counters.total("FAC#F1", "received") == 10 == c.counters.total("NATIONAL", "received")


def test_a_crash_mid_chunk_resumes_after_the_last_checkpoint_losing_and_counting_nothing_twice():
    records = CrashingRecords(crash_at=2)
    c = world(records)
    upload = uploaded(c, csv_of(rows12()))
    # Given a delivery that dies after storing the second chunk, before its checkpoint
    with pytest.raises(RuntimeError):
        c.intake.ingest_stored(upload)
    stopped = c.batches.get(upload.batch_id)
    assert (stopped["status"], stopped["rows_done"], stopped["received"]) == ("PROCESSING", 6, 5)
    # When SQS delivers the message again
    state = c.intake.ingest_stored(upload)
    # Then the batch completes from the checkpoint: the second chunk's records are recognised as
    # this batch's own (not duplicates), and every count is added once
    assert state.status == "COMPLETE"
    progress = c.batch_progress.get(upload.batch_id)
    assert (progress["received"], progress["accepted"], progress["duplicates"], progress["rejected"]) == (12, 10, 0, 2)
    assert {i["version"] for i in records.items.values()} == {1} and len(records.items) == 10
    assert c.counters.total("FAC#F1", "received") == 10
    assert sorted(set(c.cleaning_queue.refs)) == sorted((("F1", k[1], 1) for k in records.items))


def test_a_delivery_of_a_finished_batch_does_nothing():
    c = world()
    upload = uploaded(c, csv_of(rows12()))
    first = c.intake.ingest_stored(upload)
    writes = c.record_store.requests["put_many"]
    assert c.intake.ingest_stored(upload) == first and c.record_store.requests["put_many"] == writes


def test_a_file_that_goes_bad_half_way_fails_with_its_code_and_keeps_the_rows_before():
    c = world()
    text = csv_of([row(i) for i in range(7)]) + b"R900," + b"x" * 70_000 + b"\n"
    state = c.intake.ingest_stored(uploaded(c, text))
    progress = c.batch_progress.get(state.batch_id)
    assert (progress["status"], progress["failure"], progress["error_code"]) == ("FAILED", "file", "LINE_TOO_LONG")
    assert progress["accepted"] == 5 and len(c.record_store.items) == 5  # the chunk checkpointed before it
    report = list(csv.reader(io.StringIO(c.report_store.read(progress["rejected_rows_report"]["key"]))))
    assert report[1][:3] == ["", "(file)", "LINE_TOO_LONG"]


def test_a_batch_failed_by_its_delivery_is_resumed_by_a_replay_and_one_failed_by_its_file_is_not():
    c = world()
    upload = uploaded(c, csv_of(rows12()))
    c.intake.ingest_stored(uploaded(c, csv_of(rows12()[:5]), key="incoming/001/partial.csv"))
    c.batches.begin(upload.batch_id, province_code="001", source="s3://x", etag="e1", now=NOW)
    c.batches.fail(upload.batch_id, code="RETRIES_EXHAUSTED", message="m", failure="delivery", province_code="001",
                   source="s3://x", now=NOW)
    assert c.intake.ingest_stored(upload).status == "COMPLETE"  # `dlq replay intake`
    bad = uploaded(c, b"\x00\x01", key="incoming/001/bad.csv")
    assert c.intake.ingest_stored(bad).status == "FAILED"
    assert c.intake.ingest_stored(bad).status == "FAILED"  # the file is still what it was


@pytest.mark.parametrize("key", ["incoming/abc/a.csv", "other/001/a.csv", "incoming/999/a.csv", "a.csv"])
def test_attack_an_upload_outside_incoming_province_is_refused_before_anything_is_stored(key):
    c = world()
    with pytest.raises(errors.ValidationError):
        c.intake.ingest_stored(uploaded(c, csv_of(rows12()), key=key))
    assert c.batches.items == {} and c.record_store.items == {}


def test_attack_an_upload_speaks_for_its_province_only():
    c = world()
    c.facility_registry.register("F79", "079")
    state = c.intake.ingest_stored(uploaded(c, csv_of([row(1), row(2, facility="F79", province_code="079")])))
    report = c.report_store.read(c.batch_progress.get(state.batch_id)["rejected_rows_report"]["key"])
    assert "OUTSIDE_UPLOAD_PROVINCE" in report and list(c.record_store.items) == [("F1", "R001")]


def test_a_second_delivery_running_at_the_same_time_stops_at_the_moved_checkpoint():
    c = world()
    upload = uploaded(c, csv_of(rows12()))

    class OtherDeliveryFirst(FakeRecords):
        """Another delivery of the same message checkpoints the first chunk meanwhile."""

        def put_many(self, records, now):
            lost = super().put_many(records, now)
            c.batches.items[upload.batch_id]["rows_done"] = 6
            return lost

    c2 = fake_container(facility_registry=c.facility_registry, upload_source=c.upload_source, batches=c.batches,
                        record_store=OtherDeliveryFirst(), intake_chunk_rows=5, clock=lambda: NOW)
    with pytest.raises(errors.Conflict):
        c2.intake.ingest_stored(upload)
    assert c.batches.items[upload.batch_id]["received"] == 0  # this delivery counted nothing


def test_the_intake_queue_message_reaches_the_stored_file_and_a_forged_one_the_dlq():
    c = world()
    upload = uploaded(c, csv_of(rows12()))
    body = json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {
        "bucket": {"name": BUCKET}, "object": {"key": upload.key, "eTag": upload.etag}}}]})
    [state] = c.upload_delivery.handle(body, 1)
    assert state.status == "COMPLETE" and len(c.record_store.items) == 10
    assert c.upload_delivery.handle("{not json", 1) == []
    assert [(q, code) for q, _, code, _ in c.dead_letters.sent] == [("intake", "MALFORMED_MESSAGE")]


# -- BatchProgress --------------------------------------------------------------------------------
def test_an_unknown_batch_is_not_found_and_a_batch_without_rejections_has_no_report_link():
    c = world()
    with pytest.raises(errors.NotFound):
        c.batch_progress.get("b-unknown")
    state = c.intake.ingest_stored(uploaded(c, csv_of([row(1)])))
    progress = c.batch_progress.get(state.batch_id)
    assert progress["status"] == "COMPLETE" and progress["counts_add_up"]
    assert progress["rejected_rows_report"]["key"].endswith("rejected-rows.csv")  # the header alone


# -- RecordSubmission -----------------------------------------------------------------------------
def submit(c: Container, records, key: str | None = "k1", writer: Principal = F1, facility_id=None) -> dict:
    return c.submission.submit(records=records, idempotency_key=key, facility_id=facility_id, writer=writer)


@pytest.mark.parametrize("records, key, field", [
    ([row(1)], None, "Idempotency-Key"), ([row(1)], "k" * 129, "Idempotency-Key"),
    ([], "k1", "records"), ({"record_id": "R1"}, "k1", "records"), ("R1", "k1", "records"),
    ([row(i) for i in range(501)], "k1", "records")])
def test_a_call_without_a_key_or_with_no_or_too_many_records_is_refused(records, key, field):
    c = world()
    with pytest.raises(errors.ValidationError) as e:
        submit(c, records, key)
    assert e.value.details["field"] == field and c.record_store.items == {}


def test_attack_a_lone_surrogate_refuses_the_call_naming_record_and_field_and_stores_nothing():
    c = world()
    with pytest.raises(errors.ValidationError) as e:
        submit(c, [row(1), row(2, full_name="Nguy\ud800n")])
    assert e.value.details == {"record": 2, "field": "full_name", "code": "INVALID_UNICODE"}
    assert c.record_store.items == {} and c.api_calls.items == {}


def test_a_retried_call_is_answered_again_and_another_body_under_its_key_is_a_conflict():
    c = world()
    first = submit(c, [row(1), row(2, vaccination_date="soon"), "not an object"])
    assert [r["status"] for r in first["results"]] == ["accepted", "rejected", "rejected"]
    assert first["results"][2]["errors"][0]["code"] == "NOT_AN_OBJECT"
    again = submit(c, [row(1), row(2, vaccination_date="soon"), "not an object"])
    assert again == {**first, "replayed": True} and c.record_store.requests["put_many"] == 1
    with pytest.raises(errors.Conflict):
        submit(c, [row(1, lot_number="L2")])
    progress = c.batch_progress.get(first["batch_id"])
    assert (progress["kind"], progress["status"], progress["received"], progress["accepted"]) == ("api", "COMPLETE",
                                                                                                 3, 1)


def test_a_call_that_died_before_its_key_was_recorded_stores_nothing_twice_when_retried():
    class DownOnce:
        """The idempotency record cannot be written the first time (the call dies after storing)."""

        def __init__(self, inner):
            self.inner, self.failed = inner, False

        def lookup(self, namespace, key):
            return self.inner.lookup(namespace, key)

        def complete(self, *args, **kwargs):
            if not self.failed:
                self.failed = True
                raise errors.DependencyUnavailable("batches: could not record the call")
            return self.inner.complete(*args, **kwargs)

    fakes = fake_adapters()
    c = fake_container(**{**fakes, "api_calls": DownOnce(fakes["api_calls"]),
                          "facility_registry": FakeFacilityRegistry({"F1": "001"})}, clock=lambda: NOW)
    with pytest.raises(errors.DependencyUnavailable):
        submit(c, [row(1), row(2)])
    assert c.counters.total("FAC#F1", "received") == 0  # counted only with the call's record
    retried = submit(c, [row(1), row(2)])
    assert [(r["status"], r["version"]) for r in retried["results"]] == [("accepted", 1), ("accepted", 1)]
    assert c.counters.total("FAC#F1", "received") == 2 and len(c.record_store.items) == 2
