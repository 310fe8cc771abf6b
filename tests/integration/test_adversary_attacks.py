"""Attacks found by an adversarial review of issue 10 as merged, through the real routes, S3 and
the event runner on LocalStack. Each test is a proof of concept that worked on main before its fix.

- an API call that died after storing its records, retried with the same Idempotency-Key and a
  changed body, was told `accepted` while the old values stayed stored;
- record keys `REC#<facility>#<record>` alias across facilities when a facility id holds `#`: a
  facility read another facility's record by putting the rest of the key in the record id;
- a citizen's complaint about one record was answered with their complaint about another,
  because the filing's idempotency key `IDEMP#<citizen>#<record>#<key>` aliased on `#`.
"""
from __future__ import annotations

import json
import uuid

import pytest

from chalicelib.auth import dev_issuer
from chalicelib.auth.principal import Role
from tests.integration.helpers import Crash, register_facilities
from tests.integration.test_intake import HEADER, good_row
from tests.integration.test_intake_attacks import post, stored

pytestmark = pytest.mark.integration


@pytest.fixture
def world(stack, unique, bearer):
    settings, _ = stack
    fa = f"FA{unique}"
    register_facilities(settings, (fa, "001"))
    return {"fa": fa, "settings": settings, "unique": unique,
            "fa_token": bearer(dev_issuer.staff(Role.FACILITY, facility_id=fa, province_code="001"))}


def record(facility: str, record_id: str = "R1", lot: str = "AZ1", citizen_id: str | None = None) -> dict:
    row = dict(zip(HEADER, good_row(1, facility)))
    row = {**row, "record_id": record_id, "province_code": "001", "lot_number": lot}
    if citizen_id is not None:
        row["citizen_id"] = citizen_id
    return row


# -- idempotency: a retried call is decided on what it carries --------------------------------------
def test_attack_retry_after_a_crash_with_a_changed_body_is_not_told_accepted_for_old_values(world, app_client):
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.intake.batches import DynamoApiCallStore
    from chalicelib.wiring import Container, set_container

    fa, token, settings = world["fa"], world["fa_token"], world["settings"]

    class DiesOnce(DynamoApiCallStore):
        died = False

        def complete(self, *args, **kwargs):
            if not DiesOnce.died:
                DiesOnce.died = True
                raise Crash("killed after storing the records, before recording the call")
            return super().complete(*args, **kwargs)

    set_container(Container(settings, api_calls=DiesOnce(Tables(settings))))
    key = f"k-{fa}"
    status, _ = post(app_client, token, [record(fa, lot="FIRST")], key)
    assert status == 500 and json.loads(stored(settings, fa).data)["lot_number"] == "FIRST"

    # The caller retries with the same key, its record now carrying another lot number
    status, body = post(app_client, token, [record(fa, lot="SECOND")], key)
    assert status == 200, body
    result = body["results"][0]
    item = stored(settings, fa)
    # what it is told is what is stored: the new values, as a new version
    assert json.loads(item.data)["lot_number"] == "SECOND", (result, json.loads(item.data))
    assert (result["status"], result["version"], int(item.version)) == ("updated", 2, 2)


# -- '#' in keys ----------------------------------------------------------------------------------
def test_attack_record_key_aliasing_reads_another_facilitys_record(world, app_client, bearer):
    fa, settings, unique = world["fa"], world["settings"], world["unique"]
    # Facility FA has a record whose id holds '#': "X#R1", stored under REC#FA#X#R1
    status, body = post(app_client, world["fa_token"], [record(fa, "X#R1", lot="SECRET")], f"o-{unique}")
    assert status == 200 and body["accepted"] == 1, body
    # A facility whose id is "FA#X" (registered before ids were checked, or through the table)
    attacker = f"{fa}#X"
    register_facilities(settings, (attacker, "001"))
    token = bearer(dev_issuer.staff(Role.FACILITY, facility_id=attacker, province_code="001"))

    # asks for its own record "R1": the key REC#FA#X#R1 is facility FA's record
    resp = app_client.http.get("/v1/vaccination-records/R1", headers=token)
    assert resp.status_code == 404, resp.body
    assert b"SECRET" not in resp.body
    # nor can it correct it
    resp = app_client.http.post("/v1/vaccination-records/R1/corrections", headers={
        "Content-Type": "application/json", **token}, body=json.dumps({"changes": {"lot_number": "EVIL"}}))
    assert resp.status_code == 404, resp.body
    assert json.loads(stored(settings, fa, "X#R1").data)["lot_number"] == "SECRET"


def test_attack_complaint_idempotency_key_aliases_across_records(world, app_client, bearer, unique):
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.dynamo import record_pk

    fa, settings = world["fa"], world["settings"]
    citizen = "001090" + uuid.uuid4().hex[:6].translate(str.maketrans("abcdef", "123456"))
    # Two records of the citizen: "R" and "R#x"
    body = post(app_client, world["fa_token"], [record(fa, "R", citizen_id=citizen),
                                                 record(fa, "R#x", citizen_id=citizen)], f"c-{unique}")[1]
    assert body["accepted"] == 2, body
    Record = Tables(settings).Record
    for rid in ("R", "R#x"):  # the citizen index (the cleaning worker sets it too)
        Record(record_pk(fa, rid), "REC").update(actions=[Record.gsi1pk.set(Record.tables.citizen_key(citizen))])
    headers = {"Content-Type": "application/json", **bearer(dev_issuer.citizen(citizen))}

    def complain(record_id: str, key: str) -> dict:
        resp = app_client.http.post("/v1/complaints", headers={**headers, "Idempotency-Key": key},
                                    body=json.dumps({"record_id": record_id, "fields": ["lot_number"]}))
        assert resp.status_code == 200, resp.body
        return json.loads(resp.body)

    first = complain("R#x", "k")
    second = complain("R", "x#k")
    # two complaints about two records, not the first one given back for the second
    assert second["record_id"] == "R" and second["complaint_id"] != first["complaint_id"], (first, second)


# -- lost updates: complaint resolutions -----------------------------------------------------------
def test_attack_two_resolutions_at_once_leave_the_record_as_the_complaint_says(world, app_client, bearer, unique):
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.dynamo import record_pk
    from chalicelib.wiring import container

    fa, settings = world["fa"], world["settings"]
    citizen = "001090" + uuid.uuid4().hex[:6].translate(str.maketrans("abcdef", "123456"))
    assert post(app_client, world["fa_token"], [record(fa, "R1", citizen_id=citizen)], f"r-{unique}")[0] == 200
    Record = Tables(settings).Record
    Record(record_pk(fa, "R1"), "REC").update(actions=[Record.gsi1pk.set(Record.tables.citizen_key(citizen))])
    resp = app_client.http.post("/v1/complaints", body=json.dumps({"record_id": "R1", "fields": ["lot_number"]}),
                                headers={"Content-Type": "application/json", "Idempotency-Key": f"c-{unique}",
                                         **bearer(dev_issuer.citizen(citizen))})
    complaint_id = json.loads(resp.body)["complaint_id"]
    store = container().complaint_store
    seen_by_province = store.get(complaint_id)  # the province reads the complaint...

    def resolve(token: dict, lot: str):
        return app_client.http.post(f"/v1/complaints/{complaint_id}/status",
                                    headers={"Content-Type": "application/json", **token},
                                    body=json.dumps({"status": "resolved", "correction": {"lot_number": lot}}))

    # ...the facility resolves it with one correction...
    assert resolve(world["fa_token"], "LOT-A").status_code == 200
    # ...and the province, acting on what it read before, resolves it with another
    real_get = store.get
    store.get = lambda _id: (setattr(store, "get", real_get), seen_by_province)[1]
    refused = resolve(bearer(dev_issuer.staff(Role.PROVINCE, province_code="001")), "LOT-B")
    assert refused.status_code == 409, refused.body

    # The refused resolution changed nothing: the record is what the stored resolution says
    complaint, item = real_get(complaint_id), stored(settings, fa, "R1")
    assert json.loads(item.data)["lot_number"] == "LOT-A"
    assert int(item.version) == complaint.resolution.record_version == 2
