"""S3 upload notifications from the intake queue, delivered to `IntakeService.ingest_upload`:
which uploads a message names (anyone able to send to the queue can send anything), and what
becomes of a batch whose delivery fails, so no batch is left PROCESSING when its message leaves
the queue.

Deadlines: a file longer than one invocation can take stops at a checkpoint before the Lambda's
time runs out, and its batch is handed to a continuation message on the same queue
(`{"kind": "intake-continuation", "batch_id", "continuation": n}`), instead of waiting for a
redelivery after a timeout. A continuation is hostile input like any message: it names only a
batch and a sequence number, resumes only an upload batch that exists, from the stored file and
checkpoint, and one whose number is older than the stored one (a duplicate) does nothing.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Protocol
from urllib.parse import unquote_plus

from chalicelib import errors
from chalicelib.intake.service import (FAILED_DELIVERY, FAILED_FILE, BatchState, BatchStore, batch_id_for_upload,
                                       province_from_key)


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    etag: str | None

    @property
    def batch_id(self) -> str:
        return batch_id_for_upload(self.bucket, self.key, self.etag)


class MalformedMessage(errors.ValidationError):
    code = "MALFORMED_MESSAGE"


class NotAnUploadBatch(errors.ValidationError):
    code = "NOT_AN_UPLOAD_BATCH"


class ContinuationNotIssued(errors.ValidationError):
    code = "CONTINUATION_NOT_ISSUED"


CONTINUATION = "intake-continuation"
_BATCH_ID = re.compile(r"b-[0-9a-f]{24}")


@dataclass(frozen=True)
class Continuation:
    batch_id: str
    number: int


def continuation_body(batch_id: str, number: int) -> dict:
    return {"kind": CONTINUATION, "batch_id": batch_id, "continuation": number}


class Continuations(Protocol):
    def send(self, batch_id: str, number: int) -> None:
        """Queues continuation message `number` of the batch on the intake queue."""


def parse_message(body: str) -> list[Upload] | Continuation:
    """An S3 notification's uploads, or a continuation. Exactly the continuation's three keys:
    it never carries an offset or a file, which come from the stored batch."""
    try:
        message = json.loads(body)
    except ValueError as e:
        raise MalformedMessage("the message is not an S3 upload notification") from e
    if not (isinstance(message, dict) and message.get("kind") == CONTINUATION):
        return uploads_in(message)
    number = message.get("continuation")
    batch_id = message.get("batch_id")
    if (set(message) != {"kind", "batch_id", "continuation"} or not isinstance(batch_id, str)
            or not _BATCH_ID.fullmatch(batch_id) or type(number) is not int or number < 1):
        raise MalformedMessage("a continuation is exactly {kind, batch_id, continuation >= 1}")
    return Continuation(batch_id, number)


def upload_of(continuation: Continuation, stored: dict | None) -> Upload:
    """The upload a stored batch was made from, for one of its continuations: only an upload
    batch of that id has one, and only a number up to one past the stored one was ever sent
    (the next message is sent before the batch records it)."""
    batch_id = continuation.batch_id
    source = (stored or {}).get("source") or ""
    bucket, _, key = source.removeprefix("s3://").partition("/")
    upload = Upload(bucket, key, stored.get("etag") if stored else None)
    if stored is None or not source.startswith("s3://") or upload.batch_id != batch_id:
        raise NotAnUploadBatch("a continuation must name an upload batch that exists",
                               details={"batch_id": batch_id})
    if continuation.number > int(stored.get("continuation") or 0) + 1:
        raise ContinuationNotIssued("no such continuation was sent for this batch",
                                    details={"batch_id": batch_id, "continuation": continuation.number})
    return upload


def uploads_in(body: Any) -> list[Upload]:
    """The uploads an S3 notification (its text, or parsed) names (S3's test event names none).
    Anyone able to send to the queue can put anything in it, so a body of another shape is a
    MalformedMessage."""
    try:
        message = json.loads(body) if isinstance(body, str) else body
        out = []
        for rec in message.get("Records", []):
            if not str(rec.get("eventName", "")).startswith("ObjectCreated"):
                continue
            obj = rec["s3"]["object"]
            etag = obj.get("eTag")
            out.append(Upload(str(rec["s3"]["bucket"]["name"]), unquote_plus(str(obj["key"])),
                              None if etag is None else str(etag)))
        return out
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise MalformedMessage("the message is not an S3 upload notification") from e


class UploadDelivery:
    """One intake queue message, an S3 notification or a continuation, through to batches that end COMPLETE or
    FAILED with a reason, never left PROCESSING when the message leaves the queue:
    - a fault of the file itself (BadFile) ends its batch FAILED inside `ingest_upload`;
    - what can never succeed (a body that is not an S3 notification, a key outside
      incoming/<province>/) goes to the DLQ at once with its reason, the batch FAILED ("file");
    - anything else may pass (DynamoDB, S3 or SQS unavailable, a crash): it is re-raised so SQS
      delivers the message again, and on the last receive the queue allows (its maxReceiveCount)
      the batch is first marked FAILED ("delivery") with the reason. `dlq replay intake` then
      resumes it from its checkpoint (see IntakeService.ingest_upload);
    - a batch stopped for the deadline is handed to its next continuation message: sent first, then
      recorded on the batch, so a crash in between leaves the batch with this message (redelivered,
      it resumes) and the continuation sent early reads as current, never as a duplicate."""

    def __init__(self, ingest: Callable[..., BatchState], batches: BatchStore,
                 dead_letter: Callable[[str, str, str], None], clock: Callable[[], datetime],
                 max_receives: int, continuations: Continuations | None = None) -> None:
        self._ingest = ingest
        self._batches = batches
        self._dead_letter = dead_letter
        self._now = clock
        self._max_receives = max_receives
        self._continuations = continuations

    def handle(self, body: str, receive_count: int,
               remaining_ms: Callable[[], int] | None = None) -> list[BatchState]:
        """`remaining_ms`: the invocation's remaining time; None runs every file to its end."""
        if self._continuations is None:
            remaining_ms = None  # nobody to hand a batch over to
        try:
            parsed = parse_message(body)
            number = 0
            if isinstance(parsed, Continuation):
                number = parsed.number
                uploads = [upload_of(parsed, self._batches.get(parsed.batch_id))]
            else:
                uploads = parsed
        except errors.ValidationError as e:
            self._dead_letter(body, e.code, e.message)
            return []
        states = []
        for upload in uploads:
            try:
                state = self._ingest(upload, continuation=number, remaining_ms=remaining_ms)
                if state.suspended and self._continuations is not None:
                    self._continuations.send(state.batch_id, state.continuation + 1)
                    self._batches.hand_over(state.batch_id, continuation=state.continuation + 1, now=self._now())
                states.append(state)
            except errors.ValidationError as e:
                self._fail(upload, e.code, e.message, FAILED_FILE)
                self._dead_letter(body, e.code, e.message)
            except Exception as e:  # noqa: BLE001 - always re-raised; only marks the last try
                if receive_count >= self._max_receives:
                    cause = f"{e.code}: {e.message}" if isinstance(e, errors.DomainError) else type(e).__name__
                    self._fail(upload, "RETRIES_EXHAUSTED",
                               f"intake failed on each of its {receive_count} deliveries ({cause}); the "
                               f"message is in the intake dead-letter queue, and `dlq replay intake` "
                               f"resumes the batch where it stopped", FAILED_DELIVERY)
                raise
        return states

    def _fail(self, upload: Upload, code: str, message: str, failure: str) -> None:
        try:
            province = province_from_key(upload.key)
        except errors.ValidationError:
            province = None
        self._batches.fail(upload.batch_id, code=code, message=message, failure=failure, province_code=province,
                           source=f"s3://{upload.bucket}/{upload.key}", now=self._now())
