"""Attacks on intake through the real routes and the S3 upload + event runner, on LocalStack.

Each `test_attack_*` is a proof of concept that worked on the main branch before issue 10: a
facility token writing into another facility by spelling `Facility_ID`, a province overwriting
another province's record, a province file carrying another province's rows, records of facilities
nobody registered, two callers' Idempotency-Keys colliding, two writers both creating version N+1,
and a stale re-upload reverting a correction. The last test runs the authorisation property
(tests/unit/intake/test_authorisation_property.py) through the real routes, a few examples.
"""
from __future__ import annotations

import csv
import io
import json
import threading
import time

import boto3
import pytest
from hypothesis import HealthCheck, given, settings as hyp_settings

from chalicelib.auth import dev_issuer
from chalicelib.auth.principal import Role
from chalicelib.signing.facilities import ProvinceFixed
from tests.integration.helpers import Crash, drain_queue, register_facilities
from tests.integration.test_intake import HEADER, csv_bytes, good_row, upload_and_process
from tests.unit.intake import test_authorisation_property as model

pytestmark = pytest.mark.integration


@pytest.fixture
def s3(aws_endpoint, region):
    return boto3.client("s3", endpoint_url=aws_endpoint, region_name=region)


@pytest.fixture
def world(stack, unique, bearer):
    """FA and FB registered in province 001, FC in 079; a token for each caller."""
    settings, _ = stack
    fa, fb, fc = f"FA{unique}", f"FB{unique}", f"FC{unique}"
    register_facilities(settings, (fa, "001"), (fb, "001"), (fc, "079"))
    tokens = {
        "fa": bearer(dev_issuer.staff(Role.FACILITY, facility_id=fa, province_code="001")),
        "fb": bearer(dev_issuer.staff(Role.FACILITY, facility_id=fb, province_code="001")),
        "p001": bearer(dev_issuer.staff(Role.PROVINCE, province_code="001")),
        "p079": bearer(dev_issuer.staff(Role.PROVINCE, province_code="079")),
        "ministry": bearer(dev_issuer.staff(Role.MINISTRY)),
    }
    return {"fa": fa, "fb": fb, "fc": fc, "tokens": tokens, "unique": unique, "settings": settings}


def record(facility: str, record_id: str = "R1", province: str = "001", lot: str = "AZ1") -> dict:
    row = dict(zip(HEADER, good_row(1, facility)))
    return {**row, "record_id": record_id, "province_code": province, "lot_number": lot}


def post(client, token: dict, records: list, key: str, facility_id: str | None = None):
    body = {"records": records, **({"facility_id": facility_id} if facility_id else {})}
    resp = client.http.post("/v1/vaccination-records", body=json.dumps(body),
                            headers={"Content-Type": "application/json", "Idempotency-Key": key, **token})
    return resp.status_code, json.loads(resp.body)


def stored(settings, facility: str, record_id: str = "R1"):
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.dynamo import record_pk

    Record = Tables(settings).Record
    try:
        return Record.get(record_pk(facility, record_id), "REC", consistent_read=True)
    except Record.DoesNotExist:
        return None


def versions(settings, facility: str, rows: int) -> dict[str, int]:
    """record id -> stored version of R00000..: one BatchGet per 100 records."""
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.dynamo import record_pk

    keys = [(record_pk(facility, f"R{i:05d}"), "REC") for i in range(rows)]
    return {i.record_id: int(i.version) for i in Tables(settings).Record.batch_get(keys)}


def lot_of(item) -> str:
    return json.loads(item.data)["lot_number"]


def batch_of(s3, settings, key: str) -> dict:
    from chalicelib.intake.service import batch_id_for_upload
    from chalicelib.wiring import container

    etag = s3.head_object(Bucket=settings.bucket("intake"), Key=key)["ETag"].strip('"')
    return container().batch_progress.get(batch_id_for_upload(settings.bucket("intake"), key, etag))


def report_rows(s3, settings, key: str) -> tuple[dict, list[dict]]:
    batch = batch_of(s3, settings, key)
    body = s3.get_object(Bucket=settings.bucket("reports"), Key=batch["rejected_rows_report"]["key"])["Body"]
    return batch, list(csv.DictReader(io.StringIO(body.read().decode("utf-8-sig"))))


# -- 1. authorisation on the validated record -----------------------------------------------------
def test_attack_field_name_case_bypass(world, app_client):
    fa, fb, t = world["fa"], world["fb"], world["tokens"]
    assert post(app_client, t["fb"], [record(fb)], f"seed-{fa}")[0] == 200
    # Facility A writes facility B's record by spelling the field name otherwise
    evil = record(fb, lot="EVIL")
    evil["Facility_ID"] = evil.pop("facility_id")
    status, body = post(app_client, t["fa"], [evil], f"case-{fa}")
    assert (status, body["error"]["code"]) == (403, "OUT_OF_SCOPE"), body
    item = stored(world["settings"], fb)
    assert (item.version, lot_of(item)) == (1, "AZ1")
    assert stored(world["settings"], fa) is None


def test_attack_province_overwrite(world, app_client):
    fa, t, settings = world["fa"], world["tokens"], world["settings"]
    assert post(app_client, t["fa"], [record(fa)], f"seed-{fa}")[0] == 200
    # Province 079 files facility A's record (of province 001) under itself
    status, body = post(app_client, t["p079"], [record(fa, province="079", lot="EVIL")], f"ow-{fa}")
    assert status == 200 and body["accepted"] == 0, body
    assert body["results"][0]["errors"][0]["code"] == "FACILITY_NOT_IN_PROVINCE"
    item = stored(settings, fa)
    assert (item.version, item.province_code, lot_of(item)) == (1, "001", "AZ1")
    # and naming the record's real province is outside its scope
    status, body = post(app_client, t["p079"], [record(fa, lot="EVIL")], f"ow2-{fa}")
    assert (status, body["error"]["code"]) == (403, "OUT_OF_SCOPE")
    # facility A still reaches its record
    resp = app_client.http.get("/v1/vaccination-records/R1", headers=t["fa"])
    assert resp.status_code == 200 and json.loads(resp.body)["record"]["lot_number"] == "AZ1"


# -- 2. facilities exist before their records, under their province ---------------------------------
def test_attack_s3_province_spoof(world, runner, s3):
    fa, fc, settings = world["fa"], world["fc"], world["settings"]
    spoof = good_row(2, fc)
    spoof[7] = "079"  # a row of province 079, in province 001's upload
    key = f"incoming/001/spoof-{world['unique']}.csv"
    upload_and_process(s3, runner, settings, key, csv_bytes([good_row(1, fa), spoof]))
    batch, rejected = report_rows(s3, settings, key)
    assert (batch["status"], batch["accepted"], batch["rejected"]) == ("COMPLETE", 1, 1), batch
    assert [(r["row_number"], r["field"], r["code"]) for r in rejected] == [
        ("3", "province_code", "OUTSIDE_UPLOAD_PROVINCE")]
    assert stored(settings, fc, "R00002") is None and stored(settings, fa, "R00001") is not None


def test_attack_unknown_facility_api(world, app_client, bearer):
    ghost = f"GHOST{world['unique']}"
    token = bearer(dev_issuer.staff(Role.FACILITY, facility_id=ghost, province_code="001"))
    for headers, key in ((token, f"g1-{ghost}"), (world["tokens"]["ministry"], f"g2-{ghost}")):
        status, body = post(app_client, headers, [record(ghost)], key)
        assert status == 200 and body["accepted"] == 0, body
        assert body["results"][0]["errors"][0] == {
            "field": "facility_id", "code": "UNKNOWN_FACILITY", "message": f"facility {ghost} is not registered"}
    assert stored(world["settings"], ghost) is None


def test_attack_unknown_facility_s3(world, runner, s3):
    ghost, settings = f"GHOST{world['unique']}", world["settings"]
    key = f"incoming/001/ghost-{world['unique']}.csv"
    upload_and_process(s3, runner, settings, key, csv_bytes([good_row(1, ghost), good_row(2, world["fb"])]))
    batch, rejected = report_rows(s3, settings, key)
    assert (batch["accepted"], batch["rejected"]) == (1, 1), batch
    assert [(r["row_number"], r["field"], r["code"]) for r in rejected] == [("2", "facility_id", "UNKNOWN_FACILITY")]
    assert stored(settings, ghost, "R00001") is None


# -- 3. idempotency keys belong to their caller -------------------------------------------------
def test_attack_idempotency_key_collision(world, app_client):
    t, key = world["tokens"], f"shared-{world['unique']}"
    body_001 = [record(world["fa"])]
    status_a, a = post(app_client, t["p001"], body_001, key)
    status_b, b = post(app_client, t["p079"], [record(world["fc"], province="079")], key)
    assert (status_a, status_b) == (200, 200), b
    assert b["accepted"] == 1 and not b["replayed"] and a["batch_id"] != b["batch_id"]
    # a national caller sending the same key and body does not receive province 001's stored answer
    status_m, m = post(app_client, t["ministry"], body_001, key)
    assert status_m == 200 and not m["replayed"] and m["batch_id"] not in (a["batch_id"], b["batch_id"])
    assert m["results"][0]["status"] == "duplicate"
    assert post(app_client, t["p001"], body_001, key)[1]["replayed"] is True


# -- 4. lost updates ------------------------------------------------------------------------------
def test_attack_concurrent_writers(world, app_client):
    from chalicelib.wiring import container

    fa, t, settings = world["fa"], world["tokens"], world["settings"]
    assert post(app_client, t["fa"], [record(fa)], f"seed-{fa}")[0] == 200
    store = container().intake._records
    real_put = store.put_many
    barrier = threading.Barrier(2, timeout=20)
    first_writes = iter(range(2))

    def put_many(records, now):
        # both writers have read version 1 and decided before either writes: a real race
        if next(first_writes, None) is not None:
            barrier.wait()
        return real_put(records, now)
    store.put_many = put_many

    answers = {}

    def writer(name, token, lot):
        answers[name] = post(app_client, token, [record(fa, lot=lot)], f"{name}-{fa}")
    a = threading.Thread(target=writer, args=("a", t["fa"], "LOT-A"))
    a.start()
    deadline = time.monotonic() + 20
    while barrier.n_waiting < 1 and time.monotonic() < deadline:
        time.sleep(0.01)  # the second request starts once the first is inside the store
    b = threading.Thread(target=writer, args=("b", t["p001"], "LOT-B"))
    b.start()
    a.join(30)
    b.join(30)
    results = {name: body["results"][0] for name, (status, body) in answers.items()}
    assert all(status == 200 for status, _ in answers.values()), answers
    item = stored(settings, fa)
    updated = [r for r in results.values() if r["status"] == "updated"]
    # every writer told "updated" created a version of its own: none was lost
    assert item.version == 1 + len(updated) == 3, (item.version, results)
    # and what each was told is what is stored: the last version is the last writer's row
    last = max(results, key=lambda n: results[n]["version"])
    assert lot_of(item) == {"a": "LOT-A", "b": "LOT-B"}[last]
    assert sorted(r["version"] for r in results.values()) == [2, 3]
    assert len(item.earlier_digests) == 2


def test_attack_stale_reupload(world, app_client, runner, s3):
    fa, settings = world["fa"], world["settings"]
    v1 = csv_bytes([good_row(1, fa)])
    upload_and_process(s3, runner, settings, f"incoming/001/v1-{world['unique']}.csv", v1)
    resp = app_client.http.post("/v1/vaccination-records/R00001/corrections",
                                headers={"Content-Type": "application/json", **world["tokens"]["fa"]},
                                body=json.dumps({"changes": {"lot_number": "CORRECTED"}}))
    assert resp.status_code == 200 and json.loads(resp.body)["version"] == 2, resp.body
    # the province uploads its old file again
    key = f"incoming/001/v1-again-{world['unique']}.csv"
    upload_and_process(s3, runner, settings, key, v1)
    batch = batch_of(s3, settings, key)
    assert (batch["accepted"], batch["duplicates"]) == (1, 1), batch
    item = stored(settings, fa, "R00001")
    assert (item.version, lot_of(item)) == (2, "CORRECTED")


# -- 5. nothing is left stored but never cleaned --------------------------------------------------
def test_a_stored_but_never_queued_record_is_queued_on_its_next_submission(world, app_client, sqs, stack):
    from chalicelib.wiring import Container, set_container

    fa, t = world["fa"], world["tokens"]
    queue = Container(world["settings"]).cleaning_queue

    class DiesOnce:
        died = False

        def enqueue(self, batch_id, refs):
            if not DiesOnce.died:
                DiesOnce.died = True
                raise Crash("killed between storing the records and queueing them")
            return queue.enqueue(batch_id, refs)

    set_container(Container(world["settings"], cleaning_queue=DiesOnce()))
    status, _ = post(app_client, t["fa"], [record(fa)], f"k1-{fa}")
    assert status == 500 and stored(world["settings"], fa).version == 1
    # the facility sends the record again, in another call
    status, body = post(app_client, t["fa"], [record(fa)], f"k2-{fa}")
    assert status == 200 and body["results"][0]["status"] == "duplicate"
    refs = [tuple(r) for m in drain_queue(sqs, stack[1].queues["cleaning"]) for r in m["records"]]
    assert (fa, "R1", 1) in refs


def test_writes_half_done_when_a_transaction_failed_complete_on_redelivery(world, s3, region):
    from app import app
    from chalicelib import errors
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.intake.records import DynamoRecordStore
    from chalicelib.intake.service import batch_id_for_upload
    from chalicelib.wiring import Container, set_container

    fa, settings = world["fa"], world["settings"]
    key = f"incoming/001/half-{world['unique']}.csv"
    s3.put_object(Bucket=settings.bucket("intake"), Key=key, Body=csv_bytes([good_row(i, fa) for i in range(250)]))
    etag = s3.head_object(Bucket=settings.bucket("intake"), Key=key)["ETag"].strip('"')
    event = {"Records": [{"messageId": "m", "receiptHandle": "r", "eventSource": "aws:sqs", "awsRegion": region,
                          "attributes": {}, "messageAttributes": {},
                          "body": json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {
                              "bucket": {"name": settings.bucket("intake")},
                              "object": {"key": key, "eTag": etag}}}]})}]}
    failed = []

    class SecondTransactionFails(DynamoRecordStore):
        def _put_group(self, records, stamp):
            if not failed and any(n.record.record_id == "R00150" for n in records):
                failed.append(True)
                raise errors.DependencyUnavailable("records: write failed")  # this one; the others commit
            return super()._put_group(records, stamp)

    # One chunk of 250 rows: three transactions of 100, 100 and 50 records.
    set_container(Container(settings, record_store=SecondTransactionFails(Tables(settings)), intake_chunk_rows=250))
    try:
        from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

        with pytest.raises(BatchProcessingError):
            app.handler_map["handle_intake"](event, None)
        assert 0 < len(versions(settings, fa, 250)) < 250
        assert app.handler_map["handle_intake"](event, None) == {"batchItemFailures": []}
    finally:
        set_container(None)
    batch = Tables(settings).Batch.get(f"BATCH#{batch_id_for_upload(settings.bucket('intake'), key, etag)}", "BATCH")
    assert (batch.status, batch.received, batch.accepted, batch.duplicates) == ("COMPLETE", 250, 250, 0)
    assert versions(settings, fa, 250) == {f"R{i:05d}": 1 for i in range(250)}
    assert Tables(settings).Counter.get(f"FAC#{fa}", "TOTAL").received == 250


def test_attack_two_files_racing_on_the_same_new_records_lose_no_version(world, s3, region):
    """Intake writes a new province file's records without reading them first (chalicelib/intake/
    service.py): two files creating the same records at once must still never both store version 1."""
    from app import app
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.intake.records import DynamoRecordStore
    from chalicelib.wiring import Container, set_container

    fa, settings = world["fa"], world["settings"]
    bucket = settings.bucket("intake")

    def lot(rows, value):
        return [[*r[:9], value, *r[10:]] for r in rows]

    # Given two files: A creates R00000..R00149; B creates R00075..R00224, half of them A's too
    files = {"a": lot([good_row(i, fa) for i in range(150)], "LOT-A"),
             "b": lot([good_row(i, fa) for i in range(75, 225)], "LOT-B")}
    events = {}
    for name, rows in files.items():
        key = f"incoming/001/race-{name}-{world['unique']}.csv"
        s3.put_object(Bucket=bucket, Key=key, Body=csv_bytes(rows))
        etag = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
        events[name] = {"Records": [{"messageId": name, "receiptHandle": "r", "eventSource": "aws:sqs",
                                     "awsRegion": region, "attributes": {}, "messageAttributes": {},
                                     "body": json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {
                                         "bucket": {"name": bucket}, "object": {"key": key, "eTag": etag}}}]})}]}
    barrier = threading.Barrier(2, timeout=30)
    first_writes = iter(range(2))

    class BothDecideFirst(DynamoRecordStore):
        def put_many(self, records, now):
            # both files have decided "new" (nothing read) before either writes: a real race
            if next(first_writes, None) is not None:
                barrier.wait()
            return super().put_many(records, now)

    set_container(Container(settings, record_store=BothDecideFirst(Tables(settings)), intake_chunk_rows=150))
    answers = {}
    try:
        threads = [threading.Thread(target=lambda n=n: answers.__setitem__(n, app.handler_map["handle_intake"](
            events[n], None))) for n in events]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        set_container(None)
    assert answers == {"a": {"batchItemFailures": []}, "b": {"batchItemFailures": []}}
    # Then each shared record has two versions, one per file, none overwritten
    stored_versions = versions(settings, fa, 225)
    assert stored_versions == {f"R{i:05d}": 2 if 75 <= i < 150 else 1 for i in range(225)}
    item = stored(settings, fa, "R00100")
    assert len(item.earlier_digests) == 1 and lot_of(item) in ("LOT-A", "LOT-B")
    # and each record is counted once, every row of both files accepted
    assert Tables(settings).Counter.get(f"FAC#{fa}", "TOTAL").received == 225
    for name in events:
        key = f"incoming/001/race-{name}-{world['unique']}.csv"
        batch = batch_of(s3, settings, key)
        assert (batch["status"], batch["received"], batch["accepted"], batch["duplicates"]) == (
            "COMPLETE", 150, 150, 0), batch


# -- 6. the authorisation property, through the real routes --------------------------------------
def _translate(value, ids: dict):
    if isinstance(value, dict):
        return {k: ids.get(v, v) if k.strip().lower() == "facility_id" else v for k, v in value.items()}
    return ids.get(value, value)


@hyp_settings(max_examples=10, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=model.operations)
def test_no_record_ends_owned_or_changed_outside_its_scope_through_the_routes(stack, app_client, bearer, ops):
    import dataclasses
    import uuid

    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.dynamo import record_pk

    settings, _ = stack
    u = uuid.uuid4().hex[:8]
    ids = {f: f"{f}{u}" for f in ("F1", "F2", "F3", "F9")}
    registry = {ids[f]: p for f, p in model.FACILITIES.items()}
    register_facilities(settings, *registry.items())
    Record = Tables(settings).Record
    keys = [(ids[f], r) for f in ("F1", "F2", "F3", "F9") for r in ("R1", "R2")]

    def snapshot():
        items = Record.batch_get([(record_pk(f, r), "REC") for f, r in keys])
        return {(i.facility_id, i.record_id): (int(i.version), i.province_code, json.loads(i.data)["facility_id"])
                for i in items}

    owners: dict = {}
    for op in ops:
        kind, *args = op
        before, reg_before = snapshot(), dict(registry)
        p = None
        if kind == "move":
            # refused unless it keeps the province (FACILITY_PROVINCE_FIXED): records never strand
            try:
                register_facilities(settings, (ids[args[0]], args[1]))
            except ProvinceFixed:
                assert registry[ids[args[0]]] != args[1]
        else:
            p = args[0]
            p = dataclasses.replace(p, facility_id=_translate(p.facility_id, ids) if p.facility_id else None)
            if kind == "submit":
                _, rows, facility, key = args
                post(app_client, bearer(p), [_translate(r, ids) for r in rows], f"{key}-{u}",
                     _translate(facility, ids) if facility else None)
            else:
                _, facility, record_id, changes = args
                app_client.http.post(f"/v1/vaccination-records/{record_id}/corrections",
                                     headers={"Content-Type": "application/json", **bearer(p)},
                                     body=json.dumps({"facility_id": ids[facility], "changes": changes}))
        model.check(before, snapshot(), owners, p, reg_before)
