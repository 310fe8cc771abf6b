"""SQS adapter of intake's continuations: a batch stopped for its Lambda's deadline is handed to
a message on the intake queue itself, which the same handler resumes from the stored checkpoint."""
from __future__ import annotations

from chalicelib.adapters.sqs import QueueSender
from chalicelib.intake.uploads import continuation_body


class SqsContinuations:
    def __init__(self, sqs, url: str) -> None:
        self._sender = QueueSender(sqs, url)

    def send(self, batch_id: str, number: int) -> None:
        self._sender.send_all([continuation_body(batch_id, number)])
