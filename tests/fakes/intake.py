"""Fakes of intake's other ports (chalicelib/intake/service.py, intake/ratelimit.py): batches,
the cleaning queue, the rejected-rows reports, the uploaded files, API call records and the rate
windows. Each keeps its adapter's conditions (tests/contracts/test_intake.py)."""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import datetime

from chalicelib import errors
from chalicelib.intake.report import REPORT_COLUMNS, escape_cell
from chalicelib.intake.service import FAILED_DELIVERY, FAILED_FILE, PROGRESS_FIELDS, BatchState
from chalicelib.intake.submission import IdempotentCall
from chalicelib.intake.uploads import continuation_body


class FakeBatchStore:
    """Batch items by id, as the batches table holds them (status, checkpoint, counts). With
    `counters` (FakeCounters), a checkpoint adds its new records to them, as the adapter's
    transaction does."""

    def __init__(self, counters=None) -> None:
        self.items: dict[str, dict] = {}
        self.counters = counters

    @staticmethod
    def _stamp(now: datetime) -> str:
        return now.isoformat(timespec="seconds")

    def _new(self, batch_id: str, now: datetime, **fields) -> dict:
        item = {k: None for k in PROGRESS_FIELDS} | {"report_key": None, "batch_id": batch_id, "kind": "upload"}
        item.update({k: 0 for k in ("received", "accepted", "duplicates", "rejected", "queued", "cleaned",
                                    "rows_done", "chunks_done", "continuation")})
        item.update(source=None, etag=None)
        item.update(created_at=self._stamp(now), updated_at=self._stamp(now), **fields)
        return self.items.setdefault(batch_id, item)

    def _state(self, batch_id: str) -> BatchState:
        b = self.items[batch_id]
        return BatchState(batch_id, b["status"], b["rows_done"], b["chunks_done"], b["failure"], b["continuation"])

    def begin(self, batch_id, *, province_code, source, etag, now):
        if batch_id not in self.items:
            self._new(batch_id, now, province_code=province_code, source=source, etag=etag, status="PROCESSING")
        return self._state(batch_id)

    def resume(self, batch_id, *, now):
        b = self.items[batch_id]
        if b["status"] == "FAILED" and b["failure"] == FAILED_DELIVERY:
            b.update(status="PROCESSING", failure=None, error_code=None, error_message=None,
                     updated_at=self._stamp(now))
        return self._state(batch_id)

    def hand_over(self, batch_id, *, continuation, now):
        b = self.items.get(batch_id)
        if b is not None and b["continuation"] < continuation:
            b.update(continuation=continuation, updated_at=self._stamp(now))

    def fail(self, batch_id, *, code, message, failure, province_code, source, now):
        b = self.items.get(batch_id) or self._new(batch_id, now, source=source)
        if b["status"] == "COMPLETE":
            return  # a delivery that completed the batch meanwhile wins
        b.update(status="FAILED", failure=failure, error_code=code, error_message=message[:1000],
                 province_code=b["province_code"] or province_code, source=b.get("source") or source,
                 updated_at=self._stamp(now))

    def checkpoint(self, batch_id, *, expected_rows_done, rows_done, chunk, now):
        b = self.items[batch_id]
        if b["rows_done"] != expected_rows_done:
            raise errors.Conflict("batch checkpoint moved: another delivery is processing it")
        b.update(rows_done=rows_done, chunks_done=b["chunks_done"] + 1, updated_at=self._stamp(now))
        self._count(b, chunk)

    def _count(self, b: dict, chunk) -> None:
        for k in ("received", "accepted", "duplicates", "rejected", "queued"):
            b[k] += getattr(chunk, k)
        if self.counters is not None:
            for (facility, province), n in chunk.new_by_scope.items():
                self.counters.add(facility, province, received=n)

    def finish(self, batch_id, *, status, report_key, error, now):
        b = self.items[batch_id]
        b.update(status=status, updated_at=self._stamp(now))
        if report_key:
            b["report_key"] = report_key
        if error:
            b.update(error_code=error.code, error_message=error.message, failure=FAILED_FILE)
        else:
            b["failure"] = None

    def get(self, batch_id):
        b = self.items.get(batch_id)
        return None if b is None else {k: b.get(k) for k in (*PROGRESS_FIELDS, "report_key", "source", "etag",
                                                              "continuation")}

    # -- what other adapters write to the batches table ------------------------------------------
    def add_cleaned(self, batch_id: str) -> None:
        if batch_id in self.items:
            self.items[batch_id]["cleaned"] += 1

    def api_call(self, batch_id: str, chunk, now: datetime) -> None:
        b = self.items.get(batch_id) or self._new(batch_id, now)
        b.update(kind="api", source="api", status="COMPLETE", updated_at=self._stamp(now))
        self._count(b, chunk)


class FakeCleaningQueue:
    """The cleaning queue: one message per `chunk` references, as SqsCleaningQueue sends them."""

    def __init__(self, chunk: int = 100) -> None:
        self.messages: list[dict] = []
        self._chunk = chunk

    def enqueue(self, batch_id, refs):
        refs = [list(r) for r in refs]
        for i in range(0, len(refs), self._chunk):
            self.messages.append({"batch_id": batch_id, "records": refs[i:i + self._chunk]})
        return len(refs)

    @property
    def refs(self) -> list[tuple[str, str, int]]:
        """Every reference queued, in order."""
        return [tuple(r) for m in self.messages for r in m["records"]]


class FakeContinuations:
    """The intake queue as SqsContinuations sends to it: each continuation's message body."""

    def __init__(self) -> None:
        self.messages: list[dict] = []

    def send(self, batch_id, number):
        self.messages.append(continuation_body(batch_id, number))


class FakeReportStore:
    """Rejected-rows reports as S3ReportStore writes them: parts per chunk, joined in chunk order
    into reports/<batch>/rejected-rows.csv (UTF-8 with BOM, CRLF, cells escaped)."""

    def __init__(self, bucket: str = "reports") -> None:
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}

    def put_part(self, batch_id, chunk_no, rejections):
        buf = io.StringIO(newline="")
        w = csv.writer(buf)
        for r in rejections:
            w.writerow([str(r.row_number), escape_cell(r.field), r.code, escape_cell(r.message),
                        escape_cell(r.original)])
        self.objects[f"reports/{batch_id}/parts/{chunk_no:08d}.csv"] = buf.getvalue().encode("utf-8")

    def compose(self, batch_id, file_error):
        out = ("\ufeff" + ",".join(REPORT_COLUMNS) + "\r\n").encode("utf-8")
        if file_error is not None:
            row = io.StringIO(newline="")
            csv.writer(row).writerow(["", "(file)", file_error.code, escape_cell(file_error.message), ""])
            out += row.getvalue().encode("utf-8")
        prefix = f"reports/{batch_id}/parts/"
        out += b"".join(self.objects[k] for k in sorted(self.objects) if k.startswith(prefix))
        key = f"reports/{batch_id}/rejected-rows.csv"
        self.objects[key] = out
        return key

    def link(self, key, expires_s=3600):
        return {"bucket": self.bucket, "key": key, "url": f"https://{self.bucket}.example/{key}?expires={expires_s}"}

    def read(self, key: str) -> str:
        return self.objects[key].decode("utf-8-sig")


class FakeUploadSource:
    """Uploaded files by (bucket, key)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.objects[(bucket, key)] = data

    def open(self, bucket, key):
        if (bucket, key) not in self.objects:
            raise errors.DependencyUnavailable("s3 head_object failed")
        return io.BytesIO(self.objects[(bucket, key)])


class FakeApiCallStore:
    """Idempotency records of API calls; completing one also completes its batch item in
    `batches` (a FakeBatchStore), as the adapter's transaction does."""

    def __init__(self, batches: FakeBatchStore | None = None) -> None:
        self.items: dict[tuple[str, str], tuple[str, str]] = {}  # -> (request hash, response JSON)
        self.batches = batches

    def lookup(self, namespace, key):
        found = self.items.get((namespace, key))
        return None if found is None else IdempotentCall(found[0], json.loads(found[1]))

    def complete(self, namespace, key, *, batch_id, request_hash, response, chunk, now):
        if (namespace, key) in self.items:
            raise errors.Conflict("a concurrent call with this Idempotency-Key finished first")
        self.items[(namespace, key)] = (request_hash, json.dumps(response, ensure_ascii=False))
        if self.batches is not None:
            self.batches.api_call(batch_id, chunk, now)


class FakeRateWindows:
    """Per-caller windows: `used[(caller, window start)]`, and when each expires."""

    def __init__(self) -> None:
        self.used: dict[tuple[str, int], int] = {}
        self.expires: dict[tuple[str, int], int] = {}
        self.requests: Counter = Counter()

    def try_take(self, caller, window_start, amount, limit, expires_at):
        self.requests["try_take"] += 1
        used = self.used.get((caller, window_start), 0)
        if used + amount > limit:
            return False
        self.used[(caller, window_start)] = used + amount
        self.expires[(caller, window_start)] = expires_at
        return True
