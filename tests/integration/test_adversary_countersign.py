"""Attacks by an insider who can write the DynamoDB tables and send to the countersign queue, but
holds no KMS key: through the real handler, event runner and CLI on LocalStack.

On main the worker took an attestation from the audit log if its hash linked to its predecessor.
Whoever can write the signing table can rewrite an attested entry (another Merkle root and count)
and recompute its hash: it still links. With the records table too (reserving a person's record
for the batch), a forged message then issued passports nobody signed; `audit verify` saw it only
afterwards. The worker now also asks the audit anchor: the KMS-signed checkpoint of the entry's
sequence must name the entry's hash.

The anchor proves the log, not the passport store: someone able to write the passports table
could put a revoked passport back in force and `audit verify` still answered that all was well.
It now also checks that every logged revocation is in effect.

A facility could take a dose back from a passport (corrected to another citizen) and undo a
ministry revocation (a trivial correction signed again); both are closed now (a re-evaluation of
the person the dose moved away from; a hold until the ministry lifts it).
"""
from __future__ import annotations

import base64
import json
import uuid
from datetime import date

import pytest

from chalicelib.auth import dev_issuer
from chalicelib.auth.principal import Role
from tests.integration.helpers import drain_queue, drain_until
from tests.integration.test_audit_anchor import chain  # noqa: F401
from tests.integration.test_attestation import (open_batch, passport, record, sign, staff,  # noqa: F401
                                                submit_verified, world)

pytestmark = pytest.mark.integration


def test_attack_rewritten_attestation_with_its_hash_recomputed_issues_nothing(app_client, runner, bearer, world,
                                                                              sqs, stack):
    from chalicelib.adapters.dynamo import record_pk
    from chalicelib.adapters.signing.tables import SigningTables
    from chalicelib.signing.audit import chain_hash
    from chalicelib.signing.manifest import DoseRecord, MerkleTree, entry_body, entry_digest
    from chalicelib.wiring import container

    _, created = stack
    queue = created.queues["countersign"]
    fa = world["facility"]()
    signed, unsigned = world["people"](2)
    submit_verified(app_client, runner, bearer, world, fa, [record(fa["id"], signed, "S1", 1, date(2021, 9, 1))])
    # Given a real attestation whose message is held back
    drain_queue(sqs, queue)
    batch = open_batch(app_client, bearer, fa)
    sign(app_client, bearer, fa, batch)
    [genuine] = [container().countersign_queue.open(m) for m in drain_queue(sqs, queue)]  # an insider with KMS
    # and a verified person of the facility whom its head never signed
    submit_verified(app_client, runner, bearer, world, fa, [record(fa["id"], unsigned, "U1", 1, date(2021, 9, 2))])

    # The insider rewrites the attestation to a tree that also holds that person, hash recomputed
    tables = world["tables"]
    M, R = SigningTables(tables).Signing, tables.Record
    logged = container().audit_log.find(f"batch:{batch['batch_id']}")
    item = M.get("AUDIT", f"SEQ#{logged.sequence:012d}", consistent_read=True)
    saved = {"entry": item.entry, "entry_hash": item.entry_hash}
    u = R.get(record_pk(fa["id"], "U1"), "REC", consistent_read=True)
    data = json.loads(u.data)
    extra = entry_body(unsigned.citizen_id, [DoseRecord(fa["id"], "U1", int(u.version), u.digest,
                                                        int(data["dose_number"]), data["vaccination_date"],
                                                        data["vaccine_product"])])
    extra["entry_digest"] = entry_digest(extra)
    entries = [{k: e[k] for k in ("citizen_id", "doses", "entry_digest")} for e in genuine["entries"]] + [extra]
    tree = MerkleTree([bytes.fromhex(e["entry_digest"]) for e in entries])
    forged_entry = dict(logged.entry, merkle_root=tree.root.hex(), count=len(entries))
    forged_hash = chain_hash(bytes.fromhex(item.prev_hash), forged_entry).hex()
    message = json.loads(json.dumps(genuine))
    message["attestation"].update(entry_hash=forged_hash, merkle_root=tree.root.hex(), count=len(entries))
    message["entries"] = [dict(e, index=i, proof=[p.hex() for p in tree.proof(i)]) for i, e in enumerate(entries)]
    try:
        item.update(actions=[M.entry.set(json.dumps(forged_entry, ensure_ascii=False)),
                             M.entry_hash.set(forged_hash)])
        # and reserves the unsigned person's record for the batch, as the facility's batch would have
        R(record_pk(fa["id"], "U1"), "REC").update(actions=[R.signing_batch.set(batch["batch_id"]),
                                                            R.signing_until.set("2999-01-01T00:00:00Z")])
        # When the forged message is sent to the real countersign queue
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(message))
        runner.drain(idle_rounds=2, max_seconds=30)

        # Then nobody got a passport from it
        assert passport(app_client, bearer, unsigned) is None
        assert passport(app_client, bearer, signed) is None
        dead = [m for m in container().dead_letters.peek("countersign", 100) if json.loads(m["body"]) == message]
        assert len(dead) == 1 and "ATTESTATION_NOT_ANCHORED" in dead[0]["error_message"], dead
    finally:
        item.update(actions=[M.entry.set(saved["entry"]), M.entry_hash.set(saved["entry_hash"])])

    # The genuine message, delivered, issues the person the facility head signed
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(genuine))
    drain_until(runner, lambda: passport(app_client, bearer, signed) is not None)
    assert passport(app_client, bearer, unsigned) is None


# -- the audit anchor proves the log; a revocation must also be in effect -------------------------
def test_attack_revocation_put_out_of_force_in_dynamodb_is_reported_by_audit_verify(chain, bearer):
    """A revoked passport is put back in force by someone who can write the passports table: its
    hashes taken off the revocation list (verifiers accept it again), then its version ACTIVE
    (its QR is served again). On main `audit verify` said the log was fine: the chain is intact."""
    from chalice.test import Client

    from app import app
    from chalicelib.auth import dev_issuer
    from chalicelib.dcc.revocation import HASH_TYPES, revocation_entries
    from chalicelib.auth.principal import Role
    from tests.integration.test_audit_anchor import ENTRIES, run_cli
    from tests.integration.test_revocation import _issue_one

    c = chain["container"]
    cid, passport = _issue_one(c.settings, f"AV{uuid.uuid4().hex[:8]}")
    with Client(app) as client:
        resp = client.http.post("/v1/revocations", body=json.dumps({"uvci": passport.uvci, "reason": "forged"}),
                                headers={"Content-Type": "application/json",
                                         **bearer(dev_issuer.staff(Role.MINISTRY))})
    assert resp.status_code == 201, resp.body
    sequence = json.loads(resp.body)["audit"]["sequence"]
    assert sequence == ENTRIES + 1
    assert run_cli("audit", "verify")[0] == 0

    Item = c.passports.Item
    hashes = revocation_entries(uci=passport.uvci, country=c.settings.country,
                                signature=base64.b64decode(passport.signature_b64), alg="ES256", types=HASH_TYPES)
    listed = [Item.get("REVOKED", f"{h['type']}#{h['hash']}", consistent_read=True) for h in hashes]
    for item in listed:
        item.delete()
    code, out = run_cli("audit", "verify")
    assert (code, out["first_bad_sequence"]) == (1, sequence), out
    assert "not on the revocation list" in out["reason"]

    for item in listed:
        item.save()
    Item(Item.tables.person_pk(cid), "V#000001").update(actions=[Item.status.set("ACTIVE")])
    code, out = run_cli("audit", "verify")
    assert (code, out["first_bad_sequence"]) == (1, sequence) and "ACTIVE" in out["reason"], out


# -- nobody is stranded: a dose attested for someone who already holds a passport -----------------
def test_attack_a_lost_message_for_a_new_dose_of_a_passport_holder_is_listed_as_stranded(
        app_client, runner, bearer, world, sqs, stack):
    """The worker claimed the new dose's record, then the message was lost for good: the record is
    never offered again, and the person's passport lacks the dose. On main reconcile listed only
    people with no passport at all, so this person was stranded unseen."""
    from datetime import datetime, timedelta, timezone

    from chalicelib.adapters.signing.records import DynamoSigningRecords
    from chalicelib.wiring import container

    _, created = stack
    queue = created.queues["countersign"]
    fd = world["facility"]()
    [person] = world["people"](1)
    submit_verified(app_client, runner, bearer, world, fd, [record(fd["id"], person, "D1", 1, date(2021, 9, 1))])
    sign(app_client, bearer, fd, open_batch(app_client, bearer, fd))
    drain_until(runner, lambda: passport(app_client, bearer, person) is not None)

    # Dose 2 is attested; the worker claims its record, then the message is lost
    submit_verified(app_client, runner, bearer, world, fd, [record(fd["id"], person, "D2", 2, date(2021, 11, 1))])
    drain_queue(sqs, queue)
    batch = open_batch(app_client, bearer, fd)
    sign(app_client, bearer, fd, batch)
    assert drain_queue(sqs, queue)
    DynamoSigningRecords(world["tables"]).mark_signed(batch["batch_id"], [(fd["id"], "D2")], datetime.now(timezone.utc))
    open_batch(app_client, bearer, fd, status=409)  # claimed: never offered again by itself
    assert passport(app_client, bearer, person)["display"]["dose"] == 1

    # Once no message can deliver it any more, reconcile lists the person, and --fix offers them again
    reconciler = container().reconciler
    later = datetime.now(timezone.utc) + timedelta(days=19)
    assert not [s for s in reconciler.stranded(datetime.now(timezone.utc)) if s.batch_id == batch["batch_id"]]
    listed = [s for s in reconciler.stranded(later) if s.batch_id == batch["batch_id"]]
    assert [(s.entry_index, s.chunk_status, s.refused) for s in listed] == [(0, "QUEUED", False)]
    [fixed] = [s for s in reconciler.stranded(later, fix=True) if s.batch_id == batch["batch_id"]]
    assert fixed.released == 1
    again = open_batch(app_client, bearer, fd)
    assert [[d["record_id"] for d in e["doses"]] for e in again["entries"]] == [["D2"]]
    sign(app_client, bearer, fd, again)
    drain_until(runner, lambda: passport(app_client, bearer, person)["display"]["dose"] == 2)
    # and the person it covers is no longer listed
    assert not [s for s in reconciler.stranded(later) if s.batch_id in (batch["batch_id"], again["batch_id"])]


# -- a passport keeps a dose its facility took back ---------------------------------------------
# A passport was re-evaluated only when a new attestation of its person was countersigned: a
# facility correcting an attested record to another citizen (a wrong id typed) took its
# attestation back from the first person, whose passport kept showing the dose, valid, until
# someone attested them again. The cleaning worker now queues the record's previously matched
# citizen for re-evaluation (re-issued without the dose, or revoked when nothing attested is left).
def test_attack_a_dose_corrected_to_another_citizen_stays_on_the_first_ones_passport(
        app_client, runner, bearer, world):
    first, second = world["people"](2)
    fx = world["facility"]()
    submit_verified(app_client, runner, bearer, world, fx, [record(fx["id"], first, "X1", 1, date(2021, 9, 1))])
    sign(app_client, bearer, fx, open_batch(app_client, bearer, fx))
    drain_until(runner, lambda: passport(app_client, bearer, first) is not None)

    # The facility finds it typed the wrong person: the dose was the second citizen's
    fields = {"citizen_id": second.citizen_id, "full_name": second.full_name,
              "date_of_birth": second.date_of_birth.isoformat(), "sex": second.sex}
    resp = app_client.http.post("/v1/vaccination-records/X1/corrections", headers=staff(bearer, fx),
                                body=json.dumps({"changes": fields}, ensure_ascii=False))
    assert resp.status_code == 200, resp.body
    runner.drain(idle_rounds=2, max_seconds=30)

    # The first citizen no longer has an attested dose: their passport must not stay valid
    assert passport(app_client, bearer, first)["status"] != "VALID"


# The documented rule let any attestation logged after a ministry revocation issue a new passport,
# so the facility whose passport was revoked (for a forged record, say) undid the revocation at once
# by correcting a lot number and signing the record again. A revocation now holds the person until
# the ministry lifts it.
def test_attack_a_trivial_correction_and_a_new_signature_undo_a_ministry_revocation(
        app_client, runner, bearer, world):
    from chalicelib.adapters.dynamo import record_pk

    fr = world["facility"]()
    [person] = world["people"](1)
    submit_verified(app_client, runner, bearer, world, fr, [record(fr["id"], person, "F1", 1, date(2021, 9, 1))])
    sign(app_client, bearer, fr, open_batch(app_client, bearer, fr))
    drain_until(runner, lambda: passport(app_client, bearer, person) is not None)
    revoked = app_client.http.post("/v1/revocations", body=json.dumps({
        "uvci": passport(app_client, bearer, person)["uvci"], "reason": "forged vaccination record"}),
        headers={"Content-Type": "application/json", **bearer(dev_issuer.staff(Role.MINISTRY))})
    assert revoked.status_code == 201, revoked.body

    # The facility changes a lot number, waits for the record to verify, and signs it again
    resp = app_client.http.post("/v1/vaccination-records/F1/corrections", headers=staff(bearer, fr),
                                body=json.dumps({"changes": {"lot_number": "L1-BIS"}}))
    assert resp.status_code == 200, resp.body
    Record = world["tables"].Record
    drain_until(runner, lambda: Record.get(record_pk(fr["id"], "F1"), "REC", consistent_read=True).state == "VERIFIED")
    sign(app_client, bearer, fr, open_batch(app_client, bearer, fr))
    runner.drain(idle_rounds=2, max_seconds=30)

    assert passport(app_client, bearer, person)["status"] == "REVOKED"
