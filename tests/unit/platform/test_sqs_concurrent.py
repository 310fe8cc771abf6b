"""`process_batch(..., concurrent=True)`: a batch's records handled side by side, each failing
or dead-lettered alone, as in a sequential batch."""
from __future__ import annotations

import threading

import pytest

from chalicelib import errors
from chalicelib.platform.sqs import process_batch


def event(*bodies: str) -> dict:
    return {"Records": [{"messageId": f"m-{b}", "receiptHandle": "r", "body": b, "eventSource": "aws:sqs",
                         "awsRegion": "x", "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}}
                        for b in bodies]}


def test_records_run_side_by_side_and_only_the_failed_one_is_retried():
    together = threading.Barrier(3, timeout=5)  # passes only if all three records are being handled at once
    dead: list[str] = []

    def handle(record) -> None:
        together.wait()
        if record.body == "fault":
            raise errors.DependencyUnavailable("down")
        if record.body == "bad":
            raise errors.ValidationError("refused")

    result = process_batch(event("ok", "fault", "bad"), handle, dead_letter=lambda r, e: dead.append(r.body),
                           concurrent=True)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-fault"}]} and dead == ["bad"]


@pytest.mark.parametrize("concurrent", [False, True])
def test_a_batch_of_one_behaves_the_same_either_way(concurrent):
    def handle(record) -> None:
        raise errors.DependencyUnavailable("down")

    with pytest.raises(Exception):  # noqa: B017 - Lambda: a batch whose every record failed is retried whole
        process_batch(event("fault"), handle, concurrent=concurrent)
