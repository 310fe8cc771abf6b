"""In-memory fakes of the intake ports (chalicelib/intake/service.py, cleaning/corrections.py).

`MemoryRecordStore` keeps the same write conditions as `DynamoRecordStore` (a new record: absent;
an update: the version, digest and cleaning state read), checked by the contract tests in
tests/integration/test_intake_contracts.py, so tests on the fake mean something for the adapter.
"""
from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import datetime, timezone

from chalicelib.cleaning.corrections import CorrectionService, RecordView
from chalicelib.intake.service import FAILED_DELIVERY, FAILED_FILE, BatchState, IntakeService, NewRecord, StoredRecord
from chalicelib.intake.submission import IdempotentCall, RecordSubmission


class MemoryRecordStore:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict] = {}
        self.lock = threading.Lock()
        self.requests = Counter()

    def get_many(self, keys):
        self.requests["get_many"] += 1
        with self.lock:
            return {k: self._stored(self.items[k]) for k in keys if k in self.items}

    @staticmethod
    def _stored(i: dict) -> StoredRecord:
        return StoredRecord(facility_id=i["facility_id"], record_id=i["record_id"], digest=i["digest"],
                            version=i["version"], batch_id=i["batch_id"], row_number=i["row_number"],
                            counted_state=i["counted_state"], province_code=i["province_code"],
                            cleaned_version=i["cleaned_version"], earlier_digests=frozenset(i["earlier_digests"]),
                            matched_citizen_id=i.get("matched_citizen_id"))

    def put_many(self, records: list[NewRecord], now) -> set:
        self.requests["put_many"] += 1
        lost = set()
        with self.lock:
            for n in records:
                key, p = n.record.business_key, n.previous
                cur = self.items.get(key)
                if p is None and cur is not None or p is not None and (
                        cur is None or (cur["version"], cur["digest"], cur["cleaned_version"])
                        != (p.version, p.digest, p.cleaned_version)):
                    lost.add(key)
                    continue
                r = n.record
                self.items[key] = {
                    "facility_id": r.facility_id, "record_id": r.record_id, "province_code": r.province_code,
                    "digest": r.digest(), "version": n.version, "batch_id": n.batch_id, "row_number": n.row_number,
                    "counted_state": n.counted_state, "cleaned_version": 0, "earlier_digests": set(n.earlier_digests),
                    "data": r.canonical(), "original": dict(r.original), "state": "PENDING",
                    "matched_citizen_id": p.matched_citizen_id if p is not None else None}
        return lost

    def mark_cleaned(self, key, state: str = "VERIFIED", matched_citizen_id: str | None = None) -> None:
        """What the cleaning worker does to the item (tests use it to move the cleaning state)."""
        with self.lock:
            item = self.items[key]
            item.update(cleaned_version=item["version"], counted_state=state, state=state,
                        matched_citizen_id=matched_citizen_id)

    # RecordReader (corrections)
    def get(self, facility_id, record_id):
        with self.lock:
            i = self.items.get((facility_id, record_id))
            if i is None:
                return None
            return RecordView(i["facility_id"], i["record_id"], i["province_code"], i["version"], i["state"],
                              dict(i["data"]), dict(i["original"]), None)


class MemoryFacilityDirectory:
    def __init__(self, facilities: dict[str, str] | None = None) -> None:
        self.facilities = dict(facilities or {})
        self.calls = 0

    def save_facility(self, facility, now) -> None:
        from chalicelib.signing.facilities import ProvinceFixed

        if self.facilities.get(facility.facility_id, facility.province) != facility.province:
            raise ProvinceFixed("registered in another province")
        self.facilities[facility.facility_id] = facility.province

    def provinces(self, facility_ids):
        self.calls += 1
        return {f: self.facilities[f] for f in facility_ids if f in self.facilities}


class MemoryBatches:
    def __init__(self) -> None:
        self.items: dict[str, dict] = {}

    def _item(self, batch_id) -> dict:
        return self.items.setdefault(batch_id, {"status": "PROCESSING", "rows_done": 0, "chunks_done": 0})

    def _state(self, batch_id) -> BatchState:
        b = self.items[batch_id]
        return BatchState(batch_id, b["status"], b["rows_done"], b["chunks_done"], b.get("failure"))

    def begin(self, batch_id, *, province_code, source, etag, now):
        self._item(batch_id)
        return self._state(batch_id)

    def checkpoint(self, batch_id, *, expected_rows_done, rows_done, chunk, now):
        b = self.items[batch_id]
        assert b["rows_done"] == expected_rows_done
        b.update(rows_done=rows_done, chunks_done=b["chunks_done"] + 1)

    def finish(self, batch_id, *, status, report_key, error, now):
        self.items[batch_id].update(status=status, failure=FAILED_FILE if error else None,
                                    error_code=error.code if error else None)

    def fail(self, batch_id, *, code, message, failure, province_code, source, now):
        b = self._item(batch_id)
        if b["status"] != "COMPLETE":
            b.update(status="FAILED", failure=failure, error_code=code, error_message=message,
                     province_code=b.get("province_code") or province_code)

    def resume(self, batch_id, *, now):
        b = self.items[batch_id]
        if b["status"] == "FAILED" and b.get("failure") == FAILED_DELIVERY:
            b.update(status="PROCESSING", failure=None, error_code=None, error_message=None)
        return self._state(batch_id)


class MemoryQueue:
    def __init__(self) -> None:
        self.refs: list[tuple[str, str, int]] = []

    def enqueue(self, batch_id, refs):
        self.refs.extend(tuple(r) for r in refs)
        return len(refs)


class MemoryReports:
    def __init__(self) -> None:
        self.parts: dict[str, list] = {}

    def put_part(self, batch_id, chunk_no, rejections):
        self.parts.setdefault(batch_id, []).extend(rejections)

    def compose(self, batch_id, file_error):
        return f"reports/{batch_id}/rejected-rows.csv"


class MemoryApiCalls:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], tuple[str, dict]] = {}

    def lookup(self, namespace, key):
        found = self.items.get((namespace, key))
        return None if found is None else IdempotentCall(found[0], json.loads(json.dumps(found[1])))

    def complete(self, namespace, key, *, batch_id, request_hash, response, chunk, now):
        self.items.setdefault((namespace, key), (request_hash, response))


class MemoryCorrectionCounters:
    def __init__(self) -> None:
        self.counted = Counter()

    def corrected(self, facility_id, province_code):
        self.counted[(facility_id, province_code)] += 1


class MemoryAccessLog:
    """The access log's port in memory (the DynamoDB adapter is tested on LocalStack)."""

    def __init__(self) -> None:
        self.entries: list = []

    def record_read(self, entry):
        self.entries.append(entry)

    def reads_of_record(self, facility_id, record_id, *, since=None):
        return [e for e in self.entries if (e.facility_id, e.record_id) == (facility_id, record_id)
                and (since is None or e.at >= since)]

    def reads_by(self, reader_key, *, since=None):
        return [e for e in self.entries if e.reader.key() == reader_key and (since is None or e.at >= since)]


class IntakeWorld:
    """The real intake, submission and correction services over the fakes above."""

    def __init__(self, facilities: dict[str, str] | None = None) -> None:
        now = lambda: datetime(2026, 1, 5, tzinfo=timezone.utc)  # noqa: E731
        self.records = MemoryRecordStore()
        self.facilities = MemoryFacilityDirectory(facilities)
        self.queue = MemoryQueue()
        self.reports = MemoryReports()
        self.batches = MemoryBatches()
        self.calls = MemoryApiCalls()
        self.intake = IntakeService(self.records, self.batches, self.queue, self.reports, now,
                                    facilities=self.facilities)
        self.submission = RecordSubmission(self.intake, self.calls, now, max_records=500)
        self.access = MemoryAccessLog()
        self.corrections = CorrectionService(self.records, self.intake, MemoryCorrectionCounters(),
                                             self.access, now)
