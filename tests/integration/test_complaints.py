"""Complaints end to end on LocalStack (issue 6 acceptance): a citizen holding passport v1 files a
complaint about their record through the real route; the facility lists it, starts it and resolves
it with a correction; cleaning verifies the new record version; the facility's next signing batch
holds the person again; countersigning issues v2 and revokes v1; the citizen sees the outcome;
complaints_received and complaints_resolved moved by exactly one."""
from __future__ import annotations

import base64
import json

import pytest

from chalicelib.auth import dev_issuer
from chalicelib.auth.principal import Role
from tests.integration.helpers import drain_until
from tests.integration.test_countersign import make_verified_people, passport_versions, sign_a_batch

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def people(stack, tmp_path_factory):
    # Seed 11: other people than test_countersign's, whose passports must stay at version 1 there.
    return make_verified_people(stack, tmp_path_factory, seed=11)


def _counts(settings, facility):
    from chalicelib.adapters.dynamo import Tables

    Counter = Tables(settings).Counter
    try:
        item = Counter.get(f"FAC#{facility}", "TOTAL", consistent_read=True)
    except Counter.DoesNotExist:
        return 0, 0
    return int(item.complaints_received or 0), int(item.complaints_resolved or 0)




def test_a_complaint_resolved_with_a_correction_reissues_the_passport(stack, sqs, region, people, app_client,
                                                                        bearer):
    from app import app
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.wiring import container
    from tests.integration.helpers import published_revocations
    from chalicelib.local.event_runner import EventRunner

    settings, _ = stack
    facility = people["facility"]
    runner = EventRunner(app, sqs, region=region, wait_time_s=0)

    # Given a citizen holding passport version 1
    [cid] = set(sign_a_batch(settings, people, limit=1))
    drain_until(runner, lambda: passport_versions(settings, cid))
    v1 = passport_versions(settings, cid)[0]
    assert int(v1.version) == 1
    Record = Tables(settings).Record
    record = next(r for r in Record.by_citizen.query(Tables(settings).citizen_key(cid)) if r.facility_id == facility)
    received0, resolved0 = _counts(settings, facility)

    # When the citizen files a complaint about the record (twice: a retry with the same key)
    citizen = {"Content-Type": "application/json", "Idempotency-Key": "phan-anh-1",
               **bearer(dev_issuer.citizen(cid))}
    body = json.dumps({"record_id": record.record_id, "proposed": {"lot_number": "LOT-CORRECT-7"},
                       "text": "Số lô trên phiếu tiêm của tôi là LOT-CORRECT-7"})
    filed = app_client.http.post("/v1/complaints", headers=citizen, body=body)
    again = app_client.http.post("/v1/complaints", headers=citizen, body=body)
    assert filed.status_code == 200, filed.body
    complaint = json.loads(filed.body)
    assert json.loads(again.body)["complaint_id"] == complaint["complaint_id"]
    assert complaint["facility_id"] == facility and complaint["status"] == "received"
    cmp_id = complaint["complaint_id"]

    # the facility lists it, starts it and resolves it with the proposed correction
    staff = {"Content-Type": "application/json",
             **bearer(dev_issuer.staff(Role.FACILITY, facility_id=facility, province_code=record.province_code))}
    listed = json.loads(app_client.http.get(f"/v1/facilities/{facility}/complaints?status=received",
                                            headers=staff).body)
    assert [c["complaint_id"] for c in listed["complaints"]] == [cmp_id]
    for change in ({"status": "in_progress"}, {"status": "resolved", "apply_proposed": True,
                                               "reason": "đã sửa số lô theo phiếu tiêm"}):
        resp = app_client.http.post(f"/v1/complaints/{cmp_id}/status", headers=staff, body=json.dumps(change))
        assert resp.status_code == 200, resp.body
    resolved = json.loads(resp.body)
    assert resolved["resolution"]["kind"] == "corrected" and resolved["resolution"]["record_version"] == 2
    # a closed complaint stays closed
    reopen = app_client.http.post(f"/v1/complaints/{cmp_id}/status", headers=staff,
                                  body=json.dumps({"status": "rejected", "reason": "x"}))
    assert reopen.status_code == 409

    # cleaning verifies the new version
    def verified_v2():
        item = Record.get(record.pk, "REC", consistent_read=True)
        return int(item.version) == 2 and int(item.cleaned_version) == 2
    drain_until(runner, verified_v2)
    assert Record.get(record.pk, "REC").state in ("VERIFIED", "VERIFIED_NORMALIZED")

    # Then the facility's next batch holds the person again (with everyone not signed yet: the
    # order of candidates is not the test's business), and countersigning issues version 2
    assert cid in sign_a_batch(settings, people, limit=40)
    drain_until(runner, lambda: len(passport_versions(settings, cid)) == 2)
    me = json.loads(app_client.http.get("/v1/passports/me", headers=bearer(dev_issuer.citizen(cid))).body)
    assert me["version"] == 2 and me["status"] == "VALID"
    revoked = published_revocations(container(), app_client)
    assert revoked.is_revoked(uci=v1.uvci, country=settings.country,
                              signature=base64.b64decode(v1.signature), alg=v1.alg)

    # the citizen sees the outcome
    mine = json.loads(app_client.http.get("/v1/complaints/mine", headers=citizen).body)["complaints"]
    assert [(c["complaint_id"], c["status"], c["resolution"]["kind"]) for c in mine] == [(cmp_id, "resolved",
                                                                                          "corrected")]
    assert [h["status"] for h in mine[0]["history"]] == ["received", "in_progress", "resolved"]
    # and each counter moved exactly once
    assert _counts(settings, facility) == (received0 + 1, resolved0 + 1)


def test_an_overdue_complaint_shows_for_its_province_and_in_the_report(stack, people, app_client, bearer):
    from datetime import datetime, timedelta, timezone

    from chalicelib.wiring import Container, set_container

    settings, _ = stack
    facility = people["facility"]
    record = next(r for r in Container(settings).tables.Record.by_facility_state.query(f"FAC#{facility}#VERIFIED"))
    cid, code = record.matched_citizen_id, record.province_code

    filed = app_client.http.post("/v1/complaints", body=json.dumps({"record_id": record.record_id,
                                                                     "fields": ["vaccination_date"]}),
                                 headers={"Content-Type": "application/json", "Idempotency-Key": "late-1",
                                          **bearer(dev_issuer.citizen(cid))})
    assert filed.status_code == 200, filed.body
    cmp_id = json.loads(filed.body)["complaint_id"]
    # a token still valid a week later, when the app's clock is moved on
    province = bearer(dev_issuer.staff(Role.PROVINCE, province_code=code), ttl_s=30 * 24 * 3600)
    now = json.loads(app_client.http.get(f"/v1/provinces/{code}/complaints/overdue", headers=province).body)
    assert cmp_id not in [c["complaint_id"] for c in now["complaints"]]
    # The same stack, a week later: complaints filed now are past their due date.
    set_container(Container(settings, clock=lambda: datetime.now(timezone.utc) + timedelta(days=8)))
    late = json.loads(app_client.http.get(f"/v1/provinces/{code}/complaints/overdue", headers=province).body)
    row = next(c for c in late["complaints"] if c["complaint_id"] == cmp_id)
    assert row["overdue"] is True and row["facility_head"] == "BS. Lan"
    report = json.loads(app_client.http.get(f"/v1/reports/provinces/{code}", headers=province).body)
    assert report["province"]["complaints_overdue"] >= 1
    assert next(f for f in report["facilities"] if f["facility_id"] == facility)["complaints_overdue"] == 1
