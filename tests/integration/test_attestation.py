"""The passport rests on the facility's attestation, on LocalStack: records go in through the HTTP
routes, are verified by the cleaning worker, signed by facility heads through the signing routes,
and countersigned by the real handler through the countersign queue and the local event runner.

- only doses a facility head signed make the passport (an unsigned dose of another facility never
  does; once attested, the passport is re-issued with it and the old UVCI revoked);
- a countersign message is checked against the audit log: forged ones issue nothing, are dead-
  lettered with their reason, counted, and kept as security events without personal data;
- a person refused at countersigning is released, listed by `reports reconcile` while stranded,
  and offered again in the facility's next signing batch.
"""
from __future__ import annotations

import base64
import json
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from chalicelib.auth import dev_issuer
from chalicelib.auth.principal import Role
from chalicelib.cli import main as cli
from tests.integration.helpers import cli_json_lines, drain_queue, drain_until

pytestmark = pytest.mark.integration

PROVINCE = "001"


@pytest.fixture(scope="module")
def world(stack, tmp_path_factory):
    """The ministry's DSC for the KMS key, a government CA, and a maker of registered facilities
    (province 001) with their heads' signing keys and people in the population registry."""
    import secrets

    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.cleaning.registry_dynamo import DynamoRegistry
    from chalicelib.intake.records import RegistryPerson
    from chalicelib.signing import facility_pki as pki
    from chalicelib.synth.generator import Generator
    from chalicelib.wiring import Container, set_container

    settings, _ = stack
    out = tmp_path_factory.mktemp("attest")
    now = datetime.now(timezone.utc)
    c = Container(settings)
    set_container(c)
    try:
        assert cli(["keys", "provision-kms", "--dir", str(out / "pki")]) == 0
    finally:
        set_container(None)
    ca_key = pki.generate_key()
    ca = pki.issue_government_ca(ca_key, now=now - timedelta(days=1), valid_days=30, random_bytes=secrets.token_bytes)
    c.facilities.register_ca(pki.pem(ca), now=now)
    generator = Generator(uuid.uuid4().int % 10**9)
    registry = DynamoRegistry(Tables(settings))

    def facility():
        fid = f"AT{uuid.uuid4().hex[:8]}"
        key = pki.generate_key()
        cert = pki.issue_signer_certificate(key.public_key(), ca_cert=ca, ca_key=ca_key, subject_id=fid, name=fid,
                                            now=now - timedelta(hours=1), valid_days=30,
                                            random_bytes=secrets.token_bytes, province=PROVINCE)
        c.facilities.register_facility(facility_id=fid, name=f"TYT {fid}", province=PROVINCE, head="BS. Test",
                                       certificate_pem=pki.pem(cert), now=now)
        return {"id": fid, "key": key, "cert": pki.pem(cert)}

    def people(n):
        found = generator.people(n)
        registry.import_people(RegistryPerson(p.citizen_id, p.full_name, p.date_of_birth, p.sex, p.province_code)
                               for p in found)
        return found

    return {"settings": settings, "tables": Tables(settings), "facility": facility, "people": people,
            "registry": registry}


def record(facility_id: str, person, record_id: str, dose: int, when: date) -> dict:
    return {"record_id": record_id, "facility_id": facility_id, "citizen_id": person.citizen_id,
            "full_name": person.full_name, "date_of_birth": person.date_of_birth.isoformat(), "sex": person.sex,
            "phone": "0912345678", "province_code": PROVINCE, "vaccine_product": "EU/1/21/1529",
            "lot_number": f"L{dose}", "dose_number": str(dose), "vaccination_date": when.isoformat()}


def staff(bearer, facility):
    return {"Content-Type": "application/json",
            **bearer(dev_issuer.staff(Role.FACILITY, facility_id=facility["id"], province_code=PROVINCE))}


def submit_verified(app_client, runner, bearer, world, facility, records: list[dict]) -> None:
    """The facility sends its records over the API; the cleaning worker verifies them."""
    resp = app_client.http.post("/v1/vaccination-records", body=json.dumps({"records": records}),
                                headers={**staff(bearer, facility), "Idempotency-Key": uuid.uuid4().hex})
    assert resp.status_code == 200 and json.loads(resp.body)["accepted"] == len(records), resp.body
    Record = world["tables"].Record
    from chalicelib.adapters.dynamo import record_pk

    def states():
        return [Record.get(record_pk(facility["id"], r["record_id"]), "REC", consistent_read=True).state
                for r in records]
    drain_until(runner, lambda: all(s in ("VERIFIED", "VERIFIED_NORMALIZED") for s in states()))


def open_batch(app_client, bearer, facility, status: int = 200) -> dict:
    resp = app_client.http.post(f"/v1/facilities/{facility['id']}/signing-batches", body=b"{}",
                                headers=staff(bearer, facility))
    assert resp.status_code == status, resp.body
    return json.loads(resp.body)


def sign(app_client, bearer, facility, manifest: dict) -> dict:
    """The facility head signs the manifest offline and submits the signature."""
    from chalicelib.signing import facility_pki as pki
    from chalicelib.signing.manifest import manifest_message

    signature, alg = pki.sign(facility["key"], manifest_message(manifest))
    resp = app_client.http.post(f"/v1/signing-batches/{manifest['batch_id']}/signature",
                                headers=staff(bearer, facility),
                                body=json.dumps({"signature": base64.b64encode(signature).decode(), "algorithm": alg,
                                                 "certificate": facility["cert"]}))
    assert resp.status_code == 200, resp.body
    return json.loads(resp.body)


def passport(app_client, bearer, person):
    resp = app_client.http.get("/v1/passports/me", headers=bearer(dev_issuer.citizen(person.citizen_id)))
    return json.loads(resp.body) if resp.status_code == 200 else None


def counter(world, pk: str, name: str) -> int:
    from chalicelib.adapters.counters import DynamoCounters

    # NATIONAL and PROV# are write-sharded: the adapter sums the shards.
    return DynamoCounters(world["tables"]).totals([pk]).get(pk, {}).get(name, 0)


# -- 1. the DCC only from attested doses ----------------------------------------------------------
def test_attack_unattested_dose_of_another_facility_is_not_on_the_passport(app_client, runner, bearer, world):
    from chalicelib.dcc import verify_hc1
    from chalicelib.wiring import container
    from tests.integration.helpers import published_revocations
    from chalicelib.dcc.trust import trust_store_from_document

    # Given dose 1 at facility A and dose 3 at facility B, both verified
    fa, fb = world["facility"](), world["facility"]()
    [person] = world["people"](1)
    submit_verified(app_client, runner, bearer, world, fa, [record(fa["id"], person, "D1", 1, date(2021, 8, 1))])
    submit_verified(app_client, runner, bearer, world, fb, [record(fb["id"], person, "D3", 3, date(2022, 3, 1))])

    # When only facility A's head signs, and the ministry countersigns
    first_batch = open_batch(app_client, bearer, fa)
    assert [len(e["doses"]) for e in first_batch["entries"]] == [1]
    sign(app_client, bearer, fa, first_batch)
    drain_until(runner, lambda: passport(app_client, bearer, person) is not None)

    # Then the passport shows dose 1, the attested one; B's unsigned dose 3 is not on it
    first = passport(app_client, bearer, person)
    assert (first["display"]["dose"], first["display"]["vaccination_date"]) == (1, "2021-08-01")
    assert first["display"]["doses_on_record"] == 1 and first["version"] == 1

    # When facility B's head attests dose 3 later
    sign(app_client, bearer, fb, open_batch(app_client, bearer, fb))
    drain_until(runner, lambda: (passport(app_client, bearer, person) or {}).get("version") == 2)

    # Then version 2 carries dose 3, and version 1's UVCI is on the revocation list
    second = passport(app_client, bearer, person)
    assert (second["display"]["dose"], second["display"]["vaccination_date"]) == (3, "2022-03-01")
    assert second["uvci"] != first["uvci"] and second["display"]["doses_on_record"] == 2
    revoked = published_revocations(container(), app_client)
    trust = trust_store_from_document(json.loads(app_client.http.get("/v1/trust-list").body))
    at = datetime.now(timezone.utc)
    old = verify_hc1(first["hc1"], trust, now=at, revocation=revoked)
    assert not old.valid and "REVOKED" in old.errors
    assert verify_hc1(second["hc1"], trust, now=at, revocation=revoked).valid


# -- 2. the worker trusts nothing in the message it can check -------------------------------------
def test_attack_forged_countersign_messages_issue_nothing(app_client, runner, bearer, world, sqs, stack):
    from chalicelib.signing.manifest import MerkleTree, entry_digest
    from chalicelib.wiring import container

    _, created = stack
    queue = created.queues["countersign"]
    fa, fb = world["facility"](), world["facility"]()
    signed, unsigned, other = world["people"](3)
    submit_verified(app_client, runner, bearer, world, fa, [record(fa["id"], signed, "S1", 1, date(2021, 9, 1))])
    # Given two real attestations whose messages are held back (taken off the queue): X of facility A
    drain_queue(sqs, queue)
    x = open_batch(app_client, bearer, fa)
    sign(app_client, bearer, fa, x)
    # (opened as the worker reads them: the forger here knows the people, as an insider would)
    genuine_x = [container().countersign_queue.open(m) for m in drain_queue(sqs, queue)]
    # and Y of facility B, for another person
    submit_verified(app_client, runner, bearer, world, fb, [record(fb["id"], other, "O1", 1, date(2021, 9, 2))])
    sign(app_client, bearer, fb, open_batch(app_client, bearer, fb))
    genuine_y = [container().countersign_queue.open(m) for m in drain_queue(sqs, queue)]
    assert len(genuine_x) == len(genuine_y) == 1
    # and a verified person whom no facility head signed
    submit_verified(app_client, runner, bearer, world, fa, [record(fa["id"], unsigned, "U1", 2, date(2021, 10, 1))])

    # A self-consistent forged tree of two entries, the first for that person naming no record
    # (the worker on main issued such a person a passport from their unsigned doses)
    no_doses = {"citizen_id": unsigned.citizen_id, "doses": []}
    filler = {"citizen_id": other.citizen_id, "doses": []}
    tree = MerkleTree([bytes.fromhex(entry_digest(no_doses)), bytes.fromhex(entry_digest(filler))])
    no_doses.update(entry_digest=entry_digest(no_doses), index=0, proof=[p.hex() for p in tree.proof(0)])
    forged_root = tree.root.hex()
    real = genuine_x[0]

    def message(attestation=None, **changes):
        m = json.loads(json.dumps(real))
        m["attestation"].update(attestation or {})
        m.update(changes)
        return m

    forged = {
        "made-up batch": message(batch_id=f"SB{uuid.uuid4().hex[:16]}", entries=[no_doses],
                                 attestation={"merkle_root": forged_root, "count": 2}),
        "real batch, another root and count": message(entries=[no_doses],
                                                      attestation={"merkle_root": forged_root, "count": 2}),
        "real batch, another facility": message(attestation={"facility_id": fb["id"]},
                                                entries=real["entries"] + [no_doses]),
        "real batch, entries of another batch": message(entries=genuine_y[0]["entries"]),
    }
    national_before = counter(world, "NATIONAL", "countersign_chunks_refused")

    # When each forged message is sent to the real countersign queue and the handler runs
    for body in forged.values():
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(body))
    runner.drain(idle_rounds=2, max_seconds=30)

    # Then nobody got a passport from them
    for person in (signed, unsigned, other):
        assert passport(app_client, bearer, person) is None
    # the three chunks whose attestation is absent or differs are dead-lettered with the reason
    dead = [m for m in container().dead_letters.peek("countersign", 100) if json.loads(m["body"]) in forged.values()]
    reasons = sorted(m["error_message"] for m in dead)
    assert len(dead) == 3 and {m["error_code"] for m in dead} == {"COUNTERSIGN_CHUNK_REFUSED"}, reasons
    assert any("ATTESTATION_NOT_FOUND" in r for r in reasons)
    assert any("ATTESTATION_MISMATCH (merkle_root, count)" in r for r in reasons)
    assert any("ATTESTATION_MISMATCH (facility_id)" in r for r in reasons)
    # counted once per refused chunk: nationally, and on the facility the audit log names (never on
    # the facility a message claims)
    assert counter(world, "NATIONAL", "countersign_chunks_refused") == national_before + 3
    assert counter(world, f"FAC#{fa['id']}", "countersign_chunks_refused") == 2
    assert counter(world, f"FAC#{fb['id']}", "countersign_chunks_refused") == 0
    # Y's entries failed the inclusion proof against X's root: counted and kept for inspection
    assert counter(world, f"FAC#{fa['id']}", "countersign_entries_not_attested") == 1
    code, events = cli_json_lines("audit", "events", "--max", "500")
    assert code == 0
    mine = [e for e in events if e.get("batch_id") in (real["batch_id"], forged["made-up batch"]["batch_id"])]
    assert sorted(e["event"] for e in mine) == ["countersign_chunk_refused"] * 3 + ["countersign_entries_not_attested"]
    kept = json.dumps(mine, ensure_ascii=False)
    assert all(p.citizen_id not in kept and p.full_name not in kept for p in (signed, unsigned, other))
    assert [fb["id"], "O1", 1] in next(e for e in mine if e["event"] == "countersign_entries_not_attested")[
        "entries"][0]["records"]

    # When the genuine messages are delivered, they issue as before
    for body in genuine_x + genuine_y:
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(body))
    drain_until(runner, lambda: all(passport(app_client, bearer, p) for p in (signed, other)))
    assert passport(app_client, bearer, unsigned) is None


# -- 4. nobody is stranded ----------------------------------------------------------------------------
def test_stranded_refused_person_is_released_listed_and_offered_again(app_client, runner, bearer, world):
    from chalicelib.adapters.dynamo import record_pk
    from chalicelib.intake.records import RegistryPerson
    from chalicelib.wiring import container

    # Given two verified people of a facility, one of whom then leaves the population registry
    fc = world["facility"]()
    kept, refused = sorted(world["people"](2), key=lambda p: p.citizen_id)
    submit_verified(app_client, runner, bearer, world, fc, [record(fc["id"], kept, "K1", 1, date(2021, 9, 1)),
                                                            record(fc["id"], refused, "X1", 1, date(2021, 9, 1))])
    tables = world["tables"]
    tables.Person(tables.person_pk(refused.citizen_id), "P").delete()

    # When the facility head signs both and the ministry countersigns
    first = open_batch(app_client, bearer, fc)
    sign(app_client, bearer, fc, first)
    drain_until(runner, lambda: passport(app_client, bearer, kept) is not None)
    runner.drain(idle_rounds=2, max_seconds=20)

    # Then the refused person has no passport, the chunk is in the DLQ with the reason
    assert passport(app_client, bearer, refused) is None
    dead = [m for m in container().dead_letters.peek("countersign", 100)
            if json.loads(m["body"]).get("batch_id") == first["batch_id"]]
    assert dead and "NOT_FOUND" in dead[0]["error_message"] and refused.citizen_id not in dead[0]["error_message"]
    # and their claim is released: the record is neither held by nor signed in that batch
    item = tables.Record.get(record_pk(fc["id"], "X1"), "REC", consistent_read=True)
    assert (item.signed_batch, item.signing_batch) == (None, None)
    # and reconcile lists them as stranded (by batch and entry, never by citizen id)
    code, lines = cli_json_lines("reports", "reconcile")
    stranded = [x for x in lines if x.get("kind") == "stranded" and x["batch_id"] == first["batch_id"]]
    index = [e["citizen_id"] for e in first["entries"]].index(refused.citizen_id)
    assert code == 1 and stranded == [{"kind": "stranded", "batch_id": first["batch_id"], "chunk": 0,
                                       "entry_index": index, "facility_id": fc["id"],
                                       "chunk_status": "DEAD_LETTERED", "refused": True, "released": None}]
    assert refused.citizen_id not in json.dumps(lines)

    # When the facility opens its next signing batch, the refused person is offered again (alone)
    second = open_batch(app_client, bearer, fc)
    assert [e["citizen_id"] for e in second["entries"]] == [refused.citizen_id]
    # and once the registry has them again and the head signs, they get their passport
    world["registry"].import_people([RegistryPerson(refused.citizen_id, refused.full_name, refused.date_of_birth,
                                                    refused.sex, refused.province_code)])
    sign(app_client, bearer, fc, second)
    drain_until(runner, lambda: passport(app_client, bearer, refused) is not None)
    _, lines = cli_json_lines("reports", "reconcile")
    assert not [x for x in lines if x.get("kind") == "stranded"
                and x["batch_id"] in (first["batch_id"], second["batch_id"])]


def test_a_person_whose_message_was_lost_is_listed_and_fix_releases_them(app_client, runner, bearer, world, sqs, stack):
    """The worker claimed the person's records, then their message ran out of retries and its DLQ
    copy expired: nothing pending will issue them. Reconcile lists them; --fix releases the claim,
    and the next signing batch offers them again."""
    from chalicelib.adapters.signing.records import DynamoSigningRecords
    from chalicelib.wiring import container

    _, created = stack
    fd = world["facility"]()
    [person] = world["people"](1)
    submit_verified(app_client, runner, bearer, world, fd, [record(fd["id"], person, "L1", 1, date(2021, 9, 1))])
    drain_queue(sqs, created.queues["countersign"])
    batch = open_batch(app_client, bearer, fd)
    sign(app_client, bearer, fd, batch)
    assert drain_queue(sqs, created.queues["countersign"])  # the message is lost
    # the worker's first step (it claims the records), before it failed for good
    DynamoSigningRecords(world["tables"]).mark_signed(batch["batch_id"], [(fd["id"], "L1")], datetime.now(timezone.utc))
    open_batch(app_client, bearer, fd, status=409)  # claimed: never offered again by itself

    reconciler = container().reconciler
    assert not [s for s in reconciler.stranded(datetime.now(timezone.utc)) if s.batch_id == batch["batch_id"]]
    later = datetime.now(timezone.utc) + timedelta(days=19)  # past any message's lifetime
    [listed] = [s for s in reconciler.stranded(later) if s.batch_id == batch["batch_id"]]
    assert (listed.chunk_status, listed.refused, listed.released) == ("QUEUED", False, None)
    [fixed] = [s for s in reconciler.stranded(later, fix=True) if s.batch_id == batch["batch_id"]]
    assert fixed.released == 1
    assert [e["citizen_id"] for e in open_batch(app_client, bearer, fd)["entries"]] == [person.citizen_id]


def test_attestations_countersigned_out_of_order_leave_nobody_stranded(app_client, runner, bearer, world, sqs,
                                                                        stack):
    """Found by the chaos test (test_chaos.py): SQS does not keep order, and a crashed message comes
    back after its visibility timeout, so a later attestation can be countersigned first. The
    passport then issued for the earlier one reads every attested dose, the later batch's too, and
    must count as resting on both: listed as stranded, `--fix` would release a claim on a dose the
    passport shows."""
    from chalicelib.wiring import container

    _, created = stack
    # Given dose 1 at facility A and dose 2 at facility B, both verified
    fa, fb = world["facility"](), world["facility"]()
    [person] = world["people"](1)
    submit_verified(app_client, runner, bearer, world, fa, [record(fa["id"], person, "O1", 1, date(2021, 8, 1))])
    submit_verified(app_client, runner, bearer, world, fb, [record(fb["id"], person, "O2", 2, date(2021, 9, 1))])
    drain_queue(sqs, created.queues["countersign"])
    # and both heads sign, A first (the earlier audit-log sequence)
    batch_a, batch_b = open_batch(app_client, bearer, fa), open_batch(app_client, bearer, fb)
    sign(app_client, bearer, fa, batch_a)
    message_a = drain_queue(sqs, created.queues["countersign"])
    sign(app_client, bearer, fb, batch_b)
    message_b = drain_queue(sqs, created.queues["countersign"])
    assert len(message_a) == len(message_b) == 1

    # When B's attestation is countersigned first, then A's
    for message, version in ((message_b[0], 1), (message_a[0], 2)):
        sqs.send_message(QueueUrl=created.queues["countersign"], MessageBody=json.dumps(message))
        drain_until(runner, lambda v=version: (passport(app_client, bearer, person) or {}).get("version") == v)
    runner.drain(idle_rounds=1, max_seconds=10)

    # Then version 2 shows both doses, and reconcile finds nobody stranded, even once every
    # message's lifetime has passed
    assert passport(app_client, bearer, person)["display"]["doses_on_record"] == 2
    later = datetime.now(timezone.utc) + timedelta(days=19)
    assert not [s for s in container().reconciler.stranded(later)
                if s.batch_id in (batch_a["batch_id"], batch_b["batch_id"])]
