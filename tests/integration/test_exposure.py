"""Issue 14 items 6-9 on LocalStack: queues under the data key, retention by TTL and queue
retention, every read of a person's data in the access log (and only the citizen's own history
shown to them), dead letters masked unless an operator reveals them (and the reveal logged)."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import boto3
import pytest

from chalicelib.auth import dev_issuer
from chalicelib.auth.principal import Role
from infra import spec
from tests.integration.helpers import cli_json_lines, drain_until
from tests.integration.test_countersign import make_verified_people, passport_versions, sign_a_batch

pytestmark = pytest.mark.integration


# -- item 6: queues and DLQs encrypted with the data key; item 9: DLQ retention ----------------------
def test_every_queue_and_dlq_is_encrypted_with_the_data_key(stack, aws_endpoint, region):
    settings, created = stack
    sqs = boto3.client("sqs", endpoint_url=aws_endpoint, region_name=region)
    kms = boto3.client("kms", endpoint_url=aws_endpoint, region_name=region)
    data_key = kms.describe_key(KeyId=settings.key_alias("data"))["KeyMetadata"]
    for q in spec.QUEUES:
        for url, retention in ((created.queues[q.logical], q.retention_s),
                               (created.dlqs[q.logical], q.dlq_retention_s)):
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            assert attrs.get("KmsMasterKeyId") in (data_key["KeyId"], data_key["Arn"]), (url, attrs)
            assert attrs.get("SqsManagedSseEnabled", "false") == "false"
            assert int(attrs["MessageRetentionPeriod"]) == retention
    policy = json.loads(kms.get_key_policy(KeyId=data_key["KeyId"], PolicyName="default")["Policy"])
    assert any(st.get("Principal") == {"Service": "s3.amazonaws.com"} for st in policy["Statement"])


def test_an_upload_still_reaches_the_encrypted_intake_queue(stack, aws_endpoint, region, unique):
    """S3 notifies the intake queue under the data key (its key policy admits S3)."""
    settings, created = stack
    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name=region)
    sqs = boto3.client("sqs", endpoint_url=aws_endpoint, region_name=region)
    key = f"incoming/001/exposure-{unique}.csv"
    s3.put_object(Bucket=settings.bucket("intake"), Key=key, Body=b"x")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for m in sqs.receive_message(QueueUrl=created.queues["intake"], MaxNumberOfMessages=10,
                                     WaitTimeSeconds=1).get("Messages", []):
            if key in m["Body"]:
                sqs.delete_message(QueueUrl=created.queues["intake"], ReceiptHandle=m["ReceiptHandle"])
                return
    pytest.fail("the S3 notification never reached the encrypted intake queue")


# -- item 9: retention by TTL --------------------------------------------------------------------
def test_ttl_is_enabled_on_every_table_that_expires_items(stack, aws_endpoint, region):
    settings, _ = stack
    ddb = boto3.client("dynamodb", endpoint_url=aws_endpoint, region_name=region)
    expiring = {t.logical: t.ttl_attribute for t in spec.TABLES if t.ttl_attribute}
    assert {"batches", "complaints", "idempotency", "access"} <= set(expiring)
    for logical, attribute in expiring.items():
        ttl = ddb.describe_time_to_live(TableName=settings.table(logical))["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] in ("ENABLED", "ENABLING") and ttl["AttributeName"] == attribute


# -- item 8: the access log through the real routes -------------------------------------------------
@pytest.fixture(scope="module")
def citizen_with_passport(stack, sqs, region, tmp_path_factory):
    from app import app
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.local.event_runner import EventRunner

    settings, _ = stack
    people = make_verified_people(stack, tmp_path_factory, seed=31)
    [cid] = set(sign_a_batch(settings, people, limit=1))
    drain_until(EventRunner(app, sqs, region=region, wait_time_s=0), lambda: passport_versions(settings, cid))
    record = next(r for r in Tables(settings).Record.by_citizen.query(Tables(settings).citizen_key(cid))
                  if r.facility_id == people["facility"])
    return {"cid": cid, "facility": people["facility"], "record": record}


def _get(client, path, headers):
    resp = client.http.get(path, headers=headers)
    content_type = {k.lower(): v for k, v in resp.headers.items()}.get("content-type", "application/json")
    return resp.status_code, json.loads(resp.body) if content_type == "application/json" else resp.body


@pytest.fixture(scope="module")
def reads(stack, citizen_with_passport, issuer):
    """The citizen reads their passport, its QR and their complaints; the facility reads the
    record and its complaint list (every route that shows the person's data, once each)."""
    from chalice.test import Client

    from app import app
    from chalicelib.wiring import Container, set_container

    settings, _ = stack
    cid, facility, record = (citizen_with_passport[k] for k in ("cid", "facility", "record"))
    citizen = {"Authorization": f"Bearer {issuer.mint(dev_issuer.citizen(cid))}"}
    staff = {"Authorization": "Bearer " + issuer.mint(dev_issuer.staff(
        Role.FACILITY, facility_id=facility, province_code=record.province_code))}
    set_container(Container(settings))
    try:
        with Client(app) as client:
            filed = client.http.post("/v1/complaints", headers={**citizen, "Content-Type": "application/json",
                                                                 "Idempotency-Key": "exp-1"},
                                     body=json.dumps({"record_id": record.record_id, "text": "sai số lô",
                                                      "proposed": {"lot_number": "LOT-X"}}))
            assert filed.status_code == 200, filed.body
            complaint_id = json.loads(filed.body)["complaint_id"]
            for path, headers in (("/v1/passports/me", citizen), ("/v1/passports/me/qr.svg", citizen),
                                  ("/v1/complaints/mine", citizen), (f"/v1/complaints/{complaint_id}", staff),
                                  (f"/v1/facilities/{facility}/complaints", staff),
                                  (f"/v1/vaccination-records/{record.record_id}", staff)):
                status, _ = _get(client, path, headers)
                assert status == 200, path
            yield {"client": client, "citizen": citizen, "staff": staff, "complaint_id": complaint_id,
                   "issuer": issuer, **citizen_with_passport}
    finally:
        set_container(None)


def test_every_read_of_a_persons_data_is_in_their_access_log(reads):
    status, mine = _get(reads["client"], "/v1/access-log/me", reads["citizen"])
    assert status == 200
    routes = [(a["role"], a["route"]) for a in mine["accesses"]]
    assert set(routes) >= {
        ("citizen", "GET /v1/passports/me"), ("citizen", "GET /v1/passports/me/qr.svg"),
        ("citizen", "GET /v1/complaints/mine"), ("facility", "GET /v1/complaints/{complaint_id}"),
        ("facility", "GET /v1/facilities/{facility_id}/complaints"),
        ("facility", "GET /v1/vaccination-records/{record_id}")}
    staff = [a for a in mine["accesses"] if a["role"] == "facility"]
    assert all(a["scope"] == reads["facility"] for a in staff)
    assert any(reads["complaint_id"] in a["keys"] for a in staff)
    # The citizen sees who (role, facility), not the staff member's identity-provider subject.
    assert all("subject" not in a for a in mine["accesses"])
    # Newest first; a malformed page cursor is a 400, not a crash.
    ats = [a["at"] for a in mine["accesses"]]
    assert ats == sorted(ats, reverse=True) and mine["next_before"] is None
    status, body = _get(reads["client"], "/v1/access-log/me?before=yesterday", reads["citizen"])
    assert status == 400 and "before" in json.dumps(body)


def test_the_access_log_keeps_no_citizen_id(stack, reads):
    from chalicelib.adapters.dynamo import Tables

    settings, _ = stack
    Access = Tables(settings).Access
    items = [i for i in Access.scan() if (i.gsi2pk or "").startswith("WHO#")]
    assert items
    assert not [i for i in items if reads["cid"] in json.dumps(i.attribute_values, default=str)]


def test_attack_another_citizen_reads_the_access_log(reads):
    other = {"Authorization": f"Bearer {reads['issuer'].mint(dev_issuer.citizen('001090099999'))}"}
    status, theirs = _get(reads["client"], "/v1/access-log/me", other)
    assert status == 200 and theirs == {"accesses": [], "next_before": None}


def test_attack_facility_token_reads_access_log_me(reads):
    status, body = _get(reads["client"], "/v1/access-log/me", reads["staff"])
    assert status == 403 and body["error"]["code"] == "ROLE_NOT_ALLOWED", body


def test_operator_reads_a_citizens_history_with_the_cli(reads):
    code, lines = cli_json_lines("access-log", "--citizen", reads["cid"])
    assert code == 0
    assert {e.get("route") for e in lines} >= {"GET /v1/passports/me", "GET /v1/vaccination-records/{record_id}"}
    assert all(e["subject"] for e in lines)  # the operator sees the staff member's subject too
    assert reads["cid"] not in json.dumps(lines)


def test_attack_access_log_entry_overwritten_is_refused(stack, unique):
    """Append-only: an entry whose key exists is never replaced (here: the same nonce twice)."""
    from chalicelib import errors
    from chalicelib.adapters.cleaning.access_log import DynamoAccessLog
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.cleaning.access import AccessEntry, Disclosure, Reader

    settings, _ = stack
    log = DynamoAccessLog(Tables(settings), 1, new_id=lambda: "same")
    at = datetime.now(timezone.utc)
    first = AccessEntry(Reader("facility", "s1", "F1"), "", "", at, "GET /x", (Disclosure(f"p{unique}", ("k1",)),))
    log.record_read(first)
    with pytest.raises(errors.Conflict):
        log.record_read(AccessEntry(Reader("ministry", "forger", ""), "", "", at, "GET /x",
                                    (Disclosure(f"p{unique}", ("rewritten",)),)))
    [kept] = log.reads_of_person(f"p{unique}")
    assert kept.reader.subject == "s1" and kept.people[0].keys == ("k1",)
    item = next(Tables(settings).Access.query(f"WHO#p{unique}"))
    assert abs(item.ttl - (at.timestamp() + 86400)) < 2  # expires by TTL after the retention


def test_idempotency_records_carry_their_ttl(stack, reads):
    settings, _ = stack
    Complaint = boto3.resource("dynamodb", endpoint_url=settings.endpoint_url, region_name=settings.region).Table(
        settings.table("complaints"))
    idem = [i for i in Complaint.scan()["Items"] if i["pk"].startswith("IDEMP#")]
    assert idem and all("ttl" in i for i in idem)
    now = time.time()
    assert all(0 < int(i["ttl"]) - now <= settings.idempotency_retention_days * 86400 + 60 for i in idem)


# -- item 6: dlq list masks, --reveal is logged ---------------------------------------------------
def test_dlq_list_masks_personal_data_and_a_reveal_is_logged(stack, unique):
    from chalicelib.wiring import Container, set_container

    settings, _ = stack
    cid = "0010900" + str(int(unique, 16))[-5:].zfill(5)
    body = json.dumps({"kind": "reevaluate", "citizen_id": cid, "people": [
        {"Full_Name": "Nguyễn Văn Bí Mật", "date_of_birth": "1990-05-01", "phone": "0912345678"}]})
    set_container(Container(settings))
    try:
        from chalicelib.wiring import container

        container().dead_letters.send("countersign", body, "TEST", f"person {cid} could not be issued")
    finally:
        set_container(None)
    code, masked = cli_json_lines("dlq", "list", "countersign", "--max", "100")
    assert code == 0
    mine = [m for m in masked if '"kind":"reevaluate"' in m["body"] and "TEST" == m["error_code"]]
    assert mine
    text = json.dumps(mine, ensure_ascii=False)
    for secret in (cid, "Bí Mật", "1990-05-01", "0912345678"):
        assert secret not in text
    assert not cli_json_lines("access-log", "--citizen", cid)[1]  # a masked listing reveals nobody

    code, revealed = cli_json_lines("dlq", "list", "countersign", "--max", "100", "--reveal")
    assert code == 0 and any(cid in m["body"] for m in revealed)
    code, history = cli_json_lines("access-log", "--citizen", cid)
    assert code == 0 and [e["route"] for e in history] == ["cli dlq list countersign --reveal"]
    assert history[0]["role"] == "operator" and history[0]["subject"].startswith("arn:aws")
