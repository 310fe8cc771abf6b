"""Intake on LocalStack: S3 upload -> SQS notification -> intake handler -> records, cleaning queue
and rejected-rows report; API submissions; crash and redelivery lose and duplicate nothing."""
from __future__ import annotations

import csv
import io
import json
import time

import boto3
import pytest

from chalicelib.auth import dev_issuer
from chalicelib.auth.principal import Role
from tests.integration.helpers import crash_once_after, drain_queue, register_facilities

pytestmark = pytest.mark.integration

HEADER = ["record_id", "facility_id", "citizen_id", "full_name", "date_of_birth", "sex", "phone",
          "province_code", "vaccine_product", "lot_number", "dose_number", "vaccination_date"]


def good_row(i: int, facility: str) -> list[str]:
    return [f"R{i:05d}", facility, f"0010{90 + i % 10}{i:06d}"[:12], "Nguyễn Văn An", "1990-05-17", "M",
            "0912345678", "01", "AstraZeneca", "AZ123", "1", "2021-08-20"]


def csv_bytes(rows, sep=",") -> bytes:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter=sep)
    w.writerow(HEADER)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def upload_and_process(s3, runner, settings, key, body, timeout=30):
    s3.put_object(Bucket=settings.bucket("intake"), Key=key, Body=body)
    intake = next(s for s in runner.sources if s.function_name == "handle_intake")
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        got = runner.poll_once(intake, wait_time_s=1)
        if seen and not got:
            return
        seen += got
    raise AssertionError("the S3 notification was not processed in time")




@pytest.fixture
def s3(aws_endpoint, region):
    return boto3.client("s3", endpoint_url=aws_endpoint, region_name=region)


def test_upload_is_validated_stored_queued_and_reported(stack, runner, app_client, s3, sqs, unique, bearer):
    settings, created = stack
    facility = f"F{unique}"
    register_facilities(settings, (facility, "001"))
    rows = [good_row(i, facility) for i in range(5)]
    bad_date = good_row(5, facility)
    bad_date[4] = "31/02/1990"
    injected = good_row(6, facility)
    injected[8] = "=cmd|' /C calc'!A0"
    body = csv_bytes(rows + [bad_date, injected], sep=";")
    drain_queue(sqs, created.queues["cleaning"])

    # When a province uploads the file under incoming/<province>/
    upload_and_process(s3, runner, settings, f"incoming/01/{unique}.csv", body)

    # Then the batch shows every row accounted for
    from chalicelib.intake.service import batch_id_for_upload

    head = s3.head_object(Bucket=settings.bucket("intake"), Key=f"incoming/01/{unique}.csv")
    batch_id = batch_id_for_upload(settings.bucket("intake"), f"incoming/01/{unique}.csv", head["ETag"].strip('"'))
    resp = app_client.http.get(f"/v1/batches/{batch_id}",
                               headers=bearer(dev_issuer.staff(Role.PROVINCE, province_code="001")))
    assert resp.status_code == 200, resp.body
    batch = json.loads(resp.body)
    assert (batch["status"], batch["received"], batch["accepted"], batch["rejected"]) == ("COMPLETE", 7, 5, 2)
    assert batch["counts_add_up"] is True

    # and the accepted records were queued for cleaning
    queued = [tuple(r[:2]) for m in drain_queue(sqs, created.queues["cleaning"]) for r in m["records"]]
    assert sorted(queued) == sorted((facility, f"R{i:05d}") for i in range(5))

    # and the rejected-rows report names row, field and reason and never echoes a formula
    report = s3.get_object(Bucket=settings.bucket("reports"), Key=batch["rejected_rows_report"]["key"])
    text = report["Body"].read().decode("utf-8-sig")
    rows_out = list(csv.DictReader(io.StringIO(text)))
    fields = {(r["row_number"], r["field"]) for r in rows_out}
    # row numbers are the spreadsheet line numbers (the header is line 1)
    assert ("7", "date_of_birth") in fields and ("8", "vaccine_product") in fields
    assert "'=cmd|' /C calc'!A0" in text
    assert ",=cmd" not in text and "\n=cmd" not in text


def test_reupload_of_the_same_records_creates_no_duplicates(stack, runner, app_client, s3, sqs, unique):
    settings, created = stack
    facility = f"F{unique}"
    register_facilities(settings, (facility, "001"))
    body = csv_bytes([good_row(i, facility) for i in range(4)])
    upload_and_process(s3, runner, settings, f"incoming/01/{unique}-a.csv", body)
    runner.drain(idle_rounds=1, max_seconds=20)  # cleaned: a re-upload has nothing left to queue
    # the same records again, in another file
    upload_and_process(s3, runner, settings, f"incoming/01/{unique}-b.csv", body)
    assert drain_queue(sqs, created.queues["cleaning"]) == []

    from chalicelib.adapters.dynamo import Tables

    Record = Tables(settings).Record
    stored = [r for r in Record.scan(Record.facility_id == facility)]
    assert len(stored) == 4


def test_bad_files_fail_the_batch_with_a_clear_reason(stack, runner, app_client, s3, unique, bearer):
    settings, _ = stack
    cases = {
        "binary.csv": bytes(range(256)) * 4,
        "latin1.csv": csv_bytes([good_row(1, "F1")]).replace("Nguyễn".encode(), "Nguy\xe9n".encode("latin-1")),
        "missing.csv": b"record_id,full_name\nR1,Nguyen Van A\n",
        "longline.csv": b"record_id,full_name\n" + b"x" * (10 * 1024 * 1024) + b"\n",
    }
    from chalicelib.intake.service import batch_id_for_upload

    for name, body in cases.items():
        key = f"incoming/01/{unique}-{name}"
        upload_and_process(s3, runner, settings, key, body)
        etag = s3.head_object(Bucket=settings.bucket("intake"), Key=key)["ETag"].strip('"')
        batch = json.loads(app_client.http.get(
            f"/v1/batches/{batch_id_for_upload(settings.bucket('intake'), key, etag)}",
            headers=bearer(dev_issuer.staff(Role.MINISTRY))).body)
        assert batch["status"] == "FAILED", (name, batch)
        assert batch["error_code"] in {"BINARY_FILE", "WRONG_ENCODING", "MISSING_COLUMNS", "LINE_TOO_LONG"}, batch
        assert batch["error_message"]


def test_crash_half_way_and_redelivery_lose_and_duplicate_nothing(stack, sqs, s3, region, unique):
    from app import app
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.wiring import Container, set_container

    settings, created = stack
    facility = f"F{unique}"
    register_facilities(settings, (facility, "001"))
    key = f"incoming/01/{unique}-crash.csv"
    rows = [good_row(i, facility) for i in range(23)]
    rows[4][4] = "not a date"
    s3.put_object(Bucket=settings.bucket("intake"), Key=key, Body=csv_bytes(rows))
    etag = s3.head_object(Bucket=settings.bucket("intake"), Key=key)["ETag"].strip('"')
    event = {"Records": [{"messageId": f"m-{unique}", "receiptHandle": "r", "eventSource": "aws:sqs",
                          "awsRegion": region, "attributes": {}, "messageAttributes": {},
                          "body": json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {
                              "bucket": {"name": settings.bucket("intake")},
                              "object": {"key": key, "eTag": etag}}}]})}]}

    # Real adapters; the record store dies after writing the third chunk (of 5 rows), once.
    from chalicelib.adapters.intake.records import DynamoRecordStore

    store = DynamoRecordStore(Tables(settings))
    crash = crash_once_after(store, "put_many", 3)
    set_container(Container(settings, record_store=store, intake_chunk_rows=5))
    try:
        from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

        with pytest.raises(BatchProcessingError):  # the whole (one-message) batch fails
            app.handler_map["handle_intake"](event, None)
        second = app.handler_map["handle_intake"](event, None)  # the redelivery
        assert second == {"batchItemFailures": []}
        third = app.handler_map["handle_intake"](event, None)  # a duplicate delivery
        assert third == {"batchItemFailures": []}
    finally:
        set_container(None)
    assert crash["crashed"]

    from chalicelib.intake.service import batch_id_for_upload

    batch = Tables(settings).Batch.get(f"BATCH#{batch_id_for_upload(settings.bucket('intake'), key, etag)}", "BATCH")
    assert (batch.status, batch.received, batch.accepted, batch.rejected) == ("COMPLETE", 23, 22, 1)
    Record = Tables(settings).Record
    assert len(list(Record.scan(Record.facility_id == facility))) == 22
    counter = Tables(settings).Counter.get(f"FAC#{facility}", "TOTAL")
    assert counter.received == 22


def test_api_submission_is_idempotent_and_reports_per_record(stack, app_client, unique, bearer):
    facility = f"F{unique}"
    register_facilities(stack[0], (facility, "001"))
    records = [dict(zip(HEADER, good_row(i, facility))) for i in range(3)]
    records.append({**records[0], "record_id": "BAD1", "dose_number": "eleven"})
    token = bearer(dev_issuer.staff(Role.FACILITY, facility_id=facility))
    headers = {"Content-Type": "application/json", "Idempotency-Key": f"k-{unique}", **token}
    body = json.dumps({"records": records})

    first = app_client.http.post("/v1/vaccination-records", headers=headers, body=body)
    assert first.status_code == 200, first.body
    out = json.loads(first.body)
    assert (out["accepted"], out["rejected"]) == (3, 1)
    assert out["results"][3]["status"] == "rejected"
    assert out["results"][3]["errors"][0]["field"] == "dose_number"

    again = json.loads(app_client.http.post("/v1/vaccination-records", headers=headers, body=body).body)
    assert again["replayed"] is True and again["batch_id"] == out["batch_id"]

    other = app_client.http.post("/v1/vaccination-records", headers=headers,
                                 body=json.dumps({"records": records[:1]}))
    assert other.status_code == 409

    missing_key = app_client.http.post("/v1/vaccination-records", headers={"Content-Type": "application/json", **token},
                                       body=body)
    assert missing_key.status_code == 400
    too_many = app_client.http.post("/v1/vaccination-records", headers={**headers, "Idempotency-Key": "x"},
                                    body=json.dumps({"records": records * 200}))
    assert too_many.status_code == 400


def test_excel_upload_is_streamed_like_csv(stack, runner, app_client, s3, unique, bearer):
    import openpyxl

    from chalicelib.intake.service import batch_id_for_upload

    settings, _ = stack
    facility = f"X{unique}"
    register_facilities(settings, (facility, "001"))
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("records")
    ws.append(HEADER)
    for i in range(3):
        ws.append(good_row(i, facility))
    bad = good_row(3, facility)
    bad[10] = "zero"
    ws.append(bad)
    buf = io.BytesIO()
    wb.save(buf)
    key = f"incoming/01/{unique}.xlsx"
    upload_and_process(s3, runner, settings, key, buf.getvalue())
    etag = s3.head_object(Bucket=settings.bucket("intake"), Key=key)["ETag"].strip('"')
    batch = json.loads(app_client.http.get(f"/v1/batches/{batch_id_for_upload(settings.bucket('intake'), key, etag)}",
                                           headers=bearer(dev_issuer.staff(Role.MINISTRY))).body)
    assert (batch["status"], batch["received"], batch["accepted"], batch["rejected"]) == ("COMPLETE", 4, 3, 1)
