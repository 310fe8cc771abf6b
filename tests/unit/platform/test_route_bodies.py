"""Every route of the real app that takes a body declares it with `route(..., body=SCHEMA)`, and
each of them refuses a body outside its contract with a 400 naming the field, before its view
(and so any AWS call) runs: the network is closed for these tests, and a refusal that reached a
service would fail on it rather than answer 400."""
from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from urllib.parse import quote

import pytest
from chalice.test import Client

from app import app
from chalicelib.auth import dev_issuer
from chalicelib.auth.principal import Role
from chalicelib.dcc.uvci import make_uvci
from chalicelib.platform.openapi import build_openapi

ROOT = Path(__file__).resolve().parents[3]
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
UVCI = make_uvci(lambda n: bytes(range(n)))
FACILITY = dev_issuer.staff(Role.FACILITY, facility_id="F1", province_code="001")
CITIZEN = dev_issuer.citizen("001090123456")
MINISTRY = dev_issuer.staff(Role.MINISTRY)


@pytest.fixture(scope="module")
def client():
    with Client(app) as c:
        yield c


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("a refused body reached a service that went to the network")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def post(client, issuer, principal, path: str, body) -> object:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.http.post(path, body=raw, headers={"Content-Type": "application/json", "Idempotency-Key": "k-1",
                                                     "Authorization": f"Bearer {issuer.mint(principal)}"})


def error(resp) -> dict:
    return json.loads(resp.body)["error"]


# -- no route checks a body by hand -----------------------------------------------------------
def test_every_route_that_takes_a_body_declares_its_contract():
    doc = build_openapi(app.routes, title="t", version="1")
    with_body = set()
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            contract = entry.view_function.route_doc.contract
            if method in BODY_METHODS:
                assert contract is not None, f"{method} {path}: declare its body with route(..., body=SCHEMA)"
            if contract is None:
                assert "requestBody" not in doc["paths"][path][method.lower()], (method, path)
                continue
            with_body.add((method, path))
            documented = doc["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]
            assert documented["schema"] is contract.schema, (method, path)  # one schema: checked and published
            assert contract.schema.get("additionalProperties") is False, (method, path)  # the API owns the shape
            assert entry.content_types == ["application/json"], (method, path)
    assert len(with_body) >= 8


def test_no_view_reads_the_request_body_itself():
    offenders = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "chalicelib").rglob("*.py"))
                 if p.name != "http.py" and re.search(r"\b(json_body|raw_body)\b", p.read_text(encoding="utf-8"))]
    assert offenders == []
    assert not re.search(r"\b(json_body|raw_body)\b", (ROOT / "app.py").read_text(encoding="utf-8"))


# -- each route's refusals ----------------------------------------------------------------------
RECORDS = "/v1/vaccination-records"
CORRECTIONS = "/v1/vaccination-records/R1/corrections"
NEW_BATCH = "/v1/facilities/F1/signing-batches"
SIGNATURE = "/v1/signing-batches/B1/signature"
COMPLAINTS = "/v1/complaints"
STATUS = "/v1/complaints/C1/status"
REVOCATIONS = "/v1/revocations"
LIFT = f"/v1/revocations/{quote(UVCI, safe='')}/lift"
SIG = {"signature": "c2lnbmF0dXJl", "algorithm": "ES256"}

REFUSALS = [
    (FACILITY, RECORDS, {}, "records"),
    (FACILITY, RECORDS, {"records": []}, "records"),
    (FACILITY, RECORDS, {"records": {"0": {"record_id": "R1"}}}, "records"),
    (FACILITY, RECORDS, {"records": [{"record_id": "R1"}, "R2"]}, "records[1]"),
    (FACILITY, RECORDS, {"records": [{}], "facility_id": 7}, "facility_id"),
    (FACILITY, RECORDS, {"records": [{}], "facility": "F2"}, "facility"),
    (FACILITY, CORRECTIONS, {"changes": ["phone"]}, "changes"),
    (FACILITY, CORRECTIONS, {"changes": {"phone": True}}, "changes.phone"),
    (FACILITY, CORRECTIONS, {"changes": {"phone": "0912" * 300}}, "changes.phone"),
    (FACILITY, CORRECTIONS, {"accept_suggestion": "yes"}, "accept_suggestion"),
    (FACILITY, CORRECTIONS, {"facility_id": ["F1"], "accept_suggestion": True}, "facility_id"),
    (FACILITY, CORRECTIONS, {"changes": {"phone": "1"}, "force": True}, "force"),
    (FACILITY, NEW_BATCH, {"limit": "10"}, "limit"),
    (FACILITY, NEW_BATCH, {"limit": 5.0}, "limit"),
    (FACILITY, NEW_BATCH, {"limit": True}, "limit"),
    (FACILITY, NEW_BATCH, {"limit": 0}, "limit"),
    (FACILITY, NEW_BATCH, {"limit": 10_001}, "limit"),
    (FACILITY, NEW_BATCH, {"limit": 5, "facility_id": "F2"}, "facility_id"),
    (FACILITY, SIGNATURE, {"algorithm": "ES256"}, "signature"),
    (FACILITY, SIGNATURE, {"signature": "c2ln"}, "algorithm"),
    (FACILITY, SIGNATURE, {**SIG, "signature": 5}, "signature"),
    (FACILITY, SIGNATURE, {**SIG, "signature": ""}, "signature"),
    (FACILITY, SIGNATURE, {**SIG, "algorithm": "HS256"}, "algorithm"),
    (FACILITY, SIGNATURE, {**SIG, "certificate": {"pem": "x"}}, "certificate"),
    (FACILITY, SIGNATURE, {**SIG, "signer_id": ""}, "signer_id"),
    (FACILITY, SIGNATURE, {**SIG, "batch_id": "B2"}, "batch_id"),
    (CITIZEN, COMPLAINTS, {"fields": ["sex"]}, "record_id"),
    (CITIZEN, COMPLAINTS, {"record_id": ""}, "record_id"),
    (CITIZEN, COMPLAINTS, {"record_id": 1}, "record_id"),
    (CITIZEN, COMPLAINTS, {"record_id": "R1", "fields": ["citizen_id"]}, "fields[0]"),
    (CITIZEN, COMPLAINTS, {"record_id": "R1", "fields": "sex"}, "fields"),
    (CITIZEN, COMPLAINTS, {"record_id": "R1", "proposed": {"province_code": "079"}}, "proposed.province_code"),
    (CITIZEN, COMPLAINTS, {"record_id": "R1", "proposed": {"full_name": "x" * 201}}, "proposed.full_name"),
    (CITIZEN, COMPLAINTS, {"record_id": "R1", "fields": ["sex"], "text": "x" * 2001}, "text"),
    (CITIZEN, COMPLAINTS, {"record_id": "R1", "fields": ["sex"], "citizen_id": "001090999999"}, "citizen_id"),
    (FACILITY, STATUS, {}, "status"),
    (FACILITY, STATUS, {"status": "received"}, "status"),
    (FACILITY, STATUS, {"status": "rejected", "reason": 5}, "reason"),
    (FACILITY, STATUS, {"status": "resolved", "correction": {"citizen_id": "001090999999"}}, "correction.citizen_id"),
    (FACILITY, STATUS, {"status": "resolved", "apply_proposed": "yes"}, "apply_proposed"),
    (FACILITY, STATUS, {"status": "in_progress", "actor": "ministry"}, "actor"),
    (MINISTRY, REVOCATIONS, {"uvci": UVCI}, "reason"),
    (MINISTRY, REVOCATIONS, {"reason": "forged"}, "uvci"),
    (MINISTRY, REVOCATIONS, {"uvci": UVCI.lower(), "reason": "forged"}, "uvci"),
    (MINISTRY, REVOCATIONS, {"uvci": UVCI, "reason": "ok\u202eevil"}, "reason"),
    (MINISTRY, REVOCATIONS, {"uvci": UVCI, "reason": "forged", "citizen_id": "001090999999"}, "citizen_id"),
    (MINISTRY, LIFT, {}, "reason"),
    (MINISTRY, LIFT, {"reason": "   "}, "reason"),
    (MINISTRY, LIFT, {"reason": "verified", "uvci": UVCI}, "uvci"),
]


@pytest.mark.parametrize("principal, path, body, field", REFUSALS,
                         ids=[f"{p.split('/')[-1] or p}-{f}-{i}" for i, (_, p, _b, f) in enumerate(REFUSALS)])
def test_a_route_refuses_a_body_outside_its_contract_naming_the_field(client, issuer, principal, path, body, field):
    resp = post(client, issuer, principal, path, body)
    assert resp.status_code == 400, resp.body
    err = error(resp)
    assert err["code"] == "VALIDATION_ERROR" and err["details"] == {"field": field}, err


@pytest.mark.parametrize("principal, path", [(FACILITY, RECORDS), (FACILITY, CORRECTIONS), (FACILITY, NEW_BATCH),
                                             (FACILITY, SIGNATURE), (CITIZEN, COMPLAINTS), (FACILITY, STATUS),
                                             (MINISTRY, REVOCATIONS), (MINISTRY, LIFT)])
def test_a_body_that_is_not_json_is_a_clear_400_on_every_route(client, issuer, principal, path):
    for raw in (b'{"records": [', b"reason=forged", b'{"reason": "a", "reason": "b"}'):
        resp = post(client, issuer, principal, path, raw)
        assert resp.status_code == 400 and error(resp)["code"] == "INVALID_JSON", (path, raw, resp.body)


def test_attack_a_deeply_nested_submission_is_a_400_not_a_500(client, issuer):
    # Under the submission's 6 MB cap, a million nested arrays: Python's parser raises RecursionError.
    depth = 1_000_000
    raw = b'{"records": [' + b"[" * depth + b"]" * depth + b"]}"
    resp = post(client, issuer, FACILITY, RECORDS, raw)
    assert resp.status_code == 400 and error(resp)["code"] == "BODY_TOO_DEEP", resp.body[:300]
    resp = post(client, issuer, MINISTRY, REVOCATIONS, b"[" * 5000 + b"]" * 5000)
    assert resp.status_code == 400 and error(resp)["code"] == "BODY_TOO_DEEP", resp.body[:300]


def test_attack_an_oversized_body_is_a_413(client, issuer):
    record = {"record_id": "R", "full_name": "x" * 8000}
    resp = post(client, issuer, FACILITY, RECORDS, {"records": [record] * 800})  # 6.4 MB
    assert resp.status_code == 413 and error(resp)["code"] == "BODY_TOO_LARGE"
    resp = post(client, issuer, CITIZEN, COMPLAINTS, {"record_id": "R1", "text": "x" * 70_000})
    assert resp.status_code == 413 and error(resp)["code"] == "BODY_TOO_LARGE"


def test_attack_personal_data_in_a_refused_body_is_not_echoed(client, issuer):
    name, cid = "Nguyễn Văn An", "001090999999"
    for principal, path, body in [
            (CITIZEN, COMPLAINTS, {"record_id": "R1", "proposed": {"full_name": name * 20}}),
            (CITIZEN, COMPLAINTS, {"record_id": "R1", "proposed": {"dose_number": [cid]}}),
            (FACILITY, CORRECTIONS, {"changes": {"citizen_id": {"value": cid}}}),
            (FACILITY, CORRECTIONS, {"changes": {f"{cid} {name}": "1"}}),
            (FACILITY, RECORDS, {"records": [{"citizen_id": cid}, cid]}),
            (MINISTRY, REVOCATIONS, {"uvci": cid, "reason": name})]:
        resp = post(client, issuer, principal, path, body)
        assert resp.status_code == 400, resp.body
        text = json.dumps(json.loads(resp.body), ensure_ascii=False)
        assert cid not in text and "Nguyễn" not in text, text
