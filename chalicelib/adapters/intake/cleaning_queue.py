"""SQS adapter of intake's cleaning queue: stored record versions, sent in chunks to be cleaned."""
from __future__ import annotations

from typing import Sequence

from chalicelib.adapters.sqs import QueueSender


class SqsCleaningQueue:
    def __init__(self, sqs, url: str, chunk: int) -> None:
        self._sender = QueueSender(sqs, url)
        self._chunk = chunk

    def enqueue(self, batch_id: str, refs: Sequence[tuple[str, str, int]]) -> int:
        bodies = ({"batch_id": batch_id, "records": [list(r) for r in refs[i:i + self._chunk]]}
                  for i in range(0, len(refs), self._chunk))
        self._sender.send_all(bodies)
        return len(refs)
