"""`audit verify` asks, for each revocation the audit log holds, whether it is in effect in the
passport store: the anchor proves the log, but the store and the revocation list are plain
DynamoDB items that a writer of the passports table could put back (over the fakes here, which
a test changes the way such a writer could; the DynamoDB store and the CLI on LocalStack in
tests/integration/test_adversary_countersign.py)."""
from __future__ import annotations

import base64

from chalicelib.dcc.revocation import HASH_TYPES, revocation_entries
from chalicelib.dcc.uvci import make_uvci
from chalicelib.issuance.revocation import revocation_key
from tests.fakes import FakeAuditLog
from tests.unit.issuance.test_revocation import CID, MINISTRY, UVCI, service, store_with


def revoked():
    store, audit = store_with(UVCI), FakeAuditLog()
    svc = service(store, audit)
    svc.revoke({"uvci": UVCI, "reason": "forged"}, MINISTRY)
    logged = audit.find(revocation_key(UVCI))
    return store, svc, logged


def test_an_applied_revocation_is_in_effect():
    store, svc, logged = revoked()
    assert svc.not_in_effect(logged.entry, logged.sequence) is None


def test_attack_revocation_hashes_taken_off_the_list_are_reported():
    store, svc, logged = revoked()
    for key in [k for k in store.list_entries if k[0] == "SIGNATURE"]:
        del store.list_entries[key]
    assert svc.not_in_effect(logged.entry, logged.sequence) == "its SIGNATURE hashes are not on the revocation list"


def test_attack_revoked_version_set_active_again_is_reported():
    store, svc, logged = revoked()
    store.status(CID, 1)["status"] = "ACTIVE"
    assert svc.not_in_effect(logged.entry, logged.sequence) == "the passport version is ACTIVE"


def test_attack_revocation_taken_off_the_current_pointer_is_reported():
    store, svc, logged = revoked()
    store.pointers[CID].update(revocation_sequence=None)  # an older attestation could re-issue over it
    assert svc.not_in_effect(logged.entry, logged.sequence) == "the person's current passport does not carry it"
    store.pointers[CID].update(version=2)  # superseded by a later attestation: fine
    assert svc.not_in_effect(logged.entry, logged.sequence) is None


def test_a_logged_revocation_of_an_unknown_uvci_is_reported():
    _, svc, logged = revoked()
    other = make_uvci(lambda n: bytes([9] * n))
    assert svc.not_in_effect({**logged.entry, "uvci": other}, logged.sequence) == "no passport version holds this UVCI"


def test_attack_a_hold_deleted_without_a_logged_lift_is_reported():
    # A writer of the passports table deletes the hold: the next attestation would issue again.
    store, svc, logged = revoked()
    del store.holds[CID]
    assert svc.not_in_effect(logged.entry, logged.sequence) == \
        "the person is not held by it, and the audit log holds no lift of it"


def test_a_lifted_revocation_stays_in_effect_without_its_hold():
    store, svc, logged = revoked()
    svc.lift(UVCI, {"reason": "verified"}, MINISTRY)
    assert store.hold(CID) is None
    assert svc.not_in_effect(logged.entry, logged.sequence, lifted=True) is None
    # the revoked UVCI is still revoked and listed: taking it off the list is still reported
    store.list_entries.clear()
    assert "not on the revocation list" in svc.not_in_effect(logged.entry, logged.sequence, lifted=True)


def test_a_logged_revocation_that_lost_its_race_to_a_reissue_holds_nobody():
    # Logged, then refused by the store because a re-issue superseded the version first (409)
    store, audit = store_with(UVCI, make_uvci(lambda n: bytes([2] * n))), FakeAuditLog()
    audit.append({"type": "revocation", "uvci": UVCI, "version": 1, "reason": "late",
                  "revoked_by": {"role": "ministry", "id": "m-1"}, "revoked_at": "2026-11-01T08:00:00+00:00"},
                 unique_key=revocation_key(UVCI))
    target = store.find_by_uvci(UVCI)
    for e in revocation_entries(uci=UVCI, country="VN", signature=base64.b64decode(target.signature_b64),
                                alg=target.alg, types=HASH_TYPES):
        store.list_entries[(e["type"], e["hash"])] = "superseded by a new passport version"  # listed by the re-issue
    svc = service(store, audit)
    logged = audit.find(revocation_key(UVCI))
    assert svc.not_in_effect(logged.entry, logged.sequence) is None
