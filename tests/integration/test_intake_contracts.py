"""One contract, two implementations: the in-memory fakes of tests/fakes/intake.py and the DynamoDB
adapters behave alike on what intake relies on (conditional versions, earlier digests, registered
provinces), so tests on the fakes mean something for the adapters."""
from __future__ import annotations

import uuid
from dataclasses import astuple
from datetime import datetime, timezone

import pytest

from chalicelib.intake.records import validate_row
from chalicelib.intake.service import NewRecord
from tests.fakes.intake import MemoryBatches, MemoryFacilityDirectory, MemoryRecordStore
from tests.integration.helpers import register_facilities

pytestmark = pytest.mark.integration
NOW = datetime(2026, 1, 5, tzinfo=timezone.utc)


def record(facility: str, record_id: str, lot: str):
    return validate_row({"record_id": record_id, "facility_id": facility, "full_name": "Nguyễn Văn An",
                         "date_of_birth": "1990-05-17", "province_code": "001", "vaccine_product": "AstraZeneca",
                         "lot_number": lot, "dose_number": "1", "vaccination_date": "2021-08-20"}, row_number=1)


@pytest.fixture(params=["memory", "dynamo"])
def store(request, stack):
    if request.param == "memory":
        return MemoryRecordStore()
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.intake.records import DynamoRecordStore

    return DynamoRecordStore(Tables(stack[0]))


@pytest.fixture(params=["memory", "dynamo"])
def directory(request, stack):
    """(the directory, a function registering (facility, province) pairs in it)"""
    if request.param == "memory":
        memory = MemoryFacilityDirectory()
        return memory, lambda *pairs: memory.facilities.update(dict(pairs))
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.signing.facilities import DynamoFacilityRegistry

    return DynamoFacilityRegistry(Tables(stack[0])), lambda *pairs: register_facilities(stack[0], *pairs)


class TestRecordStoreContract:
    def test_a_new_record_is_written_once(self, store):
        f = f"C{uuid.uuid4().hex[:8]}"
        assert store.put_many([NewRecord(record(f, "R1", "L1"), "b1", 1)], NOW) == set()
        # a second writer who also read "absent" loses
        assert store.put_many([NewRecord(record(f, "R1", "L2"), "b2", 1)], NOW) == {(f, "R1")}
        got = store.get_many([(f, "R1")])[(f, "R1")]
        assert (got.version, got.batch_id, got.province_code, got.cleaned_version) == (1, "b1", "001", 0)

    def test_an_update_is_written_only_on_the_version_read(self, store):
        f = f"C{uuid.uuid4().hex[:8]}"
        store.put_many([NewRecord(record(f, "R1", "L1"), "b1", 1)], NOW)
        v1 = store.get_many([(f, "R1")])[(f, "R1")]
        keys = {(f, "R1")}
        assert store.put_many([NewRecord(record(f, "R1", "L2"), "b2", 1, v1)], NOW) == set()
        assert store.put_many([NewRecord(record(f, "R1", "L3"), "b3", 1, v1)], NOW) == keys  # stale read
        v2 = store.get_many([(f, "R1")])[(f, "R1")]
        assert v2.version == 2 and v2.earlier_digests == {v1.digest} and v2.digest == record(f, "R1", "L2").digest()

    def test_a_batch_mixes_winners_and_losers(self, store):
        f = f"C{uuid.uuid4().hex[:8]}"
        store.put_many([NewRecord(record(f, "R0", "L1"), "b1", 1)], NOW)
        batch = [NewRecord(record(f, f"R{i}", "L1"), "b2", i) for i in range(150)]  # R0 exists: loses
        assert store.put_many(batch, NOW) == {(f, "R0")}
        assert len(store.get_many([(f, f"R{i}") for i in range(150)])) == 150


    def test_a_new_version_carries_the_citizen_the_last_cleaned_version_matched(self, store):
        # The cleaning of the new version compares its match with this one to know whose passport
        # to re-evaluate when the dose moved to someone else.
        f = f"C{uuid.uuid4().hex[:8]}"
        store.put_many([NewRecord(record(f, "R1", "L1"), "b1", 1)], NOW)
        assert store.get_many([(f, "R1")])[(f, "R1")].matched_citizen_id is None
        _cleaned(store, (f, "R1"), "001090012345")
        v1 = store.get_many([(f, "R1")])[(f, "R1")]
        assert store.put_many([NewRecord(record(f, "R1", "L2"), "b2", 1, v1)], NOW) == set()
        v2 = store.get_many([(f, "R1")])[(f, "R1")]
        assert (v2.version, v2.cleaned_version, v2.matched_citizen_id) == (2, 0, "001090012345")


def _cleaned(store, key, citizen_id):
    """What the cleaning worker does to the stored version (VERIFIED, matched to `citizen_id`)."""
    if isinstance(store, MemoryRecordStore):
        store.mark_cleaned(key, matched_citizen_id=citizen_id)
        return
    from chalicelib.adapters.dynamo import record_pk

    R = store._t.Record
    R(record_pk(*key), "REC").update(actions=[R.cleaned_version.set(1), R.counted_state.set("VERIFIED"),
                                              R.state.set("VERIFIED"), R.matched_citizen_id.set(citizen_id)])


class TestFacilityDirectoryContract:
    def test_provinces_of_registered_facilities_only(self, directory):
        impl, register = directory
        a, b = f"A{uuid.uuid4().hex[:8]}", f"B{uuid.uuid4().hex[:8]}"
        register((a, "001"), (b, "079"))
        assert impl.provinces({a, b, "NOPE"}) == {a: "001", b: "079"}
        assert impl.provinces(set()) == {}


@pytest.fixture(params=["memory", "dynamo"])
def batches(request, stack):
    if request.param == "memory":
        return MemoryBatches()
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.intake.batches import DynamoBatchStore

    return DynamoBatchStore(Tables(stack[0]))


class TestBatchStoreContract:
    """A batch FAILED by its delivery resumes on replay; one FAILED by its file, or COMPLETE, never."""

    def _begin(self, batches, batch_id):
        return batches.begin(batch_id, province_code="001", source="s3://b/k", etag="e", now=NOW)

    def _fail(self, batches, batch_id, failure):
        batches.fail(batch_id, code="RETRIES_EXHAUSTED", message="m", failure=failure, province_code="001",
                     source="s3://b/k", now=NOW)

    def test_a_delivery_failure_resumes_from_its_checkpoint(self, batches):
        from chalicelib.intake.service import ChunkResult

        b = f"b-{uuid.uuid4().hex[:8]}"
        self._begin(batches, b)
        batches.checkpoint(b, expected_rows_done=0, rows_done=7, chunk=ChunkResult(received=6), now=NOW)
        self._fail(batches, b, "delivery")
        assert astuple(self._begin(batches, b))[1:] == ("FAILED", 7, 1, "delivery")
        assert astuple(batches.resume(b, now=NOW))[1:] == ("PROCESSING", 7, 1, None)

    def test_a_file_failure_or_a_complete_batch_stays_as_it_is(self, batches):
        from chalicelib.intake.errors import MalformedFile

        failed, complete = f"b-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
        for b in (failed, complete):
            self._begin(batches, b)
        batches.finish(failed, status="FAILED", report_key=None, error=MalformedFile("x"), now=NOW)
        batches.finish(complete, status="COMPLETE", report_key=None, error=None, now=NOW)
        self._fail(batches, complete, "delivery")
        assert batches.resume(failed, now=NOW).failure == "file"
        assert self._begin(batches, complete).status == "COMPLETE"

    def test_a_batch_that_never_began_is_created_failed(self, batches):
        b = f"b-{uuid.uuid4().hex[:8]}"
        self._fail(batches, b, "file")
        assert astuple(self._begin(batches, b))[1:] == ("FAILED", 0, 0, "file")
