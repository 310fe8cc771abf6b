"""SQS adapter: queue URL lookup (cached) and chunked sends."""
from __future__ import annotations

import json
import threading
from typing import Iterable, Sequence

from chalicelib.aws.errors import aws_call
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
