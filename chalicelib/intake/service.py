"""Intake: the rows of a province's batch file (S3) or of a facility's API call turned into
stored records queued for cleaning, with every row accounted for. How an S3 notification reaches
`IntakeService.ingest_upload` is intake/uploads.py; the API call's idempotency is
intake/submission.py.

Crash safety: a file is processed in chunks; after each chunk one conditional write moves the
batch checkpoint (rows_done) and adds that chunk's counts, so a redelivered message resumes after
the last finished chunk and counts are never added twice. Deadlines: given the invocation's
remaining time, a file stops between chunks before the time runs out (a chunk is never cut) and
the batch is handed to a continuation message (intake/uploads.py), which resumes from the same
stored checkpoint. Records are keyed on facility + the
facility's record id, so re-uploads and redeliveries store nothing twice; a record written by the
same batch and row before a crash is recognised as ours, not as a duplicate.

Speed: a file's chunks are validated in file order and stored PIPELINE_CHUNKS at a time
(checkpoints still in file order, each after its chunk is stored; a record also named by a chunk
in flight waits for it, so a later row is always decided after an earlier one). A chunk is
written without reading its records first while the chunk before found none of them stored (a new
province file): every write of a record not read is conditional on its absence, so a stored one
loses like a race and is read and decided on what is stored. Crash safety is unchanged: rows
stored past the checkpoint are ours on redelivery.

Authorisation is decided here, on what will be stored and what is stored, never on the raw row
(chalicelib/auth/policy.py): every validated record must be within the writer's scope, name a
registered facility under that facility's registered province, and a row that changes a stored
record must leave its owner (facility and province) as it is.

Lost updates: every write is conditional on the version it was decided on (a new record: absent;
an update: the version, and the cleaning state, read). A write that loses is re-read and decided
again as if it had come after the winner (it may become a duplicate or the next version), at most
MAX_WRITE_ROUNDS times; corrections, which change a version the caller has seen, are refused
instead (CONCURRENT_UPDATE) so the caller re-reads. A row equal to any earlier version of a record
is a duplicate, so a stale re-upload never reverts a correction; only a correction may restore
earlier values.
"""
from __future__ import annotations

import hashlib
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Collection, Iterable, Iterator, Mapping, Protocol, Sequence

from chalicelib import errors
from chalicelib.auth import policy
from chalicelib.auth.principal import Principal, Role
from chalicelib.identity.provinces import normalise_province_code
from chalicelib.intake.errors import BadFile
from chalicelib.intake.readers import read_rows
from chalicelib.intake.records import (
    FieldError, IntakeLimits, VaccinationRecord, validate_row,
)

if TYPE_CHECKING:  # uploads.py builds on this module
    from chalicelib.intake.uploads import Upload

CHUNK_ROWS = 500
# Chunks of a file stored at once: the next chunk is validated, read and written while the one
# before is still being written, so the emulator (or DynamoDB) always has a chunk's requests in
# flight instead of idling at each chunk's slowest transaction. Checkpoints stay in file order.
PIPELINE_CHUNKS = 2
# A chunk's checkpoint and its counter updates are one DynamoDB transaction (at most 100 items):
# the batch item, NATIONAL, and one province and one facility counter per distinct pair.
MAX_SCOPES_PER_CHUNK = 45
TERMINAL = ("COMPLETE", "FAILED")
# A write that lost a race is re-read and decided again this many times before its row is
# rejected with CONCURRENT_UPDATE (only a record hammered by writers gets that far).
MAX_WRITE_ROUNDS = 3
# Every version keeps the digests of the earlier ones (64 bytes each) on the record item.
MAX_VERSIONS = 1000
# Why a batch FAILED. "file": the upload itself is at fault (a bad file, a key outside
# incoming/<province>/); delivering it again changes nothing, a corrected file is a new upload.
# "delivery": its message kept failing for a reason that may pass (DynamoDB, S3 or SQS down, a
# crash) and went to the DLQ; a replay of that message resumes the batch from its checkpoint.
FAILED_FILE = "file"
FAILED_DELIVERY = "delivery"


@dataclass(frozen=True)
class StoredRecord:
    facility_id: str
    record_id: str
    digest: str
    version: int
    batch_id: str | None
    row_number: int | None
    counted_state: str | None = None
    province_code: str = ""
    cleaned_version: int = 0
    earlier_digests: frozenset[str] = frozenset()
    # Carried over to the next version: its cleaning tells whose passport to re-evaluate if the
    # dose now matches someone else (chalicelib/cleaning/worker.py).
    matched_citizen_id: str | None = None


@dataclass(frozen=True)
class NewRecord:
    """A version to store; `previous` is the stored version it was decided on (None for a new
    record), and the write happens only if that is still what is stored."""

    record: VaccinationRecord
    batch_id: str
    row_number: int
    previous: StoredRecord | None = None

    @property
    def version(self) -> int:
        return 1 if self.previous is None else self.previous.version + 1

    @property
    def counted_state(self) -> str | None:
        # The outcome the record adds to the counters survives new versions (cleaning moves it).
        return None if self.previous is None else self.previous.counted_state

    @property
    def earlier_digests(self) -> frozenset[str]:
        p = self.previous
        return frozenset() if p is None else p.earlier_digests | {p.digest}


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
    failure: str | None = None  # FAILED_FILE or FAILED_DELIVERY when FAILED
    # Which delivery carries the batch: 0 its S3 notification, n its n-th continuation message
    # (intake/uploads.py). A delivery carrying an earlier one is a duplicate and does nothing.
    continuation: int = 0
    # Stopped for the invocation's deadline at a checkpoint, still PROCESSING: hand it over.
    suspended: bool = False
    # This delivery did nothing: the batch was handed over to a later continuation.
    superseded: bool = False


class RecordStore(Protocol):
    def get_many(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StoredRecord]: ...

    def put_many(self, records: Sequence[NewRecord], now: datetime) -> set[tuple[str, str]]:
        """Stores each record only if its `previous` is still the stored version (absent for a new
        record); returns the keys that lost (nothing stored for them). Raises
        DependencyUnavailable when it could not tell (some may be stored: a retry is safe)."""


class FacilityDirectory(Protocol):
    def provinces(self, facility_ids: Collection[str]) -> dict[str, str]:
        """The registered province of each facility that is registered (one batched read)."""


class BatchStore(Protocol):
    def begin(self, batch_id: str, *, province_code: str, source: str, etag: str | None,
              now: datetime) -> BatchState: ...

    def checkpoint(self, batch_id: str, *, expected_rows_done: int, rows_done: int, chunk: ChunkResult,
                   now: datetime) -> None: ...

    def finish(self, batch_id: str, *, status: str, report_key: str | None, error: BadFile | None,
               now: datetime) -> None: ...

    def fail(self, batch_id: str, *, code: str, message: str, failure: str, province_code: str | None,
             source: str, now: datetime) -> None:
        """FAILED with the reason, unless the batch is COMPLETE (creating it if it never began)."""

    def resume(self, batch_id: str, *, now: datetime) -> BatchState:
        """A batch FAILED by delivery back to PROCESSING, its checkpoint kept; the state after."""

    def hand_over(self, batch_id: str, *, continuation: int, now: datetime) -> None:
        """Records that continuation message number `continuation` carries the batch from now on
        (only ever upwards: a later hand-over that landed first is kept)."""

    def get(self, batch_id: str) -> dict | None:
        """The batch as stored: PROGRESS_FIELDS (counts as ints), `report_key`, and where its file
        is (`source` s3://bucket/key or api, `etag`) and which delivery carries it
        (`continuation`, an int); None if unknown."""


class CleaningQueue(Protocol):
    def enqueue(self, batch_id: str, refs: Sequence[tuple[str, str, int]]) -> int: ...


class ReportStore(Protocol):
    def put_part(self, batch_id: str, chunk_no: int, rejections: Sequence[FieldError]) -> None: ...

    def compose(self, batch_id: str, file_error: BadFile | None) -> str | None: ...

    def link(self, key: str) -> dict:
        """{"bucket", "key", "url"} of a composed report: where its reader downloads it (a
        short-lived URL)."""


class UploadSource(Protocol):
    def open(self, bucket: str, key: str) -> BinaryIO:
        """A stream of an uploaded file's bytes, read as the file is processed; closed by the caller."""


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


# What GET /v1/batches/{id} shows of a batch (besides the report link).
PROGRESS_FIELDS = ("batch_id", "kind", "province_code", "status", "received", "accepted", "duplicates", "rejected",
                   "queued", "cleaned", "rows_done", "error_code", "error_message", "failure", "created_at",
                   "updated_at")


class BatchProgress:
    """A batch's progress as its province and the ministry read it: the counts (which add up once
    every row is accounted for), its state and failure, and a link to its rejected-rows report."""

    def __init__(self, batches: BatchStore, reports: ReportStore) -> None:
        self._batches = batches
        self._reports = reports

    def get(self, batch_id: str) -> dict:
        stored = self._batches.get(batch_id)
        if stored is None:
            raise errors.NotFound("no such batch", details={"batch_id": batch_id})
        out: dict[str, Any] = {k: stored.get(k) for k in PROGRESS_FIELDS}
        out["counts_add_up"] = out["received"] == out["accepted"] + out["rejected"]
        if stored.get("report_key"):
            out["rejected_rows_report"] = self._reports.link(stored["report_key"])
        return out


@dataclass(frozen=True)
class Writer:
    """Who writes a chunk, as a pure value: the principal whose scope bounds every record the chunk
    creates or changes, and what becomes of a row outside it. An API caller's call is refused
    whole (403, nothing stored); a file's row is rejected with `out_of_scope_code`."""

    principal: Principal
    refuse_call: bool = True
    out_of_scope_code: str = "OUT_OF_SCOPE"

    @classmethod
    def upload(cls, province_code: str) -> "Writer":
        """A file under incoming/<code>/ speaks for that province only."""
        return cls(Principal(subject=f"upload:incoming/{province_code}/", role=Role.PROVINCE,
                             province_code=province_code), refuse_call=False,
                   out_of_scope_code="OUTSIDE_UPLOAD_PROVINCE")


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


@dataclass(frozen=True)
class _Decision:
    """What to do with one valid row, given the stored version of its record."""

    status: str  # accepted | updated | duplicate | rejected
    version: int | None = None  # the version stored once this is done
    write: NewRecord | None = None
    queue_version: int | None = None  # (re)queue this version for cleaning
    counts_new: bool = False  # a record new to the counters
    error: FieldError | None = None


def _decide(rec: VaccinationRecord, stored: StoredRecord | None, *, batch_id: str, row_number: int,
            seen_version: int | None) -> _Decision:
    """Pure: the row against the stored version. `seen_version` is set for a correction: the
    version its changes were made on (it may restore earlier values, but only on top of that one)."""
    if stored is None:
        if seen_version is not None:
            return _Decision("rejected", error=_concurrent(row_number, rec))
        return _Decision("accepted", 1, NewRecord(rec, batch_id, row_number), 1, counts_new=True)
    if stored.batch_id == batch_id and stored.row_number == row_number and stored.digest == rec.digest():
        # Written by this batch before a crash: ours, not a duplicate. Re-queue (idempotent).
        # Only with the same values: an API call that died before its Idempotency-Key was
        # recorded may be retried with a changed body, and that is a new version, not ours.
        return _Decision("accepted", stored.version, queue_version=stored.version,
                         counts_new=stored.version == 1)
    if seen_version is not None and stored.version != seen_version:
        return _Decision("rejected", error=_concurrent(row_number, rec))
    if stored.province_code != rec.province_code:
        return _Decision("rejected", error=FieldError(
            row_number, "province_code", "PROVINCE_CHANGE_NOT_ALLOWED",
            f"record {rec.record_id} is stored under province {stored.province_code}; "
            "intake never moves a record to another province", rec.province_code))
    digest = rec.digest()
    if digest == stored.digest:
        # Stored but never cleaned (a crash between the write and the queue): queue it again.
        requeue = stored.version if stored.cleaned_version < stored.version else None
        return _Decision("duplicate", stored.version, queue_version=requeue)
    if digest in stored.earlier_digests and seen_version is None:
        return _Decision("duplicate", stored.version)  # a stale copy: never reverts a newer version
    if stored.version >= MAX_VERSIONS:
        return _Decision("rejected", error=FieldError(
            row_number, "record_id", "TOO_MANY_VERSIONS",
            f"record {rec.record_id} already has {MAX_VERSIONS} versions", rec.record_id))
    nxt = NewRecord(rec, batch_id, row_number, stored)
    return _Decision("updated", nxt.version, nxt, nxt.version)


def _concurrent(row_number: int, rec: VaccinationRecord) -> FieldError:
    return FieldError(row_number, "record_id", "CONCURRENT_UPDATE",
                      f"record {rec.record_id} was changed by someone else meanwhile; read it and try again",
                      rec.record_id)


@dataclass
class _Chunk:
    """One chunk between its validation (pure, done in file order) and its storage (I/O, which for
    a file may run beside the next chunk's validation and storage)."""

    batch_id: str
    rows: Sequence[tuple[int, Mapping[str, object] | FieldError]]
    writer: Writer
    seen: Mapping[tuple[str, str], int]
    out: ChunkResult = field(init=False)
    valid: dict[tuple[str, str], tuple[int, VaccinationRecord]] = field(default_factory=dict)
    repeats: list[tuple[int, int]] = field(default_factory=list)  # (row, earlier row) repeating it
    row_status: dict[int, dict] = field(default_factory=dict)
    rejected_for: dict[int, list[FieldError]] = field(default_factory=dict)
    to_clean: list[tuple[str, str, int]] = field(default_factory=list)
    found_stored: int = 0  # records of the chunk already stored when it was written
    known_facilities: dict[str, str] | None = None  # shared by a file's chunks: _check_registered

    def __post_init__(self) -> None:
        self.out = ChunkResult(received=len(self.rows))

    def reject(self, row_number: int, errs: list[FieldError]) -> None:
        self.out.rejections.extend(errs)
        self.out.rejected += 1
        self.rejected_for[row_number] = errs
        self.row_status[row_number] = {"status": "rejected", "errors": [_err(e) for e in errs]}


@dataclass(frozen=True)
class _InFlight:
    chunk: _Chunk
    stored: Future[None]
    started_ms: int | None  # the invocation's remaining time when it was submitted


class IntakeService:
    def __init__(self, records: RecordStore, batches: BatchStore, queue: CleaningQueue,
                 reports: ReportStore, clock: Callable[[], datetime], *, facilities: FacilityDirectory,
                 chunk_rows: int = CHUNK_ROWS, limits: IntakeLimits = IntakeLimits(),
                 uploads: UploadSource | None = None, deadline_margin_ms: int = 0,
                 pipeline_chunks: int = PIPELINE_CHUNKS, assume_new: bool = True) -> None:
        self._records = records
        self._batches = batches
        self._queue = queue
        self._reports = reports
        self._facilities = facilities
        self._now = clock
        self._chunk_rows = chunk_rows
        self._limits = limits
        self._uploads = uploads
        self._margin_ms = deadline_margin_ms
        self._pipeline = max(1, pipeline_chunks)
        self._assume_new = assume_new

    # -- S3 batch files -------------------------------------------------------------------------
    def ingest_stored(self, upload: Upload, *, continuation: int = 0,
                      remaining_ms: Callable[[], int] | None = None) -> BatchState:
        """Streams one uploaded batch file from where it is stored (the upload source) through
        `ingest_upload`."""
        if self._uploads is None:
            raise errors.DependencyUnavailable("no upload source is configured")
        stream = self._uploads.open(upload.bucket, upload.key)
        try:
            return self.ingest_upload(bucket=upload.bucket, key=upload.key, etag=upload.etag, stream=stream,
                                      continuation=continuation, remaining_ms=remaining_ms)
        finally:
            stream.close()

    def ingest_upload(self, *, bucket: str, key: str, etag: str | None, stream: BinaryIO, continuation: int = 0,
                      remaining_ms: Callable[[], int] | None = None) -> BatchState:
        """`continuation`: which delivery this is (0 the S3 notification, n the n-th continuation
        message); `remaining_ms`: the invocation's remaining time (the Lambda context's
        `get_remaining_time_in_millis`), None for no deadline."""
        province = province_from_key(key)
        batch_id = batch_id_for_upload(bucket, key, etag)
        state = self._batches.begin(batch_id, province_code=province, source=f"s3://{bucket}/{key}",
                                    etag=etag, now=self._now())
        if state.status == "FAILED" and state.failure == FAILED_DELIVERY:
            state = self._batches.resume(batch_id, now=self._now())  # a replay from the DLQ
        elif state.status == "PROCESSING" and continuation < state.continuation:
            # A duplicate of a message whose batch was handed on (a redelivered notification or
            # continuation): the later continuation carries it, so this one does nothing.
            return replace(state, superseded=True)
        if state.status in TERMINAL:
            return state
        resumed_at = state.rows_done
        rows_done, chunk_no = state.rows_done, state.chunks_done
        writer = Writer.upload(province)
        file_error: BadFile | None = None
        # The longest chunk of this invocation: the next one is started only if it fits, with
        # the margin kept for the report, the hand-over and anything slower than seen so far.
        longest_ms: int | None = None
        # Chunks being stored, oldest first; each is checkpointed in file order once stored.
        window: deque[_InFlight] = deque()
        # A new province file is mostly records never seen: their chunk is written without reading
        # first, for as long as the chunks before it found none of their records stored (a
        # corrected re-upload, or the chunk a crash interrupted, reads first again).
        assume_new = self._assume_new
        known_facilities: dict[str, str] = {}

        def checkpoint_oldest() -> None:
            nonlocal rows_done, chunk_no, longest_ms, assume_new
            flight = window.popleft()
            flight.stored.result()  # a chunk that failed to store fails this delivery
            assume_new = self._assume_new and flight.chunk.found_stored == 0
            result = self._queue_cleaning(flight.chunk)
            if result.rejections:
                self._reports.put_part(batch_id, chunk_no, result.rejections)
            last = flight.chunk.rows[-1][0]
            self._batches.checkpoint(batch_id, expected_rows_done=rows_done, rows_done=last, chunk=result,
                                     now=self._now())
            rows_done, chunk_no = last, chunk_no + 1
            if remaining_ms is not None and flight.started_ms is not None:
                # Submission to checkpoint: with chunks overlapping this overstates a chunk, never less.
                longest_ms = max(longest_ms or 0, flight.started_ms - remaining_ms())

        with ThreadPoolExecutor(max_workers=self._pipeline, thread_name_prefix="intake-chunk") as pool:
            try:
                for rows in _chunks(read_rows(stream, filename=key, limits=self._limits), self._chunk_rows,
                                    province):
                    rows = [r for r in rows if r[0] > resumed_at]
                    if not rows:
                        continue  # finished before a crash and redelivery
                    chunk = self._prepare(batch_id, rows, writer=writer, default_province=province)
                    chunk.known_facilities = known_facilities
                    # A record also named by a chunk still being stored is read only once that one
                    # is stored, so a file's later row is decided after its earlier one, as if the
                    # chunks ran one at a time. An invocation's first chunk is timed on its own.
                    while window and (len(window) >= self._pipeline
                                      or (remaining_ms is not None and longest_ms is None)
                                      or any(not flight.chunk.valid.keys().isdisjoint(chunk.valid)
                                             for flight in window)):
                        checkpoint_oldest()
                    # Counted as if the chunks in flight and this one ran one after the other. At
                    # least one chunk per invocation, so a batch always moves on.
                    if (remaining_ms is not None and longest_ms is not None
                            and remaining_ms() < self._margin_ms + longest_ms * (len(window) + 1)):
                        while window:
                            checkpoint_oldest()
                        if remaining_ms() < self._margin_ms + longest_ms:
                            return replace(state, rows_done=rows_done, chunks_done=chunk_no, suspended=True,
                                           continuation=max(continuation, state.continuation))
                    started = remaining_ms() if remaining_ms is not None else None
                    window.append(_InFlight(chunk, pool.submit(self._store, chunk, assume_new=assume_new),
                                            started))
            except BadFile as e:
                file_error = e
            except BaseException:
                for flight in window:
                    flight.stored.cancel()  # not started: nothing of it is written
                raise
            while window:
                checkpoint_oldest()
        report_key = self._reports.compose(batch_id, file_error)
        status = "FAILED" if file_error else "COMPLETE"
        self._batches.finish(batch_id, status=status, report_key=report_key, error=file_error, now=self._now())
        return BatchState(batch_id, status, rows_done, chunk_no)

    # -- shared by uploads, the API and corrections ----------------------------------------------
    def process_rows(self, batch_id: str, rows: Sequence[tuple[int, Mapping[str, object] | FieldError]], *,
                     writer: Writer, default_province: str | None = None, default_facility: str | None = None,
                     seen_versions: Mapping[tuple[str, str], int] | None = None,
                     today=None) -> ChunkResult:
        """Validates, authorises and stores one chunk. `seen_versions` marks the rows as corrections
        of the versions the caller read (see `_decide`). Requests: one BatchGet of the distinct
        facilities, one BatchGet per 100 records, one conditional transaction per 100 writes (a
        lost condition costs one conditional put per record of that transaction and a re-read)."""
        chunk = self._prepare(batch_id, rows, writer=writer, default_province=default_province,
                              default_facility=default_facility, seen_versions=seen_versions, today=today)
        self._store(chunk)
        return self._queue_cleaning(chunk)

    def _prepare(self, batch_id: str, rows: Sequence[tuple[int, Mapping[str, object] | FieldError]], *,
                 writer: Writer, default_province: str | None = None, default_facility: str | None = None,
                 seen_versions: Mapping[tuple[str, str], int] | None = None, today=None) -> _Chunk:
        """The pure half of a chunk: every row validated and the records authorised as sent."""
        chunk = _Chunk(batch_id, rows, writer, seen_versions or {})
        valid = chunk.valid
        for row_number, row in rows:
            if isinstance(row, FieldError):
                chunk.reject(row_number, [row])
                continue
            res = validate_row(row, row_number=row_number, default_province=default_province,
                               default_facility=default_facility, today=today, limits=self._limits)
            if isinstance(res, list):
                chunk.reject(row_number, res)
                continue
            key = res.business_key
            if key in valid:
                first_row, first = valid[key]
                if first.digest() == res.digest():
                    chunk.repeats.append((row_number, first_row))  # its fate is the earlier row's
                else:
                    chunk.reject(row_number, [FieldError(row_number, "record_id", "CONFLICTING_DUPLICATE",
                                                         f"record_id also on row {first_row} with different values",
                                                         res.record_id)])
                continue
            valid[key] = (row_number, res)
        self._authorise_sent(writer, valid, chunk.reject)
        return chunk

    def _store(self, chunk: _Chunk, *, assume_new: bool = False) -> None:
        """The I/O half of a chunk: facilities checked, records read, decided and written
        conditionally (re-read and decided again when a write loses a race). `assume_new` skips
        the first read: every record is written as new, on the condition that it is absent, so a
        record that is stored after all loses that write like a race, and is read and decided
        again in a round of its own (it does not count against MAX_WRITE_ROUNDS)."""
        valid, out, writer = chunk.valid, chunk.out, chunk.writer
        self._check_registered(valid, chunk.reject, chunk.known_facilities)
        assume_new = assume_new and not writer.refuse_call and not chunk.seen
        existing = self._records.get_many(list(valid)) if valid and not assume_new else {}
        chunk.found_stored = len(existing)
        if writer.refuse_call and any(not policy.record_in_scope(writer.principal, ex.facility_id, ex.province_code)
                                      for ex in existing.values()):
            raise policy.OutOfScope("a record in this call is stored under a facility or province outside your scope")

        def settle(key: tuple[str, str], d: _Decision) -> None:
            row_number, rec = valid[key]
            if d.error is not None:
                chunk.reject(row_number, [d.error])
                return
            if d.queue_version is not None:
                chunk.to_clean.append((*key, d.queue_version))
            if d.counts_new:
                out.new_by_scope[(rec.facility_id, rec.province_code)] += 1
            if d.status == "duplicate":
                out.duplicates += 1
            out.accepted += 1
            chunk.row_status[row_number] = {"status": d.status, "record_id": rec.record_id, "version": d.version}

        seen = chunk.seen
        pending = {key: existing.get(key) for key in valid}
        rounds = MAX_WRITE_ROUNDS + (1 if assume_new else 0)
        for round_no in range(1, rounds + 1):
            writes: dict[tuple[str, str], _Decision] = {}
            for key, stored in pending.items():
                row_number, rec = valid[key]
                d = _decide(rec, stored, batch_id=chunk.batch_id, row_number=row_number,
                            seen_version=seen.get(key))
                if d.write is None:
                    settle(key, d)
                else:
                    writes[key] = d
            new = [d.write for d in writes.values() if d.write is not None]  # all of them: see above
            lost = self._records.put_many(new, self._now()) if writes else set()
            for key, d in writes.items():
                if key not in lost:
                    settle(key, d)
            # A correction is made on a version the caller saw: it is refused, never re-applied.
            for key in [k for k in lost if k in seen]:
                settle(key, _Decision("rejected", error=_concurrent(*valid[key])))
            lost = {k for k in lost if k not in seen}
            if assume_new and round_no == 1:
                chunk.found_stored = len(lost)
            if not lost:
                break
            if round_no == rounds:
                for key in lost:
                    settle(key, _Decision("rejected", error=_concurrent(*valid[key])))
                break
            pending = {key: None for key in lost}
            pending.update(self._records.get_many(list(lost)))
        for row_number, first_row in chunk.repeats:
            if first_row in chunk.rejected_for:
                chunk.reject(row_number, [replace(e, row_number=row_number) for e in chunk.rejected_for[first_row]])
            else:
                out.duplicates += 1
                out.accepted += 1
                chunk.row_status[row_number] = {**chunk.row_status[first_row], "status": "duplicate"}
        out.per_row = [dict(row=n, **chunk.row_status[n]) for n, _ in chunk.rows if n in chunk.row_status]

    def _queue_cleaning(self, chunk: _Chunk) -> ChunkResult:
        if chunk.to_clean:
            chunk.out.queued = self._queue.enqueue(chunk.batch_id, chunk.to_clean)
        return chunk.out

    @staticmethod
    def _authorise_sent(writer: Writer, valid: dict, reject) -> None:
        """Every validated record within the writer's scope, and a chunk's counter updates within
        one transaction: both on canonical values, so `Facility_ID` or ` F1` change nothing."""
        p = writer.principal
        outside = [key for key, (_, rec) in valid.items()
                   if not policy.record_in_scope(p, rec.facility_id, rec.province_code)]
        if outside and writer.refuse_call:
            raise policy.OutOfScope("every record must be of a facility and province within your scope",
                                    details={"records": len(outside)})
        for key in outside:
            row_number, rec = valid.pop(key)
            reject(row_number, [FieldError(
                row_number, "province_code", writer.out_of_scope_code,
                f"province {rec.province_code} is not the province of this upload ({p.province_code})",
                rec.province_code)])
        pairs = {(rec.facility_id, rec.province_code) for _, rec in valid.values()}
        if len(pairs) > MAX_SCOPES_PER_CHUNK:
            raise errors.ValidationError(
                f"one call may carry records of at most {MAX_SCOPES_PER_CHUNK} facility/province pairs",
                details={"field": "records", "pairs": len(pairs)})

    def _check_registered(self, valid: dict, reject, known: dict[str, str] | None = None) -> None:
        """Records only of registered facilities, under the facility's registered province.
        `known`: the provinces earlier chunks of the same file read, added to here. A facility's
        registered province never changes (FACILITY_PROVINCE_FIXED) and no facility is removed,
        so what one chunk read holds for the rest of the file; an unregistered one is asked again."""
        if not valid:
            return
        wanted = {rec.facility_id for _, rec in valid.values()}
        if known is None:
            registered = self._facilities.provinces(wanted)
        else:
            missing = wanted - known.keys()
            if missing:
                known.update(self._facilities.provinces(missing))
            registered = known
        for key, (row_number, rec) in list(valid.items()):
            province = registered.get(rec.facility_id)
            if province is None:
                err = FieldError(row_number, "facility_id", "UNKNOWN_FACILITY",
                                 f"facility {rec.facility_id} is not registered", rec.facility_id)
            elif (normalise_province_code(province) or province) != rec.province_code:
                err = FieldError(row_number, "province_code", "FACILITY_NOT_IN_PROVINCE",
                                 f"facility {rec.facility_id} is registered in province {province}, "
                                 f"not {rec.province_code}", rec.province_code)
            else:
                continue
            del valid[key]
            reject(row_number, [err])


def _err(e: FieldError) -> dict:
    return {"field": e.field, "code": e.code, "message": e.message}
