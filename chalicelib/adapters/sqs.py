"""SQS adapter: queue URL lookup (cached) and chunked sends."""
from __future__ import annotations

import json
import threading
from typing import Iterable, Sequence

from chalicelib.adapters.aws_errors import aws_call
from chalicelib.settings import Settings


class QueueUrls:
    def __init__(self, sqs, settings: Settings) -> None:
        self._sqs = sqs
        self._settings = settings
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, logical: str) -> str:
        with self._lock:
            if logical not in self._urls:
                with aws_call(f"sqs get_queue_url {logical}"):
                    self._urls[logical] = self._sqs.get_queue_url(
                        QueueName=self._settings.queue(logical))["QueueUrl"]
            return self._urls[logical]


# SQS limits: 10 entries per SendMessageBatch, 256 KiB per message and per whole batch.
MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 256 * 1024


class QueueSender:
    """Sends JSON messages in batches of up to 10 and 256 KiB (the SQS limits); retries entries
    SQS reports failed."""

    def __init__(self, sqs, url: str) -> None:
        self._sqs = sqs
        self._url = url

    def send_all(self, bodies: Iterable[dict]) -> int:
        batch: list[str] = []
        size = 0
        sent = 0
        for body in bodies:
            text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
            n = len(text.encode("utf-8"))
            if batch and (len(batch) == MAX_BATCH_ENTRIES or size + n > MAX_BATCH_BYTES):
                sent += self._send(batch)
                batch, size = [], 0
            batch.append(text)
            size += n
        if batch:
            sent += self._send(batch)
        return sent

    def _send(self, bodies: Sequence[str]) -> int:
        entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)]
        for _attempt in range(5):
            with aws_call("sqs send_message_batch"):
                resp = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries)
            failed = {f["Id"] for f in resp.get("Failed", [])}
            if not failed:
                return len(bodies)
            entries = [e for e in entries if e["Id"] in failed]
        from chalicelib import errors

        raise errors.DependencyUnavailable(f"sqs: {len(entries)} messages could not be sent")


ERROR_CODE_ATTR = "vaxpass-error-code"
ERROR_MESSAGE_ATTR = "vaxpass-error-message"


class DeadLetters:
    """Puts a message that cannot succeed into its queue's DLQ with the reason as attributes, and
    replays DLQ messages to the source queue once the cause is fixed (`dlq replay`)."""

    def __init__(self, sqs, urls: QueueUrls, settings: Settings) -> None:
        self._sqs = sqs
        self._urls = urls
        self._settings = settings

    def _dlq_url(self, logical: str) -> str:
        with aws_call("sqs get_queue_url dlq"):
            return self._sqs.get_queue_url(QueueName=self._settings.dlq(logical))["QueueUrl"]

    def send(self, logical: str, body: str, code: str, message: str) -> None:
        with aws_call("sqs send to dlq"):
            self._sqs.send_message(QueueUrl=self._dlq_url(logical), MessageBody=body, MessageAttributes={
                ERROR_CODE_ATTR: {"DataType": "String", "StringValue": code},
                ERROR_MESSAGE_ATTR: {"DataType": "String", "StringValue": message[:1000]}})

    def peek(self, logical: str, limit: int = 10) -> list[dict]:
        """DLQ messages with their reasons. Messages are held invisible while listing (so a long
        DLQ is paged, not repeated) and released again at the end."""
        out: list[dict] = []
        handles: list[str] = []
        url = self._dlq_url(logical)
        while len(out) < limit:
            with aws_call("sqs receive dlq"):
                msgs = self._sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, limit - len(out)),
                                                 MessageAttributeNames=["All"], AttributeNames=["All"],
                                                 VisibilityTimeout=30).get("Messages", [])
            if not msgs:
                break
            for m in msgs:
                handles.append(m["ReceiptHandle"])
                attrs = m.get("MessageAttributes", {})
                out.append({"message_id": m["MessageId"],
                            "receive_count": m.get("Attributes", {}).get("ApproximateReceiveCount"),
                            "error_code": attrs.get(ERROR_CODE_ATTR, {}).get("StringValue", "RETRIES_EXHAUSTED"),
                            "error_message": attrs.get(ERROR_MESSAGE_ATTR, {}).get("StringValue", ""),
                            "body": m["Body"]})
        for i in range(0, len(handles), 10):
            with aws_call("sqs release dlq messages"):
                self._sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
                    {"Id": str(j), "ReceiptHandle": h, "VisibilityTimeout": 0}
                    for j, h in enumerate(handles[i:i + 10])])
        return out

    def replay(self, logical: str, limit: int | None = None) -> int:
        """Moves DLQ messages back to the source queue (body unchanged, reason dropped)."""
        src, url, moved = self._urls(logical), self._dlq_url(logical), 0
        while limit is None or moved < limit:
            with aws_call("sqs receive dlq"):
                msgs = self._sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                                 WaitTimeSeconds=0).get("Messages", [])
            if not msgs:
                break
            for m in msgs[: (limit - moved) if limit is not None else None]:
                with aws_call("sqs replay"):
                    self._sqs.send_message(QueueUrl=src, MessageBody=m["Body"])
                    self._sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                moved += 1
        return moved
