"""The local event source mapping against real LocalStack queues: batch size, partial batch
failures, whole-batch failure on a crash, and DLQ after the redrive count."""
from __future__ import annotations

import json
import time
from collections import Counter

import pytest
from chalice import Chalice

from chalicelib.local.event_runner import EventRunner
from chalicelib.platform.sqs import process_batch

from tests.integration.helpers import drain_queue

pytestmark = pytest.mark.integration


def make_queue(sqs, name, *, visibility=1, max_receive=2):
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=name, Attributes={
        "VisibilityTimeout": str(visibility),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive)}),
    })["QueueUrl"]
    return url, dlq




def build_app(queue_name, calls, batch_sizes, *, crash_on=None):
    app = Chalice(app_name="runner-test")

    def record_handler(record):
        body = json.loads(record.body)
        calls[body["n"]] += 1
        if body.get("poison"):
            raise ValueError("poison record")

    @app.on_sqs_message(queue=queue_name, batch_size=4)
    def consume(event):
        raw = event.to_dict()
        batch_sizes.append(len(raw["Records"]))
        if crash_on is not None and any(json.loads(r["body"])["n"] == crash_on for r in raw["Records"]):
            raise RuntimeError("worker crashed half way")
        return process_batch(raw, record_handler)

    return app


def run_until(runner, predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for s in runner.sources:
            runner.poll_once(s, wait_time_s=0)
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_partial_failure_retries_only_the_failed_message_and_dlq_after_two_failures(sqs, region, unique):
    # Given a queue (visibility 1 s, maxReceiveCount 2) with 9 good messages and one poison message
    name = f"runner-{unique}"
    url, dlq = make_queue(sqs, name)
    for n in range(10):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n, "poison": n == 7}))
    calls, sizes = Counter(), []
    runner = EventRunner(build_app(name, calls, sizes), sqs, region=region)

    # When the runner polls until the poison message has been moved to the DLQ
    dlq_bodies = []

    def poison_in_dlq():
        dlq_bodies.extend(drain_queue(sqs, dlq))
        return any(b["n"] == 7 for b in dlq_bodies)

    assert run_until(runner, poison_in_dlq), "poison message never reached the DLQ"

    # Then every good message was processed exactly once and deleted, the poison one failed twice
    assert {n: calls[n] for n in range(10) if n != 7} == {n: 1 for n in range(10) if n != 7}
    assert calls[7] == 2
    assert [b["n"] for b in dlq_bodies] == [7]
    assert max(sizes) <= 4  # batch size honoured
    assert drain_queue(sqs, url) == []
    assert runner.stats.deleted == 9


def test_a_crash_fails_the_whole_batch_and_nothing_is_lost(sqs, region, unique):
    # Given 3 messages and a handler that crashes whenever message 1 is in its batch
    name = f"runner-crash-{unique}"
    url, dlq = make_queue(sqs, name, max_receive=3)
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n}))
    calls, sizes = Counter(), []
    runner = EventRunner(build_app(name, calls, sizes, crash_on=1), sqs, region=region)

    # When it polls once
    runner.poll_once(runner.sources[0], wait_time_s=1)

    # Then nothing was deleted: all messages come back after the visibility timeout
    assert runner.stats.errors == 1 and runner.stats.deleted == 0
    back = []
    deadline = time.monotonic() + 10
    while len(back) < 3 and time.monotonic() < deadline:
        back += drain_queue(sqs, url)
        time.sleep(0.2)
    assert sorted(b["n"] for b in back) == [0, 1, 2]


def test_malformed_failure_report_fails_the_whole_batch(sqs, region, unique):
    name = f"runner-bad-{unique}"
    url, _ = make_queue(sqs, name)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": 1}))
    app = Chalice(app_name="runner-bad")

    @app.on_sqs_message(queue=name, batch_size=1)
    def consume(event):
        return {"batchItemFailures": [{"itemIdentifier": ""}]}

    runner = EventRunner(app, sqs, region=region)
    runner.poll_once(runner.sources[0], wait_time_s=1)
    assert runner.stats.deleted == 0 and runner.stats.failed == 1
