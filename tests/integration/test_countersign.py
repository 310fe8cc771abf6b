"""Countersigning on LocalStack: verified people -> KMS-signed passports through the countersign
queue and the local event runner, with duplicate deliveries, a crash half way, KMS throttling and
a poison message; no passport missing, none issued twice for the same version."""
from __future__ import annotations

import csv
import io
import json
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.cli import main as cli
from tests.integration.helpers import crash_once_after, register_facilities

pytestmark = pytest.mark.integration


def run_cli(*args):
    import contextlib

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(list(args))
    return code, out.getvalue()


@pytest.fixture(scope="module")
def verified_people(stack, tmp_path_factory):
    """A small clean synthetic population uploaded, cleaned and verified; DSCs provisioned; a
    facility with its signing certificate registered under a dev government CA."""
    return make_verified_people(stack, tmp_path_factory, seed=5)


def make_verified_people(stack, tmp_path_factory, *, seed: int):
    """verified_people for other modules: a different seed gives other people, so passports
    issued there do not change the ones this module counts."""
    from app import app
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.cleaning.registry_dynamo import DynamoRegistry
    from chalicelib.cleaning.registry import read_registry_csv
    from chalicelib.local.event_runner import EventRunner
    from chalicelib.wiring import Container, set_container

    settings, _ = stack
    out = tmp_path_factory.mktemp("cs")
    assert cli(["synth", "--people", "40", "--records", "40", "--error-rate", "0", "--absent-rate", "0",
                "--seed", str(seed), "--facility-province", "001", "--out", str(out)]) == 0
    facility = f"CS{out.name[-6:].replace('_', '')}"
    rows = list(csv.DictReader(open(out / "records.csv", encoding="utf-8", newline="")))
    for r in rows:
        r["facility_id"] = facility
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    set_container(Container(settings))
    try:
        tables = Tables(settings)
        with open(out / "registry.csv", encoding="utf-8", newline="") as f:
            DynamoRegistry(tables).import_people(read_registry_csv(f))
        register_facilities(settings, (facility, "001"))
        s3 = boto3.client("s3", endpoint_url=settings.endpoint_url, region_name=settings.region)
        s3.put_object(Bucket=settings.bucket("intake"), Key=f"incoming/001/{facility}.csv",
                      Body=buf.getvalue().encode())
        runner = EventRunner(app, boto3.client("sqs", endpoint_url=settings.endpoint_url,
                                               region_name=settings.region), region=settings.region)
        deadline = time.monotonic() + 60
        Record = tables.Record
        while time.monotonic() < deadline:
            runner.drain(idle_rounds=1, max_seconds=20)
            states = [r.state for r in Record.scan(Record.facility_id == facility)]
            if len(states) == len(rows) and "PENDING" not in states:
                break
        assert cli(["keys", "provision-kms", "--dir", str(out / "pki")]) == 0
        assert run_cli("facility", "ca", "init", "--out", str(out / "ca"))[0] == 0
        assert run_cli("facility", "ca", "register", "--cert", str(out / "ca" / "ca.pem"))[0] == 0
        assert run_cli("facility", "cert", "--ca-dir", str(out / "ca"), "--facility-id", facility,
                       "--province", "001", "--out", str(out / "keys"))[0] == 0
        assert run_cli("facility", "register", "--facility-id", facility, "--name", "TYT Phường Test",
                       "--province", "001", "--head", "BS. Lan", "--cert",
                       str(out / "keys" / f"{facility}.pem"))[0] == 0
        return {"facility": facility, "dir": out}
    finally:
        set_container(None)


def sign_a_batch(settings, verified_people, limit):
    """The facility requests a manifest, signs it offline with the CLI and submits the signature:
    the countersign queue receives the attested chunks."""
    from datetime import datetime, timezone

    from chalicelib.wiring import Container, container, set_container

    out, facility = verified_people["dir"], verified_people["facility"]
    set_container(Container(settings))
    try:
        manifest = container().signing.create_batch(facility, limit=limit, now=datetime.now(timezone.utc))
        path = out / f"{manifest['batch_id']}.json"
        path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
        assert run_cli("facility", "sign", "--key", str(out / "keys" / f"{facility}.key.pem"), "--batch", str(path),
                       "--out", str(path) + ".sig")[0] == 0
        sig = json.loads((out / f"{manifest['batch_id']}.json.sig").read_text())
        container().signing.submit_signature(sig["batch_id"], signature_b64=sig["signature"],
                                             algorithm=sig["algorithm"], signer_id=sig["signer_id"],
                                             certificate_pem=sig["certificate"], now=datetime.now(timezone.utc))
        return [e["citizen_id"] for e in manifest["entries"]]
    finally:
        set_container(None)


def send(sqs, url, body):
    sqs.send_message(QueueUrl=url, MessageBody=body)


def passport_versions(settings, cid):
    from chalicelib.adapters.issuance.passports import DynamoPassportStore
    from chalicelib.adapters.dynamo import Tables

    tables = Tables(settings)
    Item = DynamoPassportStore(tables).Item
    return [i for i in Item.query(tables.person_pk(cid)) if i.sk.startswith("V#")]


def test_faults_leave_no_passport_missing_and_none_issued_twice(stack, sqs, verified_people, region, app_client,
                                                                 bearer):
    from app import app
    from chalicelib.local.event_runner import EventRunner
    from chalicelib.wiring import Container, set_container

    settings, created = stack
    from tests.integration.helpers import drain_queue

    drain_queue(sqs, created.queues["countersign"])
    people = sign_a_batch(settings, verified_people, limit=12)
    assert len(people) == 12
    from chalicelib.adapters.dynamo import Tables

    signed = Tables(settings).Counter.get(f"FAC#{verified_people['facility']}", "TOTAL")
    assert int(signed.signed_by_facility) == 12  # counted once, when the head's signature is accepted
    attested = drain_queue(sqs, created.queues["countersign"])
    assert attested and all(m["kind"] == "facility-attested" for m in attested)

    # Real adapters; KMS throttles the first 3 signatures, the store crashes once after 2 saves.
    from chalicelib.adapters.issuance.key_ring import KmsKeyRing
    from chalicelib.adapters.issuance.passports import DynamoPassportStore

    real = Container(settings)
    kms = real.client("kms", botocore_retries=False)
    throttles = {"left": 3}

    class ThrottlingKms:
        def __getattr__(self, name):
            return getattr(kms, name)

        def sign(self, **kw):
            if throttles["left"] > 0:
                throttles["left"] -= 1
                raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "Sign")
            return kms.sign(**kw)

    store = DynamoPassportStore(Tables(settings))
    crash = crash_once_after(store, "save_many", 1)  # the chunk stored, then the worker dies
    set_container(Container(settings, passports=store,
                            key_ring=KmsKeyRing(real.dscs, ThrottlingKms(), settings.dsc_algorithm)))
    try:
        for m in attested + attested[:1]:  # every chunk, and the first one delivered twice
            send(sqs, created.queues["countersign"], json.dumps(m))
        runner = EventRunner(app, sqs, region=region)
        # the crashed message comes back after the queue's visibility timeout; shorten it for the test
        sqs.set_queue_attributes(QueueUrl=created.queues["countersign"], Attributes={"VisibilityTimeout": "2"})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runner.drain(idle_rounds=2, max_seconds=10)
            if all(passport_versions(settings, cid) for cid in people):
                break
            time.sleep(1)
    finally:
        sqs.set_queue_attributes(QueueUrl=created.queues["countersign"], Attributes={"VisibilityTimeout": "360"})
        set_container(None)

    assert crash["crashed"] and throttles["left"] == 0
    for cid in people:
        versions = passport_versions(settings, cid)
        assert [int(v.version) for v in versions] == [1], cid  # present, and exactly once

    # every passport verifies against the published trust list
    from chalicelib.dcc import verify_hc1
    from chalicelib.dcc.trust import trust_store_from_document
    from datetime import datetime, timezone

    trust = trust_store_from_document(json.loads(app_client.http.get("/v1/trust-list").body))
    for cid in people:
        result = verify_hc1(passport_versions(settings, cid)[0].hc1, trust, now=datetime.now(timezone.utc))
        assert result.valid, (cid, result.errors)

    # and the citizen's app shows it: passport JSON and a QR image that decodes to the same HC1
    import zxingcpp
    from PIL import Image

    from chalicelib.auth import dev_issuer

    cid = people[0]
    me = bearer(dev_issuer.citizen(cid))
    passport = json.loads(app_client.http.get("/v1/passports/me", headers=me).body)
    assert passport["hc1"] == passport_versions(settings, cid)[0].hc1 and passport["status"] == "VALID"
    assert passport["display"]["labels"]["vi"]["vaccine"] == "Vắc xin"
    png = app_client.http.get("/v1/passports/me/qr.png", headers={**me, "Accept": "image/png"})
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    assert zxingcpp.read_barcodes(Image.open(io.BytesIO(png.body)))[0].text == passport["hc1"]
    svg = app_client.http.get("/v1/passports/me/qr.svg", headers=me)
    assert svg.status_code == 200 and b"<svg" in svg.body[:200]
    # another citizen has none, and never sees this one
    other = app_client.http.get("/v1/passports/me", headers=bearer(dev_issuer.citizen("001099999999")))
    assert other.status_code == 404


def test_a_poison_message_goes_to_the_dlq_with_its_reason_and_replays(stack, sqs, region, verified_people):
    from app import app
    from chalicelib.local.event_runner import EventRunner
    from chalicelib.wiring import Container, set_container

    settings, created = stack
    body = json.dumps({"batch_id": "sb-poison", "kind": "facility-attested"})  # no attestation at all
    send(sqs, created.queues["countersign"], body)
    set_container(Container(settings))
    try:
        EventRunner(app, sqs, region=region).drain(idle_rounds=1, max_seconds=20)
        import contextlib
        import io as _io

        out = _io.StringIO()
        with contextlib.redirect_stdout(out):
            assert cli(["dlq", "list", "countersign"]) == 0
        listed = [json.loads(line) for line in out.getvalue().splitlines()]
        poison = [m for m in listed if json.loads(m["body"])["batch_id"] == "sb-poison"]
        assert poison and poison[0]["error_code"] == "COUNTERSIGN_CHUNK_REFUSED"
        assert cli(["dlq", "replay", "countersign"]) == 0
        bodies = [json.loads(m["Body"])["batch_id"] for m in
                  sqs.receive_message(QueueUrl=created.queues["countersign"], MaxNumberOfMessages=10,
                                      WaitTimeSeconds=1).get("Messages", [])]
        assert "sb-poison" in bodies
    finally:
        set_container(None)
