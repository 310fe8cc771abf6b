"""DynamoDB, SQS and S3 adapters for the intake service ports."""
from __future__ import annotations

import csv
import io
import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Sequence

from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import errors
from chalicelib.aws.counters import TOTAL, fac_pk, facility_index_actions, scope_keys
from chalicelib.aws.dynamo import Tables, cancelled_items
from chalicelib.aws.errors import aws_call
from chalicelib.aws.sqs import QueueSender
from chalicelib.intake.errors import BadFile
from chalicelib.intake.records import FieldError
from chalicelib.intake.report import REPORT_COLUMNS, escape_cell
from chalicelib.intake.service import (FAILED_DELIVERY, FAILED_FILE, PROGRESS_FIELDS, BatchState, ChunkResult,
                                       NewRecord, StoredRecord)


def record_pk(facility_id: str, record_id: str) -> str:
    return f"REC#{facility_id}#{record_id}"


def batch_pk(batch_id: str) -> str:
    return f"BATCH#{batch_id}"


def _iso(now: datetime) -> str:
    return now.isoformat(timespec="seconds")


class DynamoRecordStore:
    """Reads a chunk's records with BatchGet (100 keys a call) and writes them with conditional
    transactions (TransactWriteItems: up to 100 items and TX_BYTES a call), several calls in
    flight: a chunk of 500 rows is 5 reads and 5 writes. Each item is put only if the version it
    was decided on is still the stored one. When a transaction is cancelled because a condition
    failed, the rest of its items are put one by one with the same conditions, in parallel: a lost
    race costs its transaction one request per item, never the whole chunk."""

    TX_ITEMS = 100
    TX_BYTES = 3_000_000  # under the 4 MB a transaction may carry, with room for attribute names

    def __init__(self, tables: Tables, parallel: int = 8) -> None:
        self._t = tables
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="records")
        # Fallback puts run from inside a transaction's worker: a pool of their own cannot deadlock.
        self._single = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="records-put")

    def get_many(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StoredRecord]:
        groups = [keys[i:i + 100] for i in range(0, len(keys), 100)]
        out: dict[tuple[str, str], StoredRecord] = {}
        for part in self._pool.map(self._get_group, groups):
            out.update(part)
        return out

    def _get_group(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StoredRecord]:
        Record = self._t.Record
        out = {}
        try:
            for item in Record.batch_get([(record_pk(f, r), "REC") for f, r in keys],
                                         attributes_to_get=["facility_id", "record_id", "province_code", "digest",
                                                            "version", "batch_id", "row_number", "counted_state",
                                                            "cleaned_version", "earlier_digests",
                                                            "matched_citizen_id"]):
                out[(item.facility_id, item.record_id)] = StoredRecord(
                    facility_id=item.facility_id, record_id=item.record_id, digest=item.digest,
                    version=int(item.version), batch_id=item.batch_id,
                    row_number=int(item.row_number) if item.row_number is not None else None,
                    counted_state=item.counted_state, province_code=item.province_code,
                    cleaned_version=int(item.cleaned_version or 0),
                    earlier_digests=frozenset(item.earlier_digests or ()),
                    matched_citizen_id=item.matched_citizen_id)
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("records: read failed") from e
        return out

    def put_many(self, records: Sequence[NewRecord], now: datetime) -> set[tuple[str, str]]:
        stamp = _iso(now)
        lost: set[tuple[str, str]] = set()
        # Build the transactions' botocore client here, once: pynamodb keeps a session per thread,
        # so workers racing to create it would each load a session and a client (tens of MB).
        _ = self._t.connection.client
        # list() waits for every group and re-raises the first failure.
        for part in list(self._pool.map(lambda g: self._put_group(g, stamp), self._groups(records))):
            lost |= part
        return lost

    def _groups(self, records: Sequence[NewRecord]) -> list[list[NewRecord]]:
        groups: list[list[NewRecord]] = [[]]
        size = 0
        for n in records:
            # data and original dominate an item; the rest is a few hundred bytes
            item_bytes = 2 * len(json.dumps(n.record.canonical(), ensure_ascii=False)) + 65 * len(n.earlier_digests) + 512
            if groups[-1] and (len(groups[-1]) == self.TX_ITEMS or size + item_bytes > self.TX_BYTES):
                groups.append([])
                size = 0
            groups[-1].append(n)
            size += item_bytes
        return [g for g in groups if g]

    def _put_group(self, records: Sequence[NewRecord], stamp: str) -> set[tuple[str, str]]:
        items = [(n, self._item(n, stamp)) for n in records]
        try:
            with TransactWrite(connection=self._t.connection) as tx:
                for n, item in items:
                    tx.save(item, condition=self._condition(n))
        except TransactWriteError as e:
            if not getattr(e, "cancellation_reasons", None):
                raise errors.DependencyUnavailable("records: write failed") from e
            failed = cancelled_items(e, "ConditionalCheckFailed")
            lost = {records[i].record.business_key for i in failed}
            rest = [pair for i, pair in enumerate(items) if i not in failed]
            for key in self._single.map(self._put_one, rest):
                if key is not None:
                    lost.add(key)
            return lost
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("records: write failed") from e
        return set()

    def _put_one(self, pair) -> tuple[str, str] | None:
        """One conditional put; the record's key if its condition failed."""
        n, item = pair
        try:
            item.save(condition=self._condition(n))
        except PynamoDBException as e:
            if _is_conditional(e):
                return n.record.business_key
            raise errors.DependencyUnavailable("records: write failed") from e
        return None

    def _condition(self, n: NewRecord):
        Record, p = self._t.Record, n.previous
        if p is None:
            return Record.pk.does_not_exist()
        # The cleaning state too: the counted outcome carried to the new version must be current.
        cleaned = Record.cleaned_version == p.cleaned_version
        if p.cleaned_version == 0:
            cleaned = cleaned | Record.cleaned_version.does_not_exist()
        return (Record.version == p.version) & (Record.digest == p.digest) & cleaned

    def _item(self, n: NewRecord, stamp: str):
        """The whole item of a version: a put replaces the last one, so the cleaning result and
        the signing marks of the old version go with it (a changed record is verified and signed
        again). The citizen the old version matched is carried over (the write is conditional on
        the cleaning state read with it)."""
        r = n.record
        return self._t.Record(
            record_pk(r.facility_id, r.record_id), "REC",
            gsi1pk=f"CIT#{r.citizen_id}" if r.citizen_id else None,
            gsi1sk=f"{r.vaccination_date.isoformat()}#{r.dose_number:02d}" if r.citizen_id else None,
            gsi2pk=f"FAC#{r.facility_id}#PENDING", gsi2sk=r.record_id,
            facility_id=r.facility_id, record_id=r.record_id, province_code=r.province_code,
            batch_id=n.batch_id, row_number=n.row_number, digest=r.digest(), version=n.version,
            earlier_digests=set(n.earlier_digests) or None,
            data=json.dumps(r.canonical(), ensure_ascii=False),
            original=json.dumps(dict(r.original), ensure_ascii=False, default=str),
            state="PENDING", cleaned_version=0, counted_state=n.counted_state,
            matched_citizen_id=n.previous.matched_citizen_id if n.previous is not None else None,
            created_at=stamp, updated_at=stamp)


class DynamoBatchStore:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def begin(self, batch_id: str, *, province_code: str, source: str, etag: str | None,
              now: datetime) -> BatchState:
        Batch = self._t.Batch
        item = Batch(batch_pk(batch_id), "BATCH", batch_id=batch_id, province_code=province_code,
                     source=source, etag=etag, status="PROCESSING", created_at=_iso(now), updated_at=_iso(now))
        try:
            item.save(condition=Batch.pk.does_not_exist())
        except PynamoDBException as e:
            if not _is_conditional(e):
                raise errors.DependencyUnavailable("batches: write failed") from e
            item = Batch.get(batch_pk(batch_id), "BATCH", consistent_read=True)
        return _state(batch_id, item)

    def resume(self, batch_id: str, *, now: datetime) -> BatchState:
        Batch = self._t.Batch
        try:
            Batch(batch_pk(batch_id), "BATCH").update(actions=[
                Batch.status.set("PROCESSING"), Batch.failure.remove(), Batch.error_code.remove(),
                Batch.error_message.remove(), Batch.updated_at.set(_iso(now))],
                condition=(Batch.status == "FAILED") & (Batch.failure == FAILED_DELIVERY))
        except PynamoDBException as e:
            if not _is_conditional(e):  # else another delivery resumed it, or it ended meanwhile
                raise errors.DependencyUnavailable("batches: write failed") from e
        return _state(batch_id, Batch.get(batch_pk(batch_id), "BATCH", consistent_read=True))

    def fail(self, batch_id: str, *, code: str, message: str, failure: str, province_code: str | None,
             source: str, now: datetime) -> None:
        Batch = self._t.Batch
        stamp = _iso(now)
        actions = [Batch.batch_id.set(batch_id), Batch.source.set(Batch.source | source),
                   Batch.status.set("FAILED"), Batch.failure.set(failure), Batch.error_code.set(code),
                   Batch.error_message.set(message[:1000]), Batch.created_at.set(Batch.created_at | stamp),
                   Batch.updated_at.set(stamp)]
        if province_code:
            actions.append(Batch.province_code.set(Batch.province_code | province_code))
        try:
            # A delivery that completed the batch meanwhile wins; a batch that never began is created.
            Batch(batch_pk(batch_id), "BATCH").update(
                actions=actions, condition=Batch.pk.does_not_exist() | (Batch.status != "COMPLETE"))
        except PynamoDBException as e:
            if not _is_conditional(e):
                raise errors.DependencyUnavailable("batches: write failed") from e

    def checkpoint(self, batch_id: str, *, expected_rows_done: int, rows_done: int, chunk: ChunkResult,
                   now: datetime) -> None:
        Batch, Counter = self._t.Batch, self._t.Counter
        try:
            with TransactWrite(connection=self._t.connection) as tx:
                tx.update(Batch(batch_pk(batch_id), "BATCH"), actions=[
                    Batch.rows_done.set(rows_done), Batch.chunks_done.add(1),
                    Batch.received.add(chunk.received), Batch.accepted.add(chunk.accepted),
                    Batch.duplicates.add(chunk.duplicates), Batch.rejected.add(chunk.rejected),
                    Batch.queued.add(chunk.queued), Batch.updated_at.set(_iso(now))],
                    condition=Batch.rows_done == expected_rows_done)
                for item, actions in _received_updates(Counter, chunk.new_by_scope):
                    tx.update(item, actions=actions)
        except TransactWriteError as e:
            if "ConditionalCheckFailed" in str(getattr(e, "cause_response_code", "")) or _cancelled_by_condition(e):
                raise errors.Conflict("batch checkpoint moved: another delivery is processing it") from e
            raise errors.DependencyUnavailable("batches: checkpoint failed") from e

    def finish(self, batch_id: str, *, status: str, report_key: str | None, error: BadFile | None,
               now: datetime) -> None:
        Batch = self._t.Batch
        actions = [Batch.status.set(status), Batch.updated_at.set(_iso(now))]
        if report_key:
            actions.append(Batch.report_key.set(report_key))
        if error:
            actions += [Batch.error_code.set(error.code), Batch.error_message.set(error.message),
                        Batch.failure.set(FAILED_FILE)]
        else:
            actions.append(Batch.failure.remove())
        Batch(batch_pk(batch_id), "BATCH").update(actions=actions)

    def get(self, batch_id: str) -> dict | None:
        try:
            item = self._t.Batch.get(batch_pk(batch_id), "BATCH", consistent_read=True)
        except self._t.Batch.DoesNotExist:
            return None
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("batches: read failed") from e
        out = {k: getattr(item, k) for k in (*PROGRESS_FIELDS, "report_key")}
        return {k: int(v) if isinstance(v, float) else v for k, v in out.items()}


def _state(batch_id: str, item) -> BatchState:
    return BatchState(batch_id, item.status, int(item.rows_done or 0), int(item.chunks_done or 0), item.failure)


def _received_updates(Counter, new_by_scope) -> list[tuple[object, list]]:
    """One update per scope (NATIONAL, provinces, facilities) adding the chunk's new records; the
    FAC# updates also index the facility under its province (chalicelib/aws/counters.py)."""
    counts: dict[str, int] = {}
    province_of: dict[str, tuple[str, str]] = {}
    for (facility, province), n in new_by_scope.items():
        for pk in scope_keys(facility, province):
            counts[pk] = counts.get(pk, 0) + n
        province_of[fac_pk(facility)] = (facility, province)
    return [(Counter(pk, TOTAL), [Counter.received.add(n)]
             + (facility_index_actions(Counter, *province_of[pk]) if pk in province_of else []))
            for pk, n in counts.items()]


def _is_conditional(e: PynamoDBException) -> bool:
    return getattr(e, "cause_response_code", None) == "ConditionalCheckFailedException"


def _cancelled_by_condition(e: TransactWriteError) -> bool:
    return bool(cancelled_items(e, "ConditionalCheckFailed"))


class DynamoPendingRecords:
    """Records waiting for cleaning, for the reconcile sweep: a Scan filtered on state PENDING
    (an audit job, not a read path), reading only what the sweep needs."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def pending_records(self):
        from chalicelib.reports.reconcile import PendingRecord

        Record = self._t.Record
        try:
            for item in Record.scan(Record.state == "PENDING", attributes_to_get=[
                    "facility_id", "record_id", "version", "cleaned_version", "batch_id", "updated_at"]):
                yield PendingRecord(item.facility_id, item.record_id, int(item.version),
                                    int(item.cleaned_version or 0), item.batch_id,
                                    datetime.fromisoformat(item.updated_at) if item.updated_at else None)
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("records: scan failed") from e


class SqsCleaningQueue:
    def __init__(self, sqs, url: str, chunk: int) -> None:
        self._sender = QueueSender(sqs, url)
        self._chunk = chunk

    def enqueue(self, batch_id: str, refs: Sequence[tuple[str, str, int]]) -> int:
        bodies = ({"batch_id": batch_id, "records": [list(r) for r in refs[i:i + self._chunk]]}
                  for i in range(0, len(refs), self._chunk))
        self._sender.send_all(bodies)
        return len(refs)


class S3ReportStore:
    """Rejected rows go to reports/<batch>/parts/<chunk>.csv as each chunk finishes (so a crash
    loses none), then are joined into reports/<batch>/rejected-rows.csv when the batch ends."""

    def __init__(self, s3, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def _prefix(self, batch_id: str) -> str:
        return f"reports/{batch_id}"

    def put_part(self, batch_id: str, chunk_no: int, rejections: Sequence[FieldError]) -> None:
        buf = io.StringIO(newline="")
        w = csv.writer(buf)
        for r in rejections:
            w.writerow([str(r.row_number), escape_cell(r.field), r.code, escape_cell(r.message),
                        escape_cell(r.original)])
        with aws_call("s3 put report part"):
            self._s3.put_object(Bucket=self._bucket, Key=f"{self._prefix(batch_id)}/parts/{chunk_no:08d}.csv",
                                Body=buf.getvalue().encode("utf-8"), ContentType="text/csv")

    def compose(self, batch_id: str, file_error: BadFile | None) -> str | None:
        key = f"{self._prefix(batch_id)}/rejected-rows.csv"
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as out:
            out.write(("\ufeff" + ",".join(REPORT_COLUMNS) + "\r\n").encode("utf-8"))
            if file_error is not None:
                row = io.StringIO(newline="")
                csv.writer(row).writerow(["", "(file)", file_error.code, escape_cell(file_error.message), ""])
                out.write(row.getvalue().encode("utf-8"))
            with aws_call("s3 list report parts"):
                pages = self._s3.get_paginator("list_objects_v2").paginate(
                    Bucket=self._bucket, Prefix=f"{self._prefix(batch_id)}/parts/")
                for page in pages:
                    for obj in page.get("Contents", []):  # listed in key order = chunk order
                        body = self._s3.get_object(Bucket=self._bucket, Key=obj["Key"])["Body"]
                        for block in iter(lambda: body.read(1024 * 1024), b""):
                            out.write(block)
            out.seek(0)
            with aws_call("s3 put report"):
                self._s3.upload_fileobj(out, self._bucket, key, ExtraArgs={"ContentType": "text/csv"})
        return key

    def link(self, key: str, expires_s: int = 3600) -> dict:
        with aws_call("s3 presign report"):
            url = self._s3.generate_presigned_url("get_object", Params={"Bucket": self._bucket, "Key": key},
                                                  ExpiresIn=expires_s)
        return {"bucket": self._bucket, "key": key, "url": url}


class DynamoApiCallStore:
    """Idempotency records of API calls (batches table, IDEMP items with a 7-day TTL)."""

    TTL_S = 7 * 24 * 3600

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def _pk(self, namespace: str, key: str) -> str:
        return f"IDEMP#{namespace}#{key}"

    def lookup(self, namespace: str, key: str):
        from chalicelib.intake.service import IdempotentCall

        try:
            item = self._t.Batch.get(self._pk(namespace, key), "IDEMP", consistent_read=True)
        except self._t.Batch.DoesNotExist:
            return None
        return IdempotentCall(item.etag or "", json.loads(item.response) if item.response else None)

    def complete(self, namespace: str, key: str, *, batch_id: str, request_hash: str, response: dict,
                 chunk: ChunkResult, now: datetime) -> None:
        Batch, Counter = self._t.Batch, self._t.Counter
        try:
            with TransactWrite(connection=self._t.connection) as tx:
                tx.save(Batch(self._pk(namespace, key), "IDEMP", batch_id=batch_id, kind="api-call",
                              etag=request_hash, response=json.dumps(response, ensure_ascii=False),
                              created_at=_iso(now), ttl=int(now.timestamp()) + self.TTL_S),
                        condition=Batch.response.does_not_exist())
                tx.update(Batch(batch_pk(batch_id), "BATCH"), actions=[
                    Batch.batch_id.set(batch_id), Batch.kind.set("api"), Batch.source.set("api"),
                    Batch.status.set("COMPLETE"), Batch.received.add(chunk.received),
                    Batch.accepted.add(chunk.accepted), Batch.duplicates.add(chunk.duplicates),
                    Batch.rejected.add(chunk.rejected), Batch.queued.add(chunk.queued),
                    Batch.created_at.set(_iso(now)), Batch.updated_at.set(_iso(now))])
                for item, actions in _received_updates(Counter, chunk.new_by_scope):
                    tx.update(item, actions=actions)
        except TransactWriteError as e:
            if _cancelled_by_condition(e):
                raise errors.Conflict("a concurrent call with this Idempotency-Key finished first") from e
            raise errors.DependencyUnavailable("batches: could not record the call") from e
