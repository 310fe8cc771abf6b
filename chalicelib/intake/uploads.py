"""S3 upload notifications from the intake queue, delivered to `IntakeService.ingest_upload`:
which uploads a message names (anyone able to send to the queue can send anything), and what
becomes of a batch whose delivery fails, so no batch is left PROCESSING when its message leaves
the queue.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Callable
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


def uploads_in(body: str) -> list[Upload]:
    """The uploads an S3 notification names (S3's test event names none). Anyone able to send to
    the queue can put anything in it, so a body of another shape is a MalformedMessage."""
    try:
        message = json.loads(body)
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
    """One intake queue message, an S3 notification, through to batches that end COMPLETE or
    FAILED with a reason, never left PROCESSING when the message leaves the queue:
    - a fault of the file itself (BadFile) ends its batch FAILED inside `ingest_upload`;
    - what can never succeed (a body that is not an S3 notification, a key outside
      incoming/<province>/) goes to the DLQ at once with its reason, the batch FAILED ("file");
    - anything else may pass (DynamoDB, S3 or SQS unavailable, a crash): it is re-raised so SQS
      delivers the message again, and on the last receive the queue allows (its maxReceiveCount)
      the batch is first marked FAILED ("delivery") with the reason. `dlq replay intake` then
      resumes it from its checkpoint (see IntakeService.ingest_upload)."""

    def __init__(self, ingest: Callable[[Upload], BatchState], batches: BatchStore,
                 dead_letter: Callable[[str, str, str], None], clock: Callable[[], datetime],
                 max_receives: int) -> None:
        self._ingest = ingest
        self._batches = batches
        self._dead_letter = dead_letter
        self._now = clock
        self._max_receives = max_receives

    def handle(self, body: str, receive_count: int) -> list[BatchState]:
        try:
            uploads = uploads_in(body)
        except MalformedMessage as e:
            self._dead_letter(body, e.code, e.message)
            return []
        states = []
        for upload in uploads:
            try:
                states.append(self._ingest(upload))
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
