"""A province file longer than one invocation, on LocalStack: the real intake handler, fed by the
local event runner with a deadline of a few seconds, stops at checkpoints and continues in
continuation messages on the intake queue; every row is counted, stored, reported and queued
for cleaning exactly once."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import time

import boto3
import pytest

from chalicelib.intake.service import batch_id_for_upload
from tests.integration.helpers import register_facilities
from tests.integration.test_intake import csv_bytes, good_row

pytestmark = pytest.mark.integration

ROWS = 50_000
BAD_EVERY = 1000  # every 1000th row has a bad date: 50 rejected rows


def test_a_file_of_50000_rows_completes_in_several_short_invocations_each_row_counted_once(
        stack, sqs, region, unique):
    from app import app
    from chalicelib.local.event_runner import EventRunner
    from chalicelib.wiring import Container, set_container

    settings, created = stack
    settings = dataclasses.replace(settings, deadline_margin_ms=1500)
    s3 = boto3.client("s3", endpoint_url=settings.endpoint_url, region_name=region)
    facility = f"F{unique}"
    register_facilities(settings, (facility, "001"))
    rows = [good_row(i, facility) for i in range(ROWS)]
    for i in range(BAD_EVERY - 1, ROWS, BAD_EVERY):
        rows[i][-1] = "not a date"
    key = f"incoming/001/{unique}-long.csv"
    c = Container(settings)
    set_container(c)
    try:
        put = s3.put_object(Bucket=settings.bucket("intake"), Key=key, Body=csv_bytes(rows))
        batch_id = batch_id_for_upload(settings.bucket("intake"), key, put["ETag"].strip('"'))
        # Given invocations of 5 s (Lambda's are 2 minutes)
        runner = EventRunner(app, sqs, region=region, wait_time_s=0, timeouts_ms={"handle_intake": 5000})
        intake = next(s for s in runner.sources if s.function_name == "handle_intake")
        deadline = time.monotonic() + 600
        batch = None
        while time.monotonic() < deadline:
            runner.poll_once(intake, wait_time_s=1)
            batch = c.batches.get(batch_id)
            if batch and batch["status"] in ("COMPLETE", "FAILED"):
                break
    finally:
        set_container(None)
        # The cleaning messages leave the session's shared queue before any assertion can fail:
        # 500-odd chunks left behind would be cleaned by whichever test drains that queue next.
        refs = []
        url = created.queues["cleaning"]
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not got:
                break
            for m in got:
                body = json.loads(m["Body"])
                if body.get("batch_id") == batch_id:
                    refs += [tuple(r) for r in body["records"]]
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
    # Then the batch completed over several invocations
    assert batch and batch["status"] == "COMPLETE", batch
    # One invocation per continuation and the first; the runner also meets whatever else waits on the
    # session's shared intake queue (S3's test event, messages earlier tests left), so only a lower
    # bound holds here. Every row counted exactly once is asserted below.
    assert batch["continuation"] >= 2 and runner.stats.invocations >= batch["continuation"] + 1, runner.stats
    # Most invocations end before their deadline. A few may overrun on a loaded machine: resuming
    # re-reads the file up to the checkpoint before the first chunk is timed. On Lambda an overrun is
    # a killed invocation whose message comes back; the checkpoint makes that safe (the chaos test
    # kills the runner outright), so the rows below must still be counted exactly once.
    assert runner.stats.errors == 0 and runner.stats.overran <= runner.stats.invocations // 3, runner.stats
    # with every row counted once
    rejected = ROWS // BAD_EVERY
    assert (batch["received"], batch["accepted"], batch["rejected"], batch["duplicates"], batch["queued"]) == (
        ROWS, ROWS - rejected, rejected, 0, ROWS - rejected)
    assert batch["rows_done"] == ROWS + 1  # the header is line 1
    # the progress counters too
    assert Container(settings).counters.totals([f"FAC#{facility}"])[f"FAC#{facility}"]["received"] == ROWS - rejected
    # each rejected row reported once
    report = s3.get_object(Bucket=settings.bucket("reports"), Key=batch["report_key"])["Body"].read()
    reported = [int(r["row_number"]) for r in csv.DictReader(io.StringIO(report.decode("utf-8-sig")))]
    assert reported == [i + 2 for i in range(BAD_EVERY - 1, ROWS, BAD_EVERY)]
    # each accepted record stored once and queued for cleaning once
    assert len(refs) == ROWS - rejected == len(set(refs))
    stored = c.record_store.get_many([(facility, r[1]) for r in refs])
    assert len(stored) == ROWS - rejected and {s.version for s in stored.values()} == {1}
