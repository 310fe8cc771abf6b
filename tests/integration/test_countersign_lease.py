"""Exactly one KMS Sign per passport version, on LocalStack: two facilities attest the same person
and their countersign messages are handled at the same moment by two invocations of the real
handler. Without a per-person signing lease both read "no passport", both sign, one loses the
store race and signs again on redelivery: three signatures for two versions.
"""
from __future__ import annotations

import json
import threading
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from tests.integration.helpers import drain_queue
from tests.integration.test_attestation import (  # noqa: F401 - `world` is a fixture
    counter, open_batch, passport, record, sign, submit_verified, world,
)

pytestmark = pytest.mark.integration

# How long the first Sign of each invocation waits for the other invocation's: long enough for
# both to get there when nothing keeps them apart, short enough when a lease does.
BARRIER_S = 3.0


def _event(message: dict, arn: str, region: str) -> dict:
    return {"Records": [{"messageId": uuid.uuid4().hex, "receiptHandle": uuid.uuid4().hex, "body": json.dumps(message),
                         "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                         "md5OfBody": None, "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": region}]}


def test_attack_two_facilities_attest_one_person_at_once_sign_once_per_version(app_client, runner, bearer, world, sqs,
                                                                                stack):
    from chalice.local import LambdaContext

    from app import app
    from chalicelib.wiring import container

    settings, created = stack
    url = created.queues["countersign"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # Given one person with a dose at facility A and a dose at facility B, both verified, and both
    # heads' signatures accepted (their countersign messages taken off the queue)
    fa, fb = world["facility"](), world["facility"]()
    [person] = world["people"](1)
    submit_verified(app_client, runner, bearer, world, fa, [record(fa["id"], person, "L1", 1, date(2021, 8, 1))])
    submit_verified(app_client, runner, bearer, world, fb, [record(fb["id"], person, "L2", 2, date(2021, 9, 1))])
    drain_queue(sqs, url)
    batches = [open_batch(app_client, bearer, f) for f in (fa, fb)]
    for f, b in zip((fa, fb), batches, strict=True):
        sign(app_client, bearer, f, b)
    messages = drain_queue(sqs, url)
    assert len(messages) == 2
    issued_before = counter(world, "NATIONAL", "passports_issued")

    # Every KMS Sign the handler makes is counted; the first of each invocation waits for the other's
    kms = container().client("kms", botocore_retries=False)
    signs = {"n": 0}
    barrier = threading.Barrier(2, timeout=BARRIER_S)
    waited = threading.local()
    lock = threading.Lock()

    def on_sign(**_kwargs) -> None:
        with lock:
            signs["n"] += 1
        if not getattr(waited, "done", False):
            waited.done = True
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass  # the other invocation is not signing now

    kms.meta.events.register("before-call.kms.Sign", on_sign)
    handler = app.handler_map["handle_countersign"]

    def deliver(message: dict) -> None:
        # SQS redelivers a message its handler reported failed: here at once, up to 5 times.
        for _ in range(5):
            try:
                response = handler(_event(message, arn, settings.region),
                                   LambdaContext("handle_countersign", 512, max_runtime_ms=60_000))
            except Exception:  # noqa: BLE001 - Lambda: every record of the batch failed, all come back
                continue
            if not response.get("batchItemFailures"):
                return
        raise AssertionError("the message kept failing")

    try:
        # When both messages are handled at the same moment by two invocations
        threads = [threading.Thread(target=deliver, args=(m,)) for m in messages]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        kms.meta.events.unregister("before-call.kms.Sign", on_sign)

    # Then the person ends with both doses, and every version cost exactly one Sign
    current = passport(app_client, bearer, person)
    assert current is not None and current["display"]["doses_on_record"] == 2
    versions = current["version"]
    assert counter(world, "NATIONAL", "passports_issued") - issued_before == versions
    assert signs["n"] == versions, f"{signs['n']} KMS Sign calls for {versions} passport versions"
    # and reconcile finds nobody stranded once every message's lifetime has passed
    later = datetime.now(timezone.utc) + timedelta(days=19)
    ids = {b["batch_id"] for b in batches}
    assert not [s for s in container().reconciler.stranded(later) if s.batch_id in ids]
