"""Intake never loses a record and never sticks, on LocalStack: hostile files through S3 and the
real intake handler end their batch FAILED with a stable code (never PROCESSING); the same hostile
text through the API is a 400; rows over the caps are rejected rows; a batch whose message goes to
the DLQ is FAILED with the reason, and a replay finishes it; a zip bomb is refused inside the
handler's 256 MB."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from chalicelib import errors
from chalicelib.auth import dev_issuer
from chalicelib.auth.principal import Role
from chalicelib.intake.service import batch_id_for_upload
from tests import attack_files as af
from tests.integration.helpers import register_facilities
from tests.integration.test_intake import HEADER, csv_bytes, good_row, upload_and_process

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def s3(aws_endpoint, region):
    return boto3.client("s3", endpoint_url=aws_endpoint, region_name=region)


def batch_of(app_client, bearer, s3, settings, key, *, missing_ok=False) -> dict | None:
    etag = s3.head_object(Bucket=settings.bucket("intake"), Key=key)["ETag"].strip('"')
    resp = app_client.http.get(f"/v1/batches/{batch_id_for_upload(settings.bucket('intake'), key, etag)}",
                               headers=bearer(dev_issuer.staff(Role.MINISTRY)))
    if missing_ok and resp.status_code == 404:
        return None
    assert resp.status_code == 200, resp.body
    return json.loads(resp.body)


def report_rows(s3, settings, batch) -> list[dict]:
    body = s3.get_object(Bucket=settings.bucket("reports"), Key=batch["rejected_rows_report"]["key"])["Body"]
    return list(csv.DictReader(io.StringIO(body.read().decode("utf-8-sig"))))


def record_dict(i: int, facility: str) -> dict:
    return dict(zip(HEADER, good_row(i, facility)))


# -- reader errors end the batch FAILED -------------------------------------------------------------

def test_attack_jsonl_surrogate_escape_fails_the_batch_instead_of_sticking(stack, runner, app_client, s3,
                                                                           unique, bearer):
    settings, _ = stack
    facility = f"F{unique}"
    register_facilities(settings, (facility, "001"))
    lines = [json.dumps(record_dict(1, facility)),
             json.dumps(record_dict(2, facility))[:-1] + ', "full_name": "Nguy\\ud800n"}']
    key = f"incoming/001/{unique}-surrogate.jsonl"
    upload_and_process(s3, runner, settings, key, "\n".join(lines).encode())
    batch = batch_of(app_client, bearer, s3, settings, key)
    assert (batch["status"], batch["error_code"], batch.get("failure")) == ("FAILED", "INVALID_UNICODE", "file")
    assert "line 2" in batch["error_message"]
    assert report_rows(s3, settings, batch)[0]["code"] == "INVALID_UNICODE"


def test_attack_api_surrogate_is_a_400_naming_the_record_and_field(stack, app_client, unique, bearer):
    settings, _ = stack
    facility = f"F{unique}"
    register_facilities(settings, (facility, "001"))
    records = [record_dict(1, facility), {**record_dict(2, facility), "full_name": "Nguy\ud800n"}]
    resp = app_client.http.post(
        "/v1/vaccination-records", body=json.dumps({"records": records}),  # json writes "\ud800" as an escape
        headers={"Content-Type": "application/json", "Idempotency-Key": f"k-{unique}",
                 **bearer(dev_issuer.staff(Role.FACILITY, facility_id=facility, province_code="001"))})
    assert resp.status_code == 400, resp.body
    error = json.loads(resp.body)["error"]
    assert error["details"] == {"record": 2, "field": "full_name", "code": "INVALID_UNICODE"}

    from chalicelib.adapters.dynamo import Tables

    Record = Tables(settings).Record
    assert list(Record.scan(Record.facility_id == facility)) == []  # the call is refused whole


@pytest.mark.parametrize("damage, parser_error", [(af.broken_xml, "ParseError"),
                                                  (af.truncated_member, "BadZipFile")],
                         ids=["broken-xml", "truncated-zip"])
def test_attack_broken_xlsx_fails_the_batch_instead_of_sticking(stack, runner, app_client, s3, unique, bearer,
                                                                 damage, parser_error):
    settings, _ = stack
    facility = f"F{unique}"
    register_facilities(settings, (facility, "001"))
    # long enough that opening the workbook does not already reach the damage
    good = af.xlsx([HEADER] + [good_row(i, facility) for i in range(1000)])
    key = f"incoming/001/{unique}-{damage.__name__}.xlsx"
    upload_and_process(s3, runner, settings, key, damage(good))
    batch = batch_of(app_client, bearer, s3, settings, key)
    assert (batch["status"], batch["error_code"], batch.get("failure")) == ("FAILED", "MALFORMED_FILE", "file")


def test_attack_xlsx_bomb_is_refused_and_the_handler_stays_under_256_mb(stack, s3, unique):
    settings, _ = stack
    good = af.xlsx([HEADER, good_row(1, f"F{unique}")])
    bomb = af.bomb(good, 300)  # a ~315 KB upload that a parser would expand to 300 MB
    assert len(bomb) < 400 * 1024
    key = f"incoming/001/{unique}-bomb.xlsx"
    s3.put_object(Bucket=settings.bucket("intake"), Key=key, Body=bomb)
    etag = s3.head_object(Bucket=settings.bucket("intake"), Key=key)["ETag"].strip('"')
    batch_id = batch_id_for_upload(settings.bucket("intake"), key, etag)

    # The real handler, polled by the event runner in a process of its own: its peak RSS is its own.
    out = subprocess.run([sys.executable, "-m", "tests.integration.intake_handler_child", batch_id, "120"],
                         cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"intake handler on a {len(bomb) // 1024} KB bomb: peak RSS {result['rss_peak_mb']:.0f} MB "
          f"(after imports {result['rss_start_mb']:.0f} MB)")
    assert (result["status"], result["error_code"]) == ("FAILED", "FILE_TOO_LARGE_UNCOMPRESSED"), result
    assert result["rss_peak_mb"] < 256, result


# -- caps ---------------------------------------------------------------------------------------------

def test_attack_extra_columns_and_oversize_rows_are_rejected_rows(stack, runner, app_client, s3, unique, bearer):
    settings, _ = stack
    facility = f"F{unique}"
    register_facilities(settings, (facility, "001"))
    wide = {**record_dict(2, facility), **{f"extra_{i:02d}": "x" for i in range(21)}}
    # every field within its own 256-character limit; the row far over 8 KB once stored
    large = {**record_dict(3, facility), **{f"ghi_chu_{i:02d}": "Đ" * 256 for i in range(20)}}
    key = f"incoming/001/{unique}-caps.jsonl"
    body = "\n".join(json.dumps(r, ensure_ascii=False) for r in (record_dict(1, facility), wide, large))
    upload_and_process(s3, runner, settings, key, body.encode())
    batch = batch_of(app_client, bearer, s3, settings, key)
    assert (batch["status"], batch["received"], batch["accepted"], batch["rejected"]) == ("COMPLETE", 3, 1, 2)
    assert {(r["row_number"], r["field"], r["code"]) for r in report_rows(s3, settings, batch)} == {
        ("2", "extra_20", "TOO_MANY_COLUMNS"), ("3", "ghi_chu_00", "ROW_TOO_LARGE")}


def test_attack_a_record_too_large_for_dynamodb_is_rejected_not_a_failed_call(stack, app_client, unique, bearer):
    settings, _ = stack
    facility = f"F{unique}"
    register_facilities(settings, (facility, "001"))
    # 2,000 unknown fields of 250 characters: 500 KB, more than a DynamoDB item may hold.
    huge = {**record_dict(2, facility), **{f"f{i:04d}": "x" * 250 for i in range(2000)}}
    resp = app_client.http.post(
        "/v1/vaccination-records", body=json.dumps({"records": [record_dict(1, facility), huge]}),
        headers={"Content-Type": "application/json", "Idempotency-Key": f"k-{unique}",
                 **bearer(dev_issuer.staff(Role.FACILITY, facility_id=facility, province_code="001"))})
    assert resp.status_code == 200, resp.body
    results = json.loads(resp.body)["results"]
    assert results[0]["status"] == "accepted"
    assert results[1]["status"] == "rejected" and results[1]["errors"][0]["code"] == "TOO_MANY_COLUMNS"


# -- dead-lettered batches ------------------------------------------------------------------------------

@pytest.fixture
def quick_redelivery(stack, sqs):
    """The intake queue redelivers after 1 s instead of 90 min, for this test only."""
    _, created = stack
    url = created.queues["intake"]
    before = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "1"})
    yield url
    sqs.set_queue_attributes(QueueUrl=url, Attributes=before)


def intake_source(runner):
    return next(s for s in runner.sources if s.function_name == "handle_intake")


def test_attack_a_batch_whose_message_goes_to_the_dlq_is_failed_and_a_replay_finishes_it(
        stack, sqs, s3, region, unique, app_client, bearer, quick_redelivery):
    from app import app
    from chalicelib.cli import main as cli
    from chalicelib.local.event_runner import EventRunner
    from chalicelib.wiring import Container, set_container

    settings, created = stack
    facility = f"F{unique}"
    register_facilities(settings, (facility, "001"))

    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.intake.records import DynamoRecordStore

    class RecordsDown(DynamoRecordStore):
        """DynamoDB refuses every record read and write: a failure that retrying may fix, but not
        today (a new file's records are written without being read first)."""

        def get_many(self, keys):
            raise errors.DependencyUnavailable("records: read failed")

        def put_many(self, records, now):
            raise errors.DependencyUnavailable("records: write failed")

    key = f"incoming/001/{unique}-dlq.csv"
    rows = [good_row(i, facility) for i in range(12)]
    set_container(Container(settings, record_store=RecordsDown(Tables(settings))))
    try:
        s3.put_object(Bucket=settings.bucket("intake"), Key=key, Body=csv_bytes(rows))
        runner = EventRunner(app, sqs, region=region, wait_time_s=0)
        deadline = time.monotonic() + 60
        batch = None
        # Given every delivery failing until the queue's maxReceiveCount (3) is spent
        while time.monotonic() < deadline:
            runner.poll_once(intake_source(runner), wait_time_s=2)
            batch = batch_of(app_client, bearer, s3, settings, key, missing_ok=True)
            if batch and batch["status"] == "FAILED":
                break
        # Then the last receive marked the batch FAILED with the reason, resumable by a replay
        assert batch and (batch["status"], batch["error_code"], batch.get("failure")) == (
            "FAILED", "RETRIES_EXHAUSTED", "delivery"), batch
        assert "DEPENDENCY_UNAVAILABLE" in batch["error_message"] and "dlq replay intake" in batch["error_message"]
        # and SQS moves the message to the DLQ at the next receive
        time.sleep(1.5)
        runner.poll_once(intake_source(runner), wait_time_s=1)
        dlq = created.dlqs["intake"]
        assert _wait_for(lambda: any(key in m["Body"] for m in _peek(sqs, dlq)), 15)
    finally:
        set_container(None)

    # When the cause is fixed and the message replayed
    set_container(Container(settings))
    try:
        assert cli(["dlq", "replay", "intake"]) == 0
        runner = EventRunner(app, sqs, region=region, wait_time_s=0)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runner.poll_once(intake_source(runner), wait_time_s=2)
            batch = batch_of(app_client, bearer, s3, settings, key)
            if batch["status"] != "FAILED" and batch["status"] != "PROCESSING":
                break
    finally:
        set_container(None)
    # Then the batch finishes, every row accounted for
    assert (batch["status"], batch["received"], batch["accepted"], batch.get("failure"), batch["error_code"]) == (
        "COMPLETE", 12, 12, None, None), batch


def test_attack_upload_outside_a_province_path_is_dead_lettered_at_once_and_failed(
        stack, runner, sqs, s3, unique, app_client, bearer):
    settings, created = stack
    key = f"incoming/not-a-province/{unique}.csv"
    upload_and_process(s3, runner, settings, key, csv_bytes([good_row(1, f"F{unique}")]))
    batch = batch_of(app_client, bearer, s3, settings, key)
    assert (batch["status"], batch["error_code"], batch.get("failure")) == ("FAILED", "VALIDATION_ERROR", "file")
    dead = [m for m in _peek(sqs, created.dlqs["intake"]) if key.split("/")[-1] in m["Body"]]
    assert dead and dead[0]["MessageAttributes"]["vaxpass-error-code"]["StringValue"] == "VALIDATION_ERROR"


def _peek(sqs, url) -> list[dict]:
    """The DLQ's messages, made visible again right away."""
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                               VisibilityTimeout=5).get("Messages", [])
    for m in msgs:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    return msgs


def _wait_for(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False
