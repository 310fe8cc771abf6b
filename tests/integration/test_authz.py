"""Authorisation of every route of the real app, for every kind of caller, on LocalStack.

The table below is checked against `app.routes`: a route added without a row here fails
`test_every_route_has_a_rule`, so no route ships without a decision about who may call it.
Expected answers: 401 (no or bad token), 403 (role or scope refused), 200 (allowed).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import quote

import pytest

from chalicelib.auth import dev_issuer
from chalicelib.auth.principal import Role
from chalicelib.dcc.uvci import make_uvci
from tests.integration.helpers import register_facilities

pytestmark = pytest.mark.integration

CID = "001090123456"
PROVINCE, OTHER_PROVINCE = "001", "079"
ACTORS = ("none", "bad", "citizen", "facility_own", "facility_other", "province_own", "province_other",
          "ministry", "operator")
ALLOWED_EVERYONE = dict.fromkeys(ACTORS, 200)


def expect(*allowed: str) -> dict[str, int]:
    """401 without a valid token, 200 for `allowed`, 403 for the other authenticated callers."""
    return {a: 401 if a in ("none", "bad") else 200 if a in allowed else 403 for a in ACTORS}


def expect_status(status: int, *allowed: str) -> dict[str, int]:
    return {a: status if code == 200 else code for a, code in expect(*allowed).items()}


STAFF_OF_FACILITY = expect("facility_own", "province_own", "ministry", "operator")
RULES = {
    ("GET", "/v1/health"): ALLOWED_EVERYONE,
    ("GET", "/v1/trust-list"): ALLOWED_EVERYONE,
    ("GET", "/v1/trust-list/jwks"): ALLOWED_EVERYONE,
    ("GET", "/v1/revocation-list"): ALLOWED_EVERYONE,
    # Public; the world's batch id is not a revocation batch id (32 hex digits): 400 for everyone.
    ("GET", "/v1/revocation-list/{batch_id}"): dict.fromkeys(ACTORS, 400),
    ("GET", "/v1/openapi.json"): ALLOWED_EVERYONE,
    # Public; the gateway-form list exists only after the first `trust export` (none in this world).
    ("GET", "/v1/trust-list/gateway"): dict.fromkeys(ACTORS, 404),
    # Public business rules and value sets; a hash nothing has is 404 for everyone.
    ("GET", "/v1/rules"): ALLOWED_EVERYONE,
    ("GET", "/v1/rules/{country}/{digest}"): dict.fromkeys(ACTORS, 404),
    ("GET", "/v1/valuesets"): ALLOWED_EVERYONE,
    ("GET", "/v1/valuesets/{digest}"): dict.fromkeys(ACTORS, 404),
    ("POST", "/v1/vaccination-records"): STAFF_OF_FACILITY,
    ("GET", "/v1/batches/{batch_id}"): expect("province_own", "ministry", "operator"),
    ("GET", "/v1/vaccination-records/{record_id}"): STAFF_OF_FACILITY,
    ("POST", "/v1/vaccination-records/{record_id}/corrections"): STAFF_OF_FACILITY,
    # Only the facility or its province's focal agency signs. The allowed callers get past
    # authorisation to the service's own answer: 409 nothing left to sign (the world's one
    # verified record is in the world's open batch), 400 no certificate given with the signature.
    ("POST", "/v1/facilities/{facility_id}/signing-batches"): expect_status(409, "facility_own", "province_own"),
    ("GET", "/v1/signing-batches/{batch_id}"): expect("facility_own", "province_own"),
    ("POST", "/v1/signing-batches/{batch_id}/signature"): expect_status(400, "facility_own", "province_own"),
    # A citizen reads only their own passport (none issued yet in this world: 404); staff never.
    ("GET", "/v1/passports/me"): expect_status(404, "citizen"),
    ("GET", "/v1/passports/me/qr.png"): expect_status(404, "citizen"),
    ("GET", "/v1/passports/me/qr.svg"): expect_status(404, "citizen"),
    ("GET", "/v1/passports/me/travel-check"): expect_status(404, "citizen"),
    # Revocation is national: the allowed callers get past authorisation to 404 (no such UVCI).
    ("POST", "/v1/revocations"): expect_status(404, "ministry", "operator"),
    ("POST", "/v1/revocations/{uvci}/lift"): expect_status(404, "ministry", "operator"),
    # Reports: the nation for the ministry and operators, a province for itself.
    ("GET", "/v1/reports/provinces"): expect("ministry", "operator"),
    ("GET", "/v1/reports/provinces.csv"): expect("ministry", "operator"),
    ("GET", "/v1/reports/provinces/{code}"): expect("province_own", "ministry", "operator"),
    ("GET", "/v1/reports/daily"): expect("ministry", "operator"),
    # Complaints: a citizen files and reads their own; the facility (and its province) works them.
    ("POST", "/v1/complaints"): expect("citizen"),
    ("GET", "/v1/complaints/mine"): expect("citizen"),
    ("GET", "/v1/access-log/me"): expect("citizen"),
    ("GET", "/v1/complaints/{complaint_id}"): expect("citizen", "facility_own", "province_own", "ministry",
                                                     "operator"),
    ("GET", "/v1/facilities/{facility_id}/complaints"): STAFF_OF_FACILITY,
    ("POST", "/v1/complaints/{complaint_id}/status"): expect("facility_own", "province_own"),
    ("GET", "/v1/provinces/{code}/complaints/overdue"): expect("province_own", "ministry", "operator"),
    ("GET", "/dashboard"): ALLOWED_EVERYONE,
    ("GET", "/dashboard/{asset}"): ALLOWED_EVERYONE,
}


@pytest.fixture(scope="module")
def world(stack, issuer):
    """Facility A (ours) and B in province 001, one record of A, one upload batch of 001."""
    import uuid

    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.intake.batches import DynamoBatchStore
    from chalicelib.wiring import Container

    settings, _ = stack
    unique = uuid.uuid4().hex[:8]
    fa, fb = f"FA{unique}", f"FB{unique}"
    record = {"record_id": "R1", "facility_id": fa, "citizen_id": CID, "full_name": "Nguyễn Văn An",
              "date_of_birth": "1990-05-17", "sex": "M", "phone": "0912345678", "province_code": PROVINCE,
              "vaccine_product": "AstraZeneca", "lot_number": "AZ1", "dose_number": "1",
              "vaccination_date": "2021-08-20"}
    register_facilities(settings, (fa, PROVINCE), (fb, PROVINCE))
    out = Container(settings).submission.submit(
        records=[record], idempotency_key=f"seed-{unique}", facility_id=fa,
        writer=dev_issuer.staff(Role.FACILITY, facility_id=fa, province_code=PROVINCE))
    assert out["accepted"] == 1, out
    batch_id = f"authz-{unique}"
    now = datetime.now(timezone.utc)
    DynamoBatchStore(Tables(settings)).begin(batch_id, province_code=PROVINCE, source="s3://test/authz",
                                             etag=None, now=now)
    signing_batch, agency = open_signing_batch(Container(settings), Tables(settings), fa, unique, now)
    complaint = Container(settings).complaints.file(CID, {"record_id": "R1", "fields": ["lot_number"]},
                                                    f"seed-{unique}")
    Container(settings).revocation_publisher.publish()  # the revocation list's routes serve what is published
    principals = {
        "citizen": dev_issuer.citizen(CID),
        "facility_own": dev_issuer.staff(Role.FACILITY, facility_id=fa, province_code=PROVINCE),
        "facility_other": dev_issuer.staff(Role.FACILITY, facility_id=fb, province_code=PROVINCE),
        "province_own": dev_issuer.staff(Role.PROVINCE, province_code=PROVINCE),
        "province_other": dev_issuer.staff(Role.PROVINCE, province_code=OTHER_PROVINCE),
        "ministry": dev_issuer.staff(Role.MINISTRY),
        "operator": dev_issuer.staff(Role.OPERATOR),
    }
    headers = {a: {"Authorization": f"Bearer {issuer.mint(p)}"} for a, p in principals.items()}
    headers["none"] = {}
    headers["bad"] = {"Authorization": "Bearer " + issuer.mint(principals["ministry"], ttl_s=-3600)}
    return {"fa": fa, "record": record, "batch_id": batch_id, "headers": headers, "unique": unique,
            "signing_batch": signing_batch, "agency": agency, "complaint": complaint["complaint_id"]}


def open_signing_batch(c, tables, facility_id, unique, now):
    """Facility A registered (province 001) with a focal agency, one verified record, one open batch."""
    import json as _json
    import secrets
    from datetime import timedelta

    from chalicelib.adapters.dynamo import record_pk
    from chalicelib.signing import facility_pki as pki

    ca_key = pki.generate_key()
    ca = pki.issue_government_ca(ca_key, now=now - timedelta(days=1), valid_days=30, random_bytes=secrets.token_bytes)
    c.facilities.register_ca(pki.pem(ca), now=now)
    c.facilities.register_facility(facility_id=facility_id, name="TYT A", province=PROVINCE, head="BS. A",
                                   certificate_pem=None, now=now)
    agency = f"AG{unique}"
    agency_key = pki.generate_key()
    agency_cert = pki.issue_signer_certificate(agency_key.public_key(), ca_cert=ca, ca_key=ca_key, subject_id=agency,
                                               name="CDC test", now=now - timedelta(hours=1), valid_days=30,
                                               random_bytes=secrets.token_bytes, province=PROVINCE,
                                               focal_agency=True)
    c.facilities.register_focal_agency(agency_id=agency, name="CDC test", province=PROVINCE,
                                       certificate_pem=pki.pem(agency_cert), now=now)
    data = {"record_id": "RV", "facility_id": facility_id, "citizen_id": CID, "dose_number": "1",
            "vaccination_date": "2021-08-20", "vaccine_product": "EU/1/21/1529", "full_name": "Nguyễn Văn An"}
    tables.Record(record_pk(facility_id, "RV"), "REC", gsi2pk=f"FAC#{facility_id}#VERIFIED", gsi2sk="RV",
                  facility_id=facility_id, record_id="RV", province_code=PROVINCE, digest="rv-digest", version=1,
                  data=_json.dumps(data, ensure_ascii=False), state="VERIFIED", cleaned_version=1,
                  matched_citizen_id=CID, created_at=now.isoformat(), updated_at=now.isoformat()).save()
    manifest = c.signing.create_batch(facility_id, now=now)
    return manifest["batch_id"], agency


def call(client, world, method: str, path: str, actor: str):
    """One request per route, shaped so that an allowed caller gets a 200."""
    headers = {"Content-Type": "application/json", **world["headers"][actor]}
    url = path.replace("{record_id}", world["record"]["record_id"]).replace("{facility_id}", world["fa"])
    url = url.replace("{code}", PROVINCE).replace("{asset}", "dashboard.js")
    url = url.replace("{complaint_id}", world["complaint"])
    url = url.replace("{country}", "VN").replace("{digest}", "0" * 64)
    url = url.replace("{uvci}", quote(make_uvci(lambda n: bytes(n)), safe=""))
    url = url.replace("{batch_id}", world["signing_batch"] if "/signing-batches/" in path else world["batch_id"])
    body = None
    if path == "/v1/vaccination-records":
        headers["Idempotency-Key"] = f"authz-{world['unique']}-{actor}"
        body = {"records": [{**world["record"], "record_id": f"R-{actor}"}]}
    elif path.endswith("/corrections"):
        body = {"facility_id": world["fa"], "changes": {"phone": "0912345679"}}
    elif path == "/v1/vaccination-records/{record_id}":
        url += f"?facility_id={world['fa']}"
    elif path.endswith("/signing-batches"):
        body = {}
    elif path == "/v1/complaints":
        headers["Idempotency-Key"] = f"authz-{actor}"
        body = {"record_id": "R1", "proposed": {"lot_number": "AZ2"}, "text": "số lô sai"}
    elif path.endswith("/status"):
        # each allowed caller makes a change the state machine accepts, in the order callers are tried
        body = {"status": "in_progress"} if actor == "facility_own" else {"status": "rejected", "reason": "đúng"}
    elif path.endswith("/signature"):
        body = {"signature": "c2lnbmF0dXJl", "algorithm": "ES256", "signer_id": world["agency"]}
    elif path == "/v1/revocations":
        body = {"uvci": make_uvci(lambda n: bytes(n)), "reason": "authz"}
    elif path.endswith("/lift"):
        body = {"reason": "authz"}
    elif path.endswith("/travel-check"):
        url += "?country=DE"
    return client.http.request(method, url, headers=headers,
                               body=json.dumps(body).encode() if body is not None else b"")


def test_every_route_has_a_rule():
    from app import app

    assert {(m, p) for p, methods in app.routes.items() for m in methods} == set(RULES)


@pytest.mark.parametrize("method, path", sorted(RULES))
def test_route_answers_each_caller_as_the_rules_say(app_client, world, method, path):
    got = {actor: call(app_client, world, method, path, actor) for actor in ACTORS}
    answers = {actor: resp.status_code for actor, resp in got.items()}
    assert answers == RULES[(method, path)], {a: r.body[:200] for a, r in got.items()
                                              if r.status_code != RULES[(method, path)][a]}
    for resp in got.values():
        if resp.status_code == 401:
            assert resp.headers.get("WWW-Authenticate") == "Bearer"
            assert json.loads(resp.body)["error"]["code"] in ("TOKEN_MISSING", "TOKEN_EXPIRED")


def test_a_facility_reads_its_own_records_without_naming_itself(app_client, world):
    resp = app_client.http.get("/v1/vaccination-records/R1", headers=world["headers"]["facility_own"])
    assert resp.status_code == 200 and json.loads(resp.body)["facility_id"] == world["fa"]
    # and another facility, acting for itself, does not find it
    other = app_client.http.get("/v1/vaccination-records/R1", headers=world["headers"]["facility_other"])
    assert other.status_code == 404


def test_staff_above_a_facility_must_name_it(app_client, world):
    resp = app_client.http.get("/v1/vaccination-records/R1", headers=world["headers"]["ministry"])
    assert resp.status_code == 400 and json.loads(resp.body)["error"]["details"]["field"] == "facility_id"


def test_nobody_moves_a_record_to_another_province_by_correcting_it(app_client, world):
    # the owner of a record (facility and province) is not a correctable field, for anyone
    for actor in ("province_own", "ministry"):
        resp = app_client.http.post(
            "/v1/vaccination-records/R1/corrections",
            headers={"Content-Type": "application/json", **world["headers"][actor]},
            body=json.dumps({"facility_id": world["fa"], "changes": {"province_code": OTHER_PROVINCE}}))
        assert resp.status_code == 400, resp.body
        assert json.loads(resp.body)["error"]["details"]["fields"] == ["province_code"]
    view = app_client.http.get(f"/v1/vaccination-records/R1?facility_id={world['fa']}",
                               headers=world["headers"]["ministry"])
    assert json.loads(view.body)["record"]["province_code"] == PROVINCE
