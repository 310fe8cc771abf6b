"""Intake use cases: a province's batch file (S3) and a facility's API call, both turned into
stored records queued for cleaning, with every row accounted for.

Crash safety: a file is processed in chunks; after each chunk one conditional write moves the
batch checkpoint (rows_done) and adds that chunk's counts, so a redelivered message resumes after
the last finished chunk and counts are never added twice. Records are keyed on facility + the
facility's record id, so re-uploads and redeliveries store nothing twice; a record written by the
same batch and row before a crash is recognised as ours, not as a duplicate.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Callable, Iterable, Iterator, Protocol, Sequence

from chalicelib import errors
from chalicelib.identity.provinces import normalise_province_code
from chalicelib.intake.errors import BadFile
from chalicelib.intake.readers import read_rows
from chalicelib.intake.records import FieldError, VaccinationRecord, validate_row

CHUNK_ROWS = 500
# A chunk's checkpoint and its counter updates are one DynamoDB transaction (at most 100 items):
# the batch item, NATIONAL, and one province and one facility counter per distinct pair.
MAX_SCOPES_PER_CHUNK = 45
TERMINAL = ("COMPLETE", "FAILED")


@dataclass(frozen=True)
class StoredRecord:
    facility_id: str
    record_id: str
    digest: str
    version: int
    batch_id: str | None
    row_number: int | None
    counted_state: str | None = None


@dataclass(frozen=True)
class NewRecord:
    record: VaccinationRecord
    version: int
    batch_id: str
    row_number: int
    counted_state: str | None = None


@dataclass
class ChunkResult:
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    queued: int = 0
    rejections: list[FieldError] = field(default_factory=list)
    # (facility_id, province_code) -> new records, for the progress counters
    new_by_scope: Counter = field(default_factory=Counter)
    per_row: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class BatchState:
    batch_id: str
    status: str
    rows_done: int
    chunks_done: int


class RecordStore(Protocol):
    def get_many(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StoredRecord]: ...

    def put_many(self, records: Sequence[NewRecord], now: datetime) -> None: ...


class BatchStore(Protocol):
    def begin(self, batch_id: str, *, province_code: str, source: str, etag: str | None,
              now: datetime) -> BatchState: ...

    def checkpoint(self, batch_id: str, *, expected_rows_done: int, rows_done: int, chunk: ChunkResult,
                   now: datetime) -> None: ...

    def finish(self, batch_id: str, *, status: str, report_key: str | None, error: BadFile | None,
               now: datetime) -> None: ...


class CleaningQueue(Protocol):
    def enqueue(self, batch_id: str, refs: Sequence[tuple[str, str, int]]) -> int: ...


class ReportStore(Protocol):
    def put_part(self, batch_id: str, chunk_no: int, rejections: Sequence[FieldError]) -> None: ...

    def compose(self, batch_id: str, file_error: BadFile | None) -> str | None: ...


def batch_id_for_upload(bucket: str, key: str, etag: str | None) -> str:
    # The same object (same key and content) is the same batch: S3 redelivery and re-upload of
    # identical bytes under the same name are recognised; a different file is a new batch.
    raw = f"{bucket}/{key}#{etag or ''}".encode()
    return "b-" + hashlib.sha256(raw).hexdigest()[:24]


def province_from_key(key: str) -> str:
    """incoming/<province_code>/<file> -> the 3-digit province code, or a ValidationError."""
    parts = key.split("/")
    if len(parts) < 3 or parts[0] != "incoming" or not parts[1].isdigit():
        raise errors.ValidationError("upload key must be incoming/<province_code>/<file>",
                                     details={"key": key})
    code = normalise_province_code(parts[1])
    if code is None:
        raise errors.ValidationError("unknown province code in upload path", details={"province_code": parts[1]})
    return code


def _scope(row: object, default_province: str | None) -> tuple[str, str] | None:
    if not isinstance(row, dict):
        return None
    return (str(row.get("facility_id") or ""), str(row.get("province_code") or default_province or ""))


def _chunks(rows: Iterable, size: int, default_province: str | None = None) -> Iterator[list]:
    """Chunks of at most `size` rows and MAX_SCOPES_PER_CHUNK distinct (facility, province) pairs.
    Raw values are counted; normalising can only merge pairs, never split them."""
    chunk: list = []
    scopes: set = set()
    for row in rows:
        scope = _scope(row[1], default_province)
        if scope is not None and scope not in scopes and len(scopes) == MAX_SCOPES_PER_CHUNK:
            yield chunk
            chunk, scopes = [], set()
        chunk.append(row)
        if scope is not None:
            scopes.add(scope)
        if len(chunk) == size:
            yield chunk
            chunk, scopes = [], set()
    if chunk:
        yield chunk


class IntakeService:
    def __init__(self, records: RecordStore, batches: BatchStore, queue: CleaningQueue,
                 reports: ReportStore, clock: Callable[[], datetime], chunk_rows: int = CHUNK_ROWS) -> None:
        self._records = records
        self._batches = batches
        self._queue = queue
        self._reports = reports
        self._now = clock
        self._chunk_rows = chunk_rows

    # -- S3 batch files -------------------------------------------------------------------------
    def ingest_upload(self, *, bucket: str, key: str, etag: str | None, stream: BinaryIO) -> BatchState:
        province = province_from_key(key)
        batch_id = batch_id_for_upload(bucket, key, etag)
        state = self._batches.begin(batch_id, province_code=province, source=f"s3://{bucket}/{key}",
                                    etag=etag, now=self._now())
        if state.status in TERMINAL:
            return state
        rows_done, chunk_no = state.rows_done, state.chunks_done
        file_error: BadFile | None = None
        try:
            for chunk in _chunks(read_rows(stream, filename=key), self._chunk_rows, province):
                chunk = [r for r in chunk if r[0] > rows_done]
                if not chunk:
                    continue  # finished before a crash and redelivery
                result = self.process_rows(batch_id, chunk, default_province=province)
                if result.rejections:
                    self._reports.put_part(batch_id, chunk_no, result.rejections)
                last = chunk[-1][0]
                self._batches.checkpoint(batch_id, expected_rows_done=rows_done, rows_done=last,
                                         chunk=result, now=self._now())
                rows_done, chunk_no = last, chunk_no + 1
        except BadFile as e:
            file_error = e
        report_key = self._reports.compose(batch_id, file_error)
        status = "FAILED" if file_error else "COMPLETE"
        self._batches.finish(batch_id, status=status, report_key=report_key, error=file_error, now=self._now())
        return BatchState(batch_id, status, rows_done, chunk_no)

    # -- shared by uploads and the API ----------------------------------------------------------
    def process_rows(self, batch_id: str, rows: Sequence[tuple[int, object]], *,
                     default_province: str | None = None, default_facility: str | None = None,
                     today=None) -> ChunkResult:
        out = ChunkResult(received=len(rows))
        valid: dict[tuple[str, str], tuple[int, VaccinationRecord]] = {}
        row_status: dict[int, dict] = {}
        for row_number, row in rows:
            if isinstance(row, FieldError):
                out.rejections.append(row)
                out.rejected += 1
                row_status[row_number] = {"status": "rejected", "errors": [_err(row)]}
                continue
            res = validate_row(row, row_number=row_number, default_province=default_province,
                               default_facility=default_facility, today=today)
            if isinstance(res, list):
                out.rejections.extend(res)
                out.rejected += 1
                row_status[row_number] = {"status": "rejected", "errors": [_err(e) for e in res]}
                continue
            key = res.business_key
            if key in valid:
                first_row, first = valid[key]
                if first.digest() == res.digest():
                    out.duplicates += 1
                    out.accepted += 1
                    row_status[row_number] = {"status": "duplicate", "record_id": res.record_id}
                else:
                    err = FieldError(row_number, "record_id", "CONFLICTING_DUPLICATE",
                                     f"record_id also on row {first_row} with different values",
                                     res.record_id)
                    out.rejections.append(err)
                    out.rejected += 1
                    row_status[row_number] = {"status": "rejected", "errors": [_err(err)]}
                continue
            valid[key] = (row_number, res)

        existing = self._records.get_many(list(valid)) if valid else {}
        writes: list[NewRecord] = []
        to_clean: list[tuple[str, str, int]] = []
        for key, (row_number, rec) in valid.items():
            ex = existing.get(key)
            if ex is None:
                writes.append(NewRecord(rec, 1, batch_id, row_number))
                to_clean.append((*key, 1))
                out.new_by_scope[(rec.facility_id, rec.province_code)] += 1
                status = "accepted"
            elif ex.batch_id == batch_id and ex.row_number == row_number:
                # Written by this batch before a crash: ours, not a duplicate. Re-queue (idempotent).
                to_clean.append((*key, ex.version))
                if ex.version == 1:
                    out.new_by_scope[(rec.facility_id, rec.province_code)] += 1
                status = "accepted"
            elif ex.digest == rec.digest():
                out.duplicates += 1
                status = "duplicate"
            else:
                writes.append(NewRecord(rec, ex.version + 1, batch_id, row_number, ex.counted_state))
                to_clean.append((*key, ex.version + 1))
                status = "updated"
            out.accepted += 1
            row_status[row_number] = {"status": status, "record_id": rec.record_id}
        if writes:
            self._records.put_many(writes, self._now())
        if to_clean:
            out.queued = self._queue.enqueue(batch_id, to_clean)
        out.per_row = [dict(row=n, **row_status[n]) for n, _ in rows if n in row_status]
        return out


def _err(e: FieldError) -> dict:
    return {"field": e.field, "code": e.code, "message": e.message}


@dataclass(frozen=True)
class IdempotentCall:
    request_hash: str
    response: dict | None


class ApiCallStore(Protocol):
    def lookup(self, facility_scope: str, key: str) -> IdempotentCall | None: ...

    def complete(self, facility_scope: str, key: str, *, batch_id: str, request_hash: str,
                 response: dict, chunk: ChunkResult, now: datetime) -> None: ...


def request_hash(records: Sequence[dict]) -> str:
    import json

    return hashlib.sha256(json.dumps(records, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).hexdigest()


class RecordSubmission:
    """POST /v1/vaccination-records: up to N records per call, idempotent on the caller's key.

    A retried call with the same key and body gets the first answer again (nothing is stored
    twice); the same key with a different body is a 409, since the caller is confused about what
    it sent."""

    def __init__(self, intake: IntakeService, calls: ApiCallStore, clock: Callable[[], datetime],
                 max_records: int) -> None:
        self._intake = intake
        self._calls = calls
        self._now = clock
        self._max = max_records

    def submit(self, *, records: object, idempotency_key: str | None, facility_id: str | None) -> dict:
        if not idempotency_key or len(idempotency_key) > 128:
            raise errors.ValidationError("the Idempotency-Key header is required (at most 128 characters)",
                                         details={"field": "Idempotency-Key"})
        if not isinstance(records, list) or not records:
            raise errors.ValidationError("body must be {\"records\": [ ... ]} with at least one record",
                                         details={"field": "records"})
        if len(records) > self._max:
            raise errors.ValidationError(f"at most {self._max} records per call",
                                         details={"field": "records", "count": len(records)})
        scopes = {_scope(r, None) for r in records if isinstance(r, dict)}
        if len(scopes) > MAX_SCOPES_PER_CHUNK:
            raise errors.ValidationError(
                f"one call may carry records of at most {MAX_SCOPES_PER_CHUNK} facility/province pairs",
                details={"field": "records", "pairs": len(scopes)})
        scope = facility_id or "-"
        digest = request_hash(records)
        previous = self._calls.lookup(scope, idempotency_key)
        if previous is not None:
            if previous.request_hash != digest:
                raise errors.Conflict("this Idempotency-Key was used with a different body")
            if previous.response is not None:
                return {**previous.response, "replayed": True}
        batch_id = "api-" + hashlib.sha256(f"{scope}#{idempotency_key}".encode()).hexdigest()[:24]
        rows = [(i, r if isinstance(r, dict) else FieldError(i, "(record)", "NOT_AN_OBJECT",
                                                             "each record must be a JSON object", ""))
                for i, r in enumerate(records, start=1)]
        chunk = self._intake.process_rows(batch_id, rows, default_facility=facility_id)
        response = {"batch_id": batch_id, "received": chunk.received, "accepted": chunk.accepted,
                    "duplicates": chunk.duplicates, "rejected": chunk.rejected,
                    "results": chunk.per_row, "replayed": False}
        self._calls.complete(scope, idempotency_key, batch_id=batch_id, request_hash=digest,
                             response=response, chunk=chunk, now=self._now())
        return response
