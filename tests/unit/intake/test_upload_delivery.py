"""What happens to an intake message that cannot be processed: its batch never stays PROCESSING."""
import functools
import json
from datetime import datetime, timezone

import pytest

from chalicelib import errors
from chalicelib.intake.service import BatchState
from chalicelib.intake.uploads import UploadDelivery, uploads_in
from tests.fakes import FakeBatchStore, FakeDeadLetters

NOW = datetime(2026, 1, 5, tzinfo=timezone.utc)


def notification(key="incoming/001/a.csv", etag="e1") -> str:
    return json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {
        "bucket": {"name": "b"}, "object": {"key": key, "eTag": etag}}}]})


def delivery(ingest, max_receives=3):
    batches, dead = FakeBatchStore(), FakeDeadLetters()
    d = UploadDelivery(ingest, batches, functools.partial(dead.send, "intake"), lambda: NOW, max_receives)
    return d, batches, dead


def failed(batches: FakeBatchStore) -> list[tuple]:
    return [(b["error_code"], b["failure"], b["province_code"]) for b in batches.items.values()
            if b["status"] == "FAILED"]


def test_s3_notifications_are_parsed_and_test_events_ignored():
    assert [(u.bucket, u.key, u.etag) for u in uploads_in(notification("incoming/001/a+b%C3%A9.csv"))] == [
        ("b", "incoming/001/a bé.csv", "e1")]
    assert uploads_in(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})) == []


@pytest.mark.parametrize("body", ["not json", "[1]", json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]}),
                                  json.dumps({"Records": "x"})])
def test_attack_a_forged_message_is_dead_lettered_at_once(body):
    d, batches, dead = delivery(lambda u, **_: pytest.fail("nothing to ingest"))
    assert d.handle(body, 1) == []
    assert [(queue, code) for queue, _, code, _ in dead.sent] == [("intake", "MALFORMED_MESSAGE")]


def test_attack_an_upload_that_can_never_succeed_fails_its_batch_and_is_dead_lettered():
    def ingest(upload, **_):
        raise errors.ValidationError("upload key must be incoming/<province_code>/<file>")
    d, batches, dead = delivery(ingest)
    body = notification("incoming/abc/x.csv")
    assert d.handle(body, 1) == []
    assert failed(batches) == [("VALIDATION_ERROR", "file", None)]
    assert [(code, message) for _, _, code, message in dead.sent] == [
        ("VALIDATION_ERROR", "upload key must be incoming/<province_code>/<file>")]


def test_a_transient_failure_is_retried_and_marks_the_batch_only_on_the_last_receive():
    def ingest(upload, **_):
        raise errors.DependencyUnavailable("records: write failed")
    d, batches, dead = delivery(ingest)
    for receive in (1, 2):
        with pytest.raises(errors.DependencyUnavailable):
            d.handle(notification(), receive)
    assert failed(batches) == []
    with pytest.raises(errors.DependencyUnavailable):
        d.handle(notification(), 3)
    assert failed(batches) == [("RETRIES_EXHAUSTED", "delivery", "001")]
    assert dead.sent == []  # SQS moves it to the DLQ itself, after this last receive


def test_a_crash_that_is_not_a_domain_error_is_named_by_its_class_only():
    def ingest(upload, **_):
        raise KeyError("0010851234567 Nguyễn Văn A")  # text that must not reach the batch
    d, batches, _ = delivery(ingest, max_receives=1)
    with pytest.raises(KeyError):
        d.handle(notification(), 1)
    [message] = [b["error_message"] for b in batches.items.values()]
    assert "KeyError" in message and "Nguy" not in message and "0010851234567" not in message


def test_a_successful_delivery_returns_the_batch_states():
    state = BatchState("b-1", "COMPLETE", 10, 1)
    d, batches, dead = delivery(lambda u, **_: state)
    assert d.handle(notification(), 3) == [state]
    assert (failed(batches), dead.sent) == ([], [])
