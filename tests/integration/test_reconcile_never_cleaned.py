"""`reports reconcile` finds records stored but never queued for cleaning and, with --requeue,
queues them; on LocalStack, under a prefix of its own (the sweep reads the whole records table)."""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import uuid

import boto3
import pytest

from chalicelib import errors
from chalicelib.auth import dev_issuer
from chalicelib.auth.principal import Role
from chalicelib.cli import main as cli
from tests.integration.helpers import register_facilities
from tests.integration.test_intake import HEADER, good_row

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_stack(aws_endpoint):
    from chalicelib.settings import get_settings
    from infra.bootstrap import bootstrap

    prefix = f"vxn-{uuid.uuid4().hex[:8]}"
    created = bootstrap(prefix, region=os.environ["AWS_REGION"], endpoint_url=aws_endpoint)
    return dataclasses.replace(get_settings(), resource_prefix=prefix), created


def reconcile(*args: str) -> tuple[int, list[dict]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(["reports", "reconcile", *args])
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    return code, [line for line in lines if "never_cleaned" in line]


def test_attack_a_record_stored_but_never_queued_is_requeued_by_reconcile(own_stack, bearer):
    from chalice.test import Client

    from app import app
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.local.event_runner import EventRunner, Source
    from chalicelib.wiring import Container, set_container

    settings, created = own_stack
    facility = f"F{uuid.uuid4().hex[:8]}"
    register_facilities(settings, (facility, "001"))
    class SqsDown:
        def enqueue(self, batch_id, refs):
            raise errors.DependencyUnavailable("sqs: 1 messages could not be sent")

    # Given a submission whose records are stored and whose cleaning message is never sent
    set_container(Container(settings, cleaning_queue=SqsDown()))
    try:
        with Client(app) as client:
            resp = client.http.post(
                "/v1/vaccination-records", body=json.dumps({"records": [dict(zip(HEADER, good_row(1, facility)))]}),
                headers={"Content-Type": "application/json", "Idempotency-Key": f"k-{facility}",
                         **bearer(dev_issuer.staff(Role.FACILITY, facility_id=facility, province_code="001"))})
        assert resp.status_code == 503, resp.body
        Record = Tables(settings).Record
        (stored,) = Record.scan(Record.facility_id == facility)
        assert (stored.state, int(stored.cleaned_version)) == ("PENDING", 0)

        set_container(Container(settings))
        # When reconcile runs within the grace period, the record may still be queued: not listed
        assert reconcile()[1] == []
        # When it runs after it, the record is listed
        code, listed = reconcile("--grace-minutes", "0")
        assert code == 1 and [(x["never_cleaned"]["record_id"], x["requeued"]) for x in listed] == [("R00001", False)]
        sqs = boto3.client("sqs", endpoint_url=settings.endpoint_url, region_name=settings.region)
        cleaning = created.queues["cleaning"]
        assert sqs.receive_message(QueueUrl=cleaning, WaitTimeSeconds=0).get("Messages") is None

        # and with --requeue it is queued for cleaning, and cleaned
        code, listed = reconcile("--grace-minutes", "0", "--requeue")
        assert [(x["never_cleaned"]["record_id"], x["requeued"]) for x in listed] == [("R00001", True)]
        runner = EventRunner(app, sqs, region=settings.region)
        runner.sources = [Source("handle_cleaning", settings.queue("cleaning"), 10)]
        runner.drain(idle_rounds=2, max_seconds=60)
        (stored,) = Record.scan(Record.facility_id == facility)
        assert stored.state != "PENDING" and int(stored.cleaned_version) == int(stored.version)
        # Then nothing is left to sweep
        assert reconcile("--grace-minutes", "0")[1] == []
    finally:
        set_container(None)
