"""`process_batch(..., concurrent=lane)`: a batch's records handled side by side (a lane's one
after the other), each failing or dead-lettered alone, as in a sequential batch."""
from __future__ import annotations

import threading
import time

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
                           concurrent=lambda r: r["body"])
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-fault"}]} and dead == ["bad"]


def test_records_of_one_lane_run_one_after_the_other():
    running, overlapped = [], []

    def handle(record) -> None:
        running.append(record.body)
        overlapped.append(len(running) > 1)
        time.sleep(0.05)
        running.remove(record.body)

    assert process_batch(event("a", "b", "c"), handle, concurrent=lambda r: "one lane") == {"batchItemFailures": []}
    assert overlapped == [False, False, False]


@pytest.mark.parametrize("concurrent", [None, lambda r: r["body"]])
def test_a_batch_of_one_behaves_the_same_either_way(concurrent):
    def handle(record) -> None:
        raise errors.DependencyUnavailable("down")

    with pytest.raises(Exception):  # noqa: B017 - Lambda: a batch whose every record failed is retried whole
        process_batch(event("fault"), handle, concurrent=concurrent)
