"""Whoever can read the tables and queues learns nobody's identity (issue 14 items 4-6).

A whole pipeline runs on LocalStack: a registry import, a province file through S3 intake and
cleaning, a facility head's signature, countersigning, a citizen reading their passport and filing
a complaint. Then every table is scanned and every queue peeked at (the countersign queue while
its chunks wait, every queue and DLQ afterwards), and a detector built from the people of the run
(their citizen ids, the words of their names with and without diacritics, their birth dates in the
formats records and blocking keys use) looks for any of them in clear: in a key, an index key or
an attribute that is not a sealed blob. A sealed blob is decoded and searched too, as bytes: only
its header (table, key pseudonyms, attribute name) is in clear.
"""
from __future__ import annotations

import base64
import csv
import json
import unicodedata
from datetime import date

import boto3
import pytest

from chalicelib.auth import dev_issuer
from tests.integration.helpers import drain_until
from tests.integration.test_countersign import make_verified_people, passport_versions, sign_a_batch

pytestmark = pytest.mark.integration

SEALED_ATTRIBUTES = ("sealed", "sealed_match")


def _fold(text: str) -> str:
    """Lower case without diacritics (Đ is a letter of its own: folded by hand)."""
    text = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(ch for ch in text if not unicodedata.combining(ch)).lower()


class Detector:
    """What would betray the people of the run in clear text."""

    def __init__(self, people: list[dict]) -> None:
        self.ids = {p["citizen_id"] for p in people}
        # Whole names, and family name with given name, as typed and folded (single words would
        # also find a ward called Phường or a facility head called Lan).
        self.names: set[str] = set()
        for p in people:
            words = unicodedata.normalize("NFC", p["full_name"]).lower().split()
            for name in (" ".join(words), f"{words[0]} {words[-1]}"):
                self.names |= {name, _fold(name)}
        self.dates: set[str] = set()
        for p in people:
            d = date.fromisoformat(p["date_of_birth"])
            self.dates |= {d.isoformat(), d.strftime("%Y%m%d"), d.strftime("%d/%m/%Y"), d.strftime("%d-%m-%Y"),
                           d.strftime("%m/%d/%Y"), d.strftime("%d.%m.%Y")}

    def in_text(self, text: str) -> list[str]:
        try:  # JSON with \u escapes spells a name in ASCII
            text += " " + json.dumps(json.loads(text), ensure_ascii=False)
        except ValueError:
            pass
        found = [i for i in self.ids if i in text] + [d for d in self.dates if d in text]
        folded = _fold(text)
        lowered = unicodedata.normalize("NFC", text).lower()
        found += [n for n in self.names if n in folded or n in lowered]
        return found

    def in_bytes(self, raw: bytes) -> list[str]:
        return [i for i in self.ids if i.encode() in raw] + [d for d in self.dates if d.encode() in raw]


def _strings(value) -> list[str]:
    """Every string inside a DynamoDB attribute value (sets, lists and maps included)."""
    (kind, v), = value.items()
    if kind in ("S", "N"):
        return [str(v)]
    if kind in ("SS", "NS"):
        return [str(x) for x in v]
    if kind == "L":
        return [s for x in v for s in _strings(x)]
    if kind == "M":
        return [s for k, x in v.items() for s in [k, *_strings(x)]]
    return []


def scan_tables(settings, detector: Detector) -> list[tuple]:
    from infra import spec

    ddb = boto3.client("dynamodb", endpoint_url=settings.endpoint_url, region_name=settings.region)
    leaks = []
    for table in spec.TABLES:
        for page in ddb.get_paginator("scan").paginate(TableName=settings.table(table.logical)):
            for item in page["Items"]:
                where = (table.logical, item.get("pk", item.get("id")))
                for name, value in item.items():
                    if name in SEALED_ATTRIBUTES:
                        found = detector.in_bytes(base64.b64decode(value["S"]))
                    else:
                        found = [f for s in [name, *_strings(value)] for f in detector.in_text(s)]
                    if found:
                        leaks.append((*where, name, sorted(set(found))[:3]))
    return leaks


def peek_queues(settings, detector: Detector, logicals=None) -> list[tuple]:
    """Reads the messages on each queue and DLQ without consuming them (visibility 0). One receive
    per queue: each counts towards the redrive limit, so peeking twice could move a message to
    its DLQ."""
    from chalicelib import resource_names as rn
    from infra import spec

    sqs = boto3.client("sqs", endpoint_url=settings.endpoint_url, region_name=settings.region)
    leaks = []
    for q in spec.QUEUES:
        if logicals is not None and q.logical not in logicals:
            continue
        for name in (rn.physical(settings.resource_prefix, q.logical), rn.dlq(settings.resource_prefix, q.logical)):
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                         WaitTimeSeconds=1).get("Messages", []):
                found = detector.in_text(m["Body"])
                if found:
                    leaks.append((name, sorted(set(found))[:3]))
    return leaks


@pytest.fixture(scope="module")
def run(stack, tmp_path_factory):
    # Seed 14: people of their own, so the detector names only this run's people.
    return make_verified_people(stack, tmp_path_factory, seed=14)


def test_attack_read_the_tables_and_queues_to_learn_who_was_vaccinated(stack, sqs, region, run, app_client,
                                                                      bearer):
    from app import app
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.local.event_runner import EventRunner

    settings, _ = stack
    people = list(csv.DictReader(open(run["dir"] / "registry.csv", encoding="utf-8", newline="")))
    detector = Detector(people)
    assert detector.in_text(f"x {people[0]['citizen_id']} y")  # the detector does see a clear id

    # Given a facility head's signature: its chunks wait on the countersign queue
    signed = sign_a_batch(settings, run, limit=40)
    assert signed
    queued = peek_queues(settings, detector, logicals={"countersign"})
    # When the pipeline finishes: passports issued, a citizen reads theirs and files a complaint
    runner = EventRunner(app, sqs, region=region, wait_time_s=0)
    cid = signed[0]
    drain_until(runner, lambda: all(passport_versions(settings, c) for c in signed))
    citizen = bearer(dev_issuer.citizen(cid))
    assert app_client.http.get("/v1/passports/me", headers=citizen).status_code == 200
    Record = Tables(settings).Record
    record = next(r for r in Record.scan(Record.facility_id == run["facility"])
                  if json.loads(r.data)["citizen_id"] == cid)
    body = json.dumps({"record_id": record.record_id, "proposed": {"lot_number": "LOT-X"},
                       "text": "Số lô trên phiếu tiêm của tôi sai"})
    filed = app_client.http.post("/v1/complaints", body=body,
                                 headers={"Content-Type": "application/json", "Idempotency-Key": "k1", **citizen})
    assert filed.status_code == 200, filed.body

    # Then no table and no queue holds any of them in clear
    leaks = scan_tables(settings, detector) + queued + peek_queues(settings, detector)
    for leak in leaks:
        print("LEAK", leak)
    assert not leaks, leaks[:20]


def test_attack_copy_one_citizens_passport_onto_another(stack, sqs, region, run, app_client, bearer):
    """A writer of the passports table (no KMS) copies everything but the key of citizen A's
    passport version onto citizen B's: B must not be served A's certificate, name and birth date."""
    from app import app
    from chalicelib.local.event_runner import EventRunner

    settings, _ = stack
    from chalicelib.signing.service import NothingToSign

    try:  # (signed already when the scan test ran first)
        signed = sign_a_batch(settings, run, limit=40)
    except NothingToSign:
        signed = []
    runner = EventRunner(app, sqs, region=region, wait_time_s=0)
    drain_until(runner, lambda: all(passport_versions(settings, c) for c in signed))
    people = list(csv.DictReader(open(run["dir"] / "registry.csv", encoding="utf-8", newline="")))
    holders = [p["citizen_id"] for p in people if passport_versions(settings, p["citizen_id"])]
    a, b = holders[:2]
    va, vb = passport_versions(settings, a)[0], passport_versions(settings, b)[0]
    ddb = boto3.client("dynamodb", endpoint_url=settings.endpoint_url, region_name=settings.region)
    table = settings.table("passports")
    item_a = ddb.get_item(TableName=table, Key={"pk": {"S": va.pk}, "sk": {"S": va.sk}}, ConsistentRead=True)["Item"]
    copied = {k: v for k, v in item_a.items() if k not in ("pk", "sk", "gsi1pk", "gsi1sk", "version")}
    names = {f"#a{i}": k for i, k in enumerate(copied)}
    ddb.update_item(TableName=table, Key={"pk": {"S": vb.pk}, "sk": {"S": vb.sk}},
                    UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(copied))),
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={f":v{i}": v for i, v in enumerate(copied.values())})

    resp = app_client.http.get("/v1/passports/me", headers=bearer(dev_issuer.citizen(b)))
    assert resp.status_code != 200 and va.hc1 not in resp.body.decode(), resp.status_code
    assert a not in resp.body.decode()


def test_attack_sealed_part_of_a_countersign_message_moved_to_another_chunk(stack):
    """A sender on the countersign queue reuses a genuine chunk's sealed entries under another
    batch or chunk, or beside other entries: the worker's queue refuses to open them."""
    from chalicelib import errors
    from chalicelib.wiring import Container

    settings, _ = stack
    queue = Container(settings).countersign_queue
    body = queue._sealed({"kind": "facility-attested", "batch_id": "SB1", "chunk": 0, "chunks": 1,
                          "attestation": {}, "entries": [{"citizen_id": "001090012345", "index": 0}]})
    assert "001090012345" not in json.dumps(body)
    assert queue.open(body)["entries"] == [{"citizen_id": "001090012345", "index": 0}]
    other = dict(body, entries=[{"index": 0, "citizen": queue._pseudonyms.pseudonym("001090099999")}])
    for forged in (dict(body, batch_id="SB2"), dict(body, chunk=1), other):
        with pytest.raises(errors.ValidationError):
            queue.open(forged)


def test_attack_read_the_api_idempotency_keys_to_learn_who_called(stack, app_client, bearer):
    """An API idempotency item's key is a keyed hash of the caller and the Idempotency-Key the
    client chose (which may carry anything), and the call is still answered once."""
    import uuid

    from chalicelib.auth.principal import Role
    from tests.integration.helpers import register_facilities

    settings, _ = stack
    facility, chosen = f"FI{uuid.uuid4().hex[:8]}", f"client-chosen-{uuid.uuid4().hex}"
    register_facilities(settings, (facility, "001"))
    headers = {"Content-Type": "application/json", "Idempotency-Key": chosen,
               **bearer(dev_issuer.staff(Role.FACILITY, facility_id=facility, province_code="001"))}
    record = {"record_id": "K1", "facility_id": facility, "citizen_id": "001090123457",
              "full_name": "Trần Thị Bình", "date_of_birth": "1991-02-03", "sex": "F", "phone": "0912345670",
              "province_code": "001", "vaccine_product": "AstraZeneca", "lot_number": "AZ1", "dose_number": "1",
              "vaccination_date": "2021-08-20"}
    body = json.dumps({"records": [record]}).encode()
    first = app_client.http.post("/v1/vaccination-records", headers=headers, body=body)
    again = app_client.http.post("/v1/vaccination-records", headers=headers, body=body)
    assert first.status_code == again.status_code == 200
    assert json.loads(again.body)["replayed"] is True
    assert json.loads(again.body)["batch_id"] == json.loads(first.body)["batch_id"]

    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=settings.table("batches"),
                                                                    ProjectionExpression="pk")
    keys = [i["pk"]["S"] for page in pages for i in page["Items"] if i["pk"]["S"].startswith("IDEMP#")]
    assert keys and not [k for k in keys if chosen in k or facility in k]
