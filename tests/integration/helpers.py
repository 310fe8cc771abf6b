"""Helpers shared by integration tests."""
from __future__ import annotations

import contextlib
import io
import json
import time


def drain_queue(sqs, url: str) -> list[dict]:
    """Receives and deletes every visible message; returns their JSON bodies."""
    out = []
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


class Crash(RuntimeError):
    """A process killed half way (injected by tests)."""


def crash_once_after(obj, method: str, calls: int) -> dict:
    """Patches obj.method so that its `calls`-th call does its work and then raises Crash, once:
    the work is stored but the caller dies before its next step. Returns a dict whose
    "crashed" entry tells whether it happened."""
    real = getattr(obj, method)
    state = {"n": 0, "crashed": False}

    def wrapper(*args, **kwargs):
        out = real(*args, **kwargs)
        state["n"] += 1
        if state["n"] == calls and not state["crashed"]:
            state["crashed"] = True
            raise Crash(f"killed after {method} #{calls}")
        return out
    setattr(obj, method, wrapper)
    return state


def duplicate_messages(sqs, url: str, wait_s: int = 5) -> int:
    """Replaces every message on the queue by two copies of it (a duplicate delivery of each);
    waits up to wait_s for the first one. Returns the number of originals."""
    originals = []
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                   WaitTimeSeconds=0 if originals else wait_s).get("Messages", [])
        if not msgs:
            break
        originals.extend(msgs)
    for m in originals:
        for _ in range(2):
            sqs.send_message(QueueUrl=url, MessageBody=m["Body"])
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return len(originals)


def queues_empty(sqs, urls) -> bool:
    """No message visible or in flight on any of the queues."""
    for url in urls:
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        if int(a["ApproximateNumberOfMessages"]) or int(a["ApproximateNumberOfMessagesNotVisible"]):
            return False
    return True



def cli_json_lines(*args: str) -> tuple[int, list[dict]]:
    """Runs a `python -m chalicelib.cli` command in process: (exit code, its JSON stdout lines)."""
    from chalicelib.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def drain_until(runner, done, seconds: float = 90) -> None:
    """Runs the event runner until `done()` holds; fails the test if it does not in time."""
    import pytest

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        runner.drain(idle_rounds=1, max_seconds=15)
        if done():
            return
        time.sleep(0.5)
    pytest.fail("the event runner did not get there in time")


def register_facilities(settings, *facilities: tuple[str, str]) -> None:
    """Facilities exist before their records: registers each (facility_id, province) in the
    facility registry (`facilities` table), as `facility register` / `facility import` do."""
    from datetime import datetime, timezone

    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.signing.facilities import DynamoFacilityRegistry
    from chalicelib.signing.facilities import Facility

    registry = DynamoFacilityRegistry(Tables(settings))
    now = datetime.now(timezone.utc)
    for facility_id, province in facilities:
        registry.save_facility(Facility(facility_id, f"Trạm Y tế {facility_id}", province, "BS. Test"), now)


def published_revocations(c, app_client=None):
    """The revocation list as a verifier holds it: publishes what is listed (no settling time:
    the test's writes have committed), then reads the signed index and every batch back, through
    the routes when given `app_client` (each response under 1 MB), each checked against the trust
    anchor."""
    from datetime import timedelta

    from chalicelib.dcc.revocation_batches import load_published, revocation_list_from_batches

    # Entries are stamped to the second and a run publishes those before its own second: start
    # in the next one, so that everything the test listed is included.
    time.sleep(1 - time.time() % 1 + 0.01)
    c.revocation_publisher.publish(settle=timedelta(0))

    def fetch(path: str, page: int | None = None, batch: str | None = None) -> bytes:
        if app_client is None:
            return c.revocation_publisher.batch(batch) if batch else c.revocation_publisher.index(page)
        resp = app_client.http.get(path)
        assert resp.status_code == 200 and len(resp.body) < 1_000_000, (path, resp.status_code)
        return resp.body

    root = json.loads(fetch("/v1/revocation-list"))
    pages = {f"page-{p['hash']}": p["page"] for p in root["payload"]["pages"]}

    def read(name: str) -> bytes:
        if name in pages:
            return fetch(f"/v1/revocation-list?page={pages[name]}", page=pages[name])
        return fetch(f"/v1/revocation-list/{name}", batch=name)
    return revocation_list_from_batches(load_published(root, read, c.trust_anchor.public_key()))
