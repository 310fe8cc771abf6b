"""The countersign worker's checks against the audit log: the real AttestedBatchCountersigner, built
by the composition root over the fakes (tests/fakes/) with a local DSC key (the whole path through
SQS and the event runner is tested on LocalStack in tests/integration/test_attestation.py)."""
from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest

from chalicelib.intake.records import RegistryPerson
from chalicelib.issuance.attested import LEASE_ROUNDS, ChunkRefused, PassportRaceLost
from chalicelib.signing.audit import Checkpoint, chain_hash
from chalicelib.signing.manifest import DoseRecord as ManifestDose
from chalicelib.signing.manifest import MerkleTree, build_entries
from chalicelib.signing.facilities import Facility
from chalicelib.signing.service import QueuedChunk
from tests.fakes import FakeFacilityRegistry, InMemoryRegistry, fake_container
from tests.unit.dcc.conftest import SIGN_AT, Chain, seeded_bytes

CID, UNKNOWN = "001090012345", "079000000001"  # in the registry; not in it
RECORD = {CID: "RA", UNKNOWN: "RB"}


class CountingSigner:
    """The chain's local DSC signer, counting its signatures."""

    def __init__(self, signer) -> None:
        self._signer = signer
        self.signatures = 0

    def __getattr__(self, name):
        return getattr(self._signer, name)

    def sign_many(self, messages):
        self.signatures += len(messages)
        return self._signer.sign_many(messages)


@pytest.fixture
def world():
    chain = Chain("ES256")
    counting = CountingSigner(chain.signer)
    registry = FakeFacilityRegistry()
    registry.save_facility(Facility("F1", "TYT", "001", "BS"), SIGN_AT)
    c = fake_container(registry=InMemoryRegistry([RegistryPerson(CID, "Nguyễn Thị Đào", date(1990, 5, 1), "F",
                                                                  "001")]),
                       facility_registry=registry, key_ring=lambda now: counting, clock=lambda: SIGN_AT,
                       random_bytes=seeded_bytes(3))
    records, audit, manifests = c.signing_records, c.audit_chain, c.manifests
    for cid in (CID, UNKNOWN):
        key = records.add("F1", RECORD[cid], cid, date="2021-07-01", product="EU/1/21/1529")
        records.items[key].update(signing_batch="SB1")  # reserved for the batch the facility signed
    doses = {cid: [ManifestDose("F1", RECORD[cid], 1, records.items[("F1", RECORD[cid])]["digest"], 1, "2021-07-01",
                                "EU/1/21/1529")] for cid in (CID, UNKNOWN)}
    entries = build_entries(doses)
    tree = MerkleTree([bytes.fromhex(e["entry_digest"]) for e in entries])
    seq, entry_hash = audit.append({"type": "batch-attestation", "batch_id": "SB1", "facility_id": "F1",
                                    "certificate_fingerprint": "ab" * 32, "merkle_root": tree.root.hex(),
                                    "count": len(entries)}, unique_key="batch:SB1")
    c.audit_anchor.write(Checkpoint(seq, entry_hash, SIGN_AT.isoformat()))
    people = [dict(e, index=i, proof=[p.hex() for p in tree.proof(i)]) for i, e in enumerate(entries)]
    manifests.chunks_queued("SB1", "F1", [QueuedChunk(i, i, (p["citizen_id"],)) for i, p in enumerate(people)],
                            pending_until=SIGN_AT, now=SIGN_AT)
    attestation = {"sequence": seq, "entry_hash": entry_hash, "facility_id": "F1", "merkle_root": tree.root.hex(),
                   "count": len(entries), "certificate_fingerprint": "ab" * 32}
    messages = [{"batch_id": "SB1", "chunk": i, "attestation": attestation, "entries": [p]}
                for i, p in enumerate(people)]
    return {"worker": c.attested_countersign, "messages": messages, "passports": c.passports, "audit": audit,
            "records": records, "events": c.security_events.events, "counters": c.counters, "manifests": manifests,
            "attestation": attestation, "claims": c.chunk_claims, "signer": counting, "countersign": c.countersign}


def by_citizen(world, cid):
    return next(m for m in world["messages"] if m["entries"][0]["citizen_id"] == cid)


def test_one_audit_read_per_batch_in_an_invocation(world):
    cache: dict = {}
    for m in world["messages"]:
        world["worker"].handle(m, cache)
    assert world["audit"].requests["find"] == 1
    world["worker"].handle(world["messages"][0])  # another invocation reads again
    assert world["audit"].requests["find"] == 2


def test_the_province_of_the_counters_and_the_passport_comes_from_the_registry(world):
    m = by_citizen(world, CID)
    m["attestation"]["province_code"] = "079"  # a claim the worker does not read
    [out] = world["worker"].handle(m)
    assert out.status == "issued"
    stored = world["passports"].versions(CID)[0]
    assert stored.attestation["province_code"] == "001" and stored.attestation["batch_id"] == "SB1"


@pytest.mark.parametrize("body", [None, [], {"batch_id": 7},
                                  {"batch_id": "S" * 5000, "attestation": {}, "entries": [{}]},
                                  {"batch_id": "SB1", "attestation": {}, "entries": "x"},
                                  {"batch_id": "SB1", "attestation": "x", "entries": [{}]}])
def test_attack_malformed_message_is_refused_counted_nationally_and_kept(world, body):
    with pytest.raises(ChunkRefused) as caught:
        world["worker"].handle(body)
    assert caught.value.details == {"reason": "MALFORMED"}
    counters = world["counters"]
    assert [(pk, counts) for (pk, _), counts in counters.items.items()] == [
        ("NATIONAL", {"countersign_chunks_refused": 1})]
    assert world["events"][0]["event"] == "countersign_chunk_refused"


def test_attack_logged_attestation_that_does_not_link_into_the_chain_is_refused(world):
    audit = world["audit"]
    audit.log[0] = dataclasses.replace(audit.log[0], entry={**audit.log[0].entry, "count": 1})
    with pytest.raises(ChunkRefused) as caught:
        world["worker"].handle(world["messages"][0])
    assert caught.value.details == {"reason": "ATTESTATION_NOT_IN_CHAIN"}


def test_attack_rewritten_attestation_that_still_links_is_refused_unless_anchored(world):
    # A DynamoDB writer edits the logged attestation and recomputes its hash: it links, but no
    # KMS-signed checkpoint names that hash.
    audit = world["audit"]
    e = audit.log[0]
    entry = {**e.entry, "merkle_root": "00" * 32}
    audit.log[0] = dataclasses.replace(e, entry=entry, entry_hash=chain_hash(bytes.fromhex(e.prev_hash), entry).hex())
    m = by_citizen(world, CID)
    m["attestation"].update(merkle_root="00" * 32, entry_hash=audit.log[0].entry_hash)
    with pytest.raises(ChunkRefused) as caught:
        world["worker"].handle(m)
    assert caught.value.details == {"reason": "ATTESTATION_NOT_ANCHORED"}
    assert world["passports"].versions(CID) == []


def test_a_refused_person_is_released_and_the_chunk_finished_as_dead_lettered(world):
    [out] = world["worker"].handle(by_citizen(world, UNKNOWN))
    assert (out.status, out.detail) == ("refused", ["NOT_FOUND"])
    released = world["records"].items[("F1", RECORD[UNKNOWN])]
    assert (released["signing_batch"], released["signed_batch"]) == (None, None)  # offered again
    assert world["records"].items[("F1", RECORD[CID])]["signed_batch"] is None  # in another chunk
    chunk = by_citizen(world, UNKNOWN)["chunk"]
    assert world["manifests"].chunks[("SB1", chunk)]["status"] == "DEAD_LETTERED"
    assert world["manifests"].chunks[("SB1", chunk)]["refused"] == [by_citizen(world, UNKNOWN)["entries"][0]["index"]]


def test_a_message_naming_another_chunk_does_not_finish_it(world):
    m = dict(by_citizen(world, CID), chunk=by_citizen(world, UNKNOWN)["chunk"])
    world["worker"].handle(m)
    assert {c["status"] for c in world["manifests"].chunks.values()} == {"QUEUED"}


def refused_counts(world) -> dict:
    return {pk: counts for (pk, _), counts in world["counters"].items.items()}


def test_attack_a_chunk_of_a_batch_nobody_attested_is_refused_and_nothing_issued(world):
    m = dict(by_citizen(world, CID), batch_id="SB9")
    with pytest.raises(ChunkRefused) as caught:
        world["worker"].handle(m)
    assert caught.value.details == {"reason": "ATTESTATION_NOT_FOUND"}
    assert world["passports"].versions(CID) == [] and world["records"].requests["mark_signed"] == 0
    assert refused_counts(world) == {"NATIONAL": {"countersign_chunks_refused": 1}}
    [event] = world["events"]
    assert (event["reason"], event["batch_id"], event["records"]) == ("ATTESTATION_NOT_FOUND", "SB9",
                                                                      [["F1", RECORD[CID], 1]])


def test_attack_an_audit_entry_under_the_key_that_is_not_this_batchs_attestation_is_refused(world):
    world["audit"].append({"type": "revocation", "batch_id": "SB7"}, unique_key="batch:SB7")
    with pytest.raises(ChunkRefused) as caught:
        world["worker"].handle(dict(by_citizen(world, CID), batch_id="SB7"))
    assert caught.value.details == {"reason": "ATTESTATION_NOT_FOUND"}


@pytest.mark.parametrize("field, forged", [("count", 1), ("facility_id", "F2"), ("certificate_fingerprint", "cd" * 32),
                                           ("merkle_root", "00" * 32), ("sequence", 9), ("entry_hash", "ff" * 32)])
def test_attack_a_message_whose_claims_differ_from_the_logged_attestation_is_refused(world, field, forged):
    m = by_citizen(world, CID)
    m["attestation"] = {**m["attestation"], field: forged}
    with pytest.raises(ChunkRefused) as caught:
        world["worker"].handle(m)
    assert caught.value.details == {"reason": "ATTESTATION_MISMATCH"} and field in caught.value.message
    assert world["passports"].versions(CID) == []
    # counted on the facility the audit log names, and its registered province, not the message's
    assert refused_counts(world) == {pk: {"countersign_chunks_refused": 1}
                                     for pk in ("NATIONAL", "PROV#001", "FAC#F1")}
    assert world["events"][0]["differing_fields"] == [field]


@pytest.mark.parametrize("forgery", ["digest", "proof", "index", "other_facility", "no_doses"])
def test_attack_entries_the_facility_did_not_sign_are_kept_out_and_the_rest_proceeds(world, forgery):
    good, bad = by_citizen(world, CID)["entries"][0], dict(by_citizen(world, UNKNOWN)["entries"][0])
    if forgery == "digest":
        bad["doses"] = [dict(bad["doses"][0], vaccination_date="2021-07-02")]
    elif forgery == "proof":
        bad["proof"] = ["00" * 32 for _ in bad["proof"]] or ["00" * 32]
    elif forgery == "index":
        bad["index"] = good["index"]
    elif forgery == "other_facility":
        bad["doses"] = [dict(bad["doses"][0], facility_id="F2")]
    else:
        bad["doses"] = []
    m = {"batch_id": "SB1", "chunk": 0, "attestation": world["attestation"], "entries": [good, bad]}
    outcomes = {o.citizen_id: o.status for o in world["worker"].handle(m)}
    assert outcomes == {CID: "issued", UNKNOWN: "not_attested"}
    [event] = world["events"]
    assert event["event"] == "countersign_entries_not_attested" and len(event["entries"]) == 1
    assert UNKNOWN not in str(event) and "Nguyễn" not in str(event)  # record keys and hashes only
    assert refused_counts(world)["FAC#F1"]["countersign_entries_not_attested"] == 1
    assert {c["status"] for c in world["manifests"].chunks.values()} == {"QUEUED"}  # a forged chunk finishes none


def test_a_person_whose_records_changed_or_were_claimed_elsewhere_is_stale_not_issued(world):
    world["records"].items[("F1", RECORD[CID])].update(signing_batch="SB2")  # another batch holds it now
    [out] = world["worker"].handle(by_citizen(world, CID))
    assert (out.status, out.detail) == ("stale", [RECORD[CID]]) and world["passports"].versions(CID) == []


def test_a_lost_race_with_another_worker_retries_the_message(world):
    from chalicelib.issuance.attested import PassportRaceLost

    world["passports"].refuse_next = True
    with pytest.raises(PassportRaceLost):
        world["worker"].handle(by_citizen(world, CID))
    assert world["manifests"].chunks[("SB1", by_citizen(world, CID)["chunk"])]["status"] == "QUEUED"
    [out] = world["worker"].handle(by_citizen(world, CID))  # the retry
    assert out.status == "issued"


def test_attack_a_held_person_gets_nothing_from_a_replayed_chunk(world):
    [out] = world["worker"].handle(by_citizen(world, CID))
    assert out.status == "issued"
    world["passports"].revoke_by_ministry(CID, 5)
    world["records"].items[("F1", RECORD[CID])].update(signed_batch=None)  # a replay finds it claimed again
    [again] = world["worker"].handle(by_citizen(world, CID))
    assert (again.status, again.version) == ("held", 1) and len(world["passports"].versions(CID)) == 1


def test_attack_a_person_another_chunk_keeps_signing_is_never_signed_here_and_the_message_retried(world):
    # Given another chunk holds CID's signing lease and never lets go within the wait
    worker, claims = world["worker"], world["claims"]
    claims.leases[CID] = ("SB0#3", SIGN_AT + timedelta(minutes=2))
    slept: list[float] = []
    worker._sleep = slept.append
    # When CID's chunk is handled, Then nothing is signed or claimed for CID and the message is retried
    with pytest.raises(PassportRaceLost):
        worker.handle(by_citizen(world, CID))
    assert world["passports"].versions(CID) == [] and world["signer"].signatures == 0
    assert world["records"].items[("F1", RECORD[CID])]["signed_batch"] is None
    assert len(slept) == LEASE_ROUNDS - 1 and claims.leases[CID][0] == "SB0#3"


def test_a_person_another_chunk_was_signing_is_claimed_once_it_lets_go_and_the_lease_released(world):
    worker, claims = world["worker"], world["claims"]
    claims.leases[CID] = ("SB0#3", SIGN_AT + timedelta(minutes=2))
    worker._sleep = lambda s: claims.release_leases("SB0#3", [CID], SIGN_AT)  # it stores and lets go
    [out] = worker.handle(by_citizen(world, CID))
    assert out.status == "issued" and world["signer"].signatures == 1
    assert CID not in claims.leases  # let go of, for the next chunk


def test_a_signing_lease_outlives_any_invocation_that_holds_it():
    from chalicelib.issuance.attested import LEASE_S
    from infra import spec

    countersign = next(f for f in spec.FUNCTIONS if f.name == "handle_countersign")
    assert LEASE_S >= 2 * countersign.timeout_s
    # and expires before the message of a crashed holder comes back
    assert LEASE_S < spec.queue("countersign").visibility_timeout_s


def test_attack_two_chunks_each_waiting_for_a_person_the_other_holds_do_not_deadlock(world):
    # Given another chunk holds CID's lease and waits for UNKNOWN's, which this chunk is about to take
    worker, claims = world["worker"], world["claims"]
    claims.leases[CID] = ("SB0#3", SIGN_AT + timedelta(minutes=2))
    both = {"batch_id": "SB1", "chunk": 0, "attestation": world["attestation"],
            "entries": [e for m in world["messages"] for e in m["entries"]]}

    def other_chunk(_seconds: float) -> None:
        # it lets go of CID only once it could take UNKNOWN: this chunk must have let go of UNKNOWN
        if UNKNOWN not in claims.leases:
            claims.release_leases("SB0#3", [CID], SIGN_AT)

    worker._sleep = other_chunk
    outcomes = {o.citizen_id: o.status for o in worker.handle(both)}
    assert outcomes == {UNKNOWN: "refused", CID: "issued"} and claims.leases == {}


def test_attack_a_reevaluation_while_a_chunk_signs_the_person_signs_nothing_and_is_retried(world):
    [out] = world["worker"].handle(by_citizen(world, CID))
    assert out.status == "issued" and world["signer"].signatures == 1
    world["records"].items[("F1", RECORD[CID])]["signed_batch"] = None  # its dose lost its attestation
    # a chunk is signing CID right now
    world["claims"].leases[CID] = ("SB7#0", SIGN_AT + timedelta(minutes=2))
    assert world["countersign"].reevaluate(CID).status == "lost_race"
    assert world["signer"].signatures == 1 and len(world["passports"].versions(CID)) == 1
    # once it let go, the re-evaluation runs and lets go in turn
    world["claims"].release_leases("SB7#0", [CID], SIGN_AT)
    assert world["countersign"].reevaluate(CID).status == "revoked" and world["claims"].leases == {}


def test_attack_a_reevaluation_lease_holder_names_no_citizen(world):
    """The lease holder is an attribute in clear on an item keyed by the person's pseudonym."""
    [out] = world["worker"].handle(by_citizen(world, CID))
    assert out.status == "issued"
    taken = []
    take = world["claims"].take_lease
    world["claims"].take_lease = lambda holder, cid, **kw: taken.append(holder) or take(holder, cid, **kw)
    world["countersign"].reevaluate(CID)
    assert taken and not [h for h in taken if CID in h]
