"""The countersign queue handler, run as Lambda runs it (the app's handler on an SQS event), over a
container whose countersigner is a stub: refusals send the message to the DLQ with their reasons,
after everyone else in the chunk has been issued."""
from __future__ import annotations

import json

from chalicelib.issuance.service import Outcome
from chalicelib.wiring import set_container
from tests.fakes import FakeDeadLetters, fake_container


class ChunkOutcomes:
    """Stands in for the AttestedBatchCountersigner: every chunk ends with these outcomes."""

    def __init__(self, outcomes):
        self.outcomes = outcomes

    def handle(self, body, cache=None):
        return self.outcomes


def deliver(outcomes) -> tuple[dict, FakeDeadLetters]:
    from app import app

    dead = FakeDeadLetters()
    set_container(fake_container(attested_countersign=ChunkOutcomes(outcomes), dead_letters=dead))
    body = json.dumps({"batch_id": "sb-1", "chunk": 0})
    event = {"Records": [{"messageId": "m-1", "receiptHandle": "r", "eventSource": "aws:sqs", "awsRegion": "x",
                          "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "body": body}]}
    try:
        return app.handler_map["handle_countersign"](event, None), dead
    finally:
        set_container(None)


def test_a_refused_person_sends_the_message_to_the_dlq_with_codes_and_no_personal_data():
    outcomes = [Outcome("001090012345", "issued", 1, "URN:UVCI:01:VN:X#A"),
                Outcome("079000000001", "refused", detail=["NOT_FOUND"])]
    result, dead = deliver(outcomes)
    assert result == {"batchItemFailures": []}  # not retried: dead-lettered at once with its reason
    [(queue, body, code, message)] = dead.sent
    assert (queue, json.loads(body), code) == ("countersign", {"batch_id": "sb-1", "chunk": 0}, "VALIDATION_ERROR")
    assert "1 of 2" in message and "NOT_FOUND" in message and "079000000001" not in message


def test_a_chunk_without_refusals_succeeds():
    result, dead = deliver([Outcome("001090012345", "issued", 1, "URN:UVCI:01:VN:X#A"),
                            Outcome("001090012346", "stale", detail=["R2"])])
    assert result == {"batchItemFailures": []} and dead.sent == []
