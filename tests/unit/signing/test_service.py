"""Signing use cases over the fakes (tests/fakes/): batches, signatures, attestations, fan-out, audit chain."""
from __future__ import annotations

import base64
import dataclasses
import json
from datetime import timedelta

import pytest

from chalicelib import errors
from chalicelib.signing import facility_pki as pki
from chalicelib.signing.audit import verify_chain
from chalicelib.signing.manifest import (canonical_json, entries_still_current, leaf_hash, manifest_message,
                                         verify_inclusion)
from chalicelib.signing.facilities import FacilityService
from chalicelib.signing.service import AlreadyAttested, BatchExpired, ManifestTampered, NothingToSign, SigningService
from tests.fakes import FakeAuditLog, FakeCountersignQueue, FakeFacilityRegistry, FakeManifestStore, FakeRecords
from tests.unit.signing.conftest import T0, ids

NOW = T0 + timedelta(days=10)


class World:
    def __init__(self, gov, chunk_people=2, queue=None):
        self.gov = gov
        self.registry, self.records = FakeFacilityRegistry(), FakeRecords()
        self.manifests, self.audit, self.queue = FakeManifestStore(), FakeAuditLog(), queue or FakeCountersignQueue()
        self.facilities = FacilityService(self.registry)
        self.facilities.register_ca(pki.pem(gov.ca), now=NOW)
        self.keys = {}
        self.add_facility("FAC-1", "079")
        self.service = SigningService(self.registry, self.records, self.manifests, self.audit, self.queue,
                                      new_id=ids(), chunk_people=chunk_people)

    def add_facility(self, facility_id, province):
        key, cert = self.gov.signer(facility_id, province=province)
        self.keys[facility_id] = (key, cert)
        self.facilities.register_facility(facility_id=facility_id, name=f"Facility {facility_id}",
                                          province=province, head="Dr. Lan", certificate_pem=pki.pem(cert), now=NOW)

    def add_agency(self, agency_id, province, cert_province=None):
        key, cert = self.gov.signer(agency_id, province=cert_province or province, focal_agency=True)
        self.keys[agency_id] = (key, cert)
        self.registry.save_focal_agency(  # straight to the registry: lets a test mis-register one
            pki_agency(agency_id, province, cert), NOW)

    def sign(self, manifest, signer, alg=None):
        key, cert = self.keys[signer]
        sig, alg = pki.sign(key, manifest_message(manifest), alg)
        return dict(signature_b64=base64.b64encode(sig).decode(), algorithm=alg, signer_id=signer,
                    certificate_pem=pki.pem(cert))


def pki_agency(agency_id, province, cert):
    from chalicelib.signing.facilities import FocalAgency

    return FocalAgency(agency_id, f"{province} CDC", province, (pki.pem(cert),))


@pytest.fixture
def world(gov):
    w = World(gov)
    for i in range(5):
        w.records.add("FAC-1", f"R{i}a", f"0792000000{i:02d}", dose=1)
        w.records.add("FAC-1", f"R{i}b", f"0792000000{i:02d}", dose=2, date="2021-09-01", state="VERIFIED_NORMALIZED")
    w.records.add("FAC-1", "RX", "079200000099", state="MISMATCH")
    w.records.add("FAC-2", "RY", "079200000098")
    return w


def test_batch_groups_verified_records_by_person_and_reserves_them(world):
    m = world.service.create_batch("FAC-1", now=NOW)
    assert m["count"] == 5 and m["facility_id"] == "FAC-1" and m["batch_id"] == "SB0001"
    assert all(len(e["doses"]) == 2 for e in m["entries"])
    assert [d["dose_number"] for d in m["entries"][0]["doses"]] == [1, 2]
    assert "079200000099" not in {e["citizen_id"] for e in m["entries"]}  # MISMATCH is not signed
    assert m["expires_at"] == (NOW + timedelta(days=3)).isoformat()
    assert world.manifests.get("SB0001").status == "OPEN"
    # The people are held: a second batch finds nobody.
    with pytest.raises(NothingToSign):
        world.service.create_batch("FAC-1", now=NOW)


def test_limit_counts_people_not_records(world):
    m1 = world.service.create_batch("FAC-1", limit=2, now=NOW)
    m2 = world.service.create_batch("FAC-1", limit=2, now=NOW)
    assert m1["count"] == m2["count"] == 2
    assert not {e["citizen_id"] for e in m1["entries"]} & {e["citizen_id"] for e in m2["entries"]}
    with pytest.raises(errors.ValidationError):
        world.service.create_batch("FAC-1", limit=10_001, now=NOW)
    with pytest.raises(errors.NotFound):
        world.service.create_batch("NOPE", now=NOW)


def test_expired_batch_releases_its_people(world):
    world.service.create_batch("FAC-1", now=NOW)
    m = world.service.create_batch("FAC-1", now=NOW + timedelta(days=4))
    assert m["count"] == 5


def test_facility_signature_is_attested_logged_and_fanned_out_with_proofs(world):
    m = world.service.create_batch("FAC-1", now=NOW)
    result = world.service.submit_signature(m["batch_id"], **world.sign(m, "FAC-1"), now=NOW + timedelta(hours=1))
    assert result["sequence"] == 1 and result["replayed"] is False and result["messages_queued"] == 3
    assert result["certificate_fingerprint"] == pki.fingerprint(world.keys["FAC-1"][1])
    assert result["signer"] == {"role": pki.ROLE_FACILITY, "id": "FAC-1"}
    assert world.manifests.get(m["batch_id"]).status == "DISPATCHED"
    assert world.service.verify_audit_chain().ok
    people = [e for msg in world.queue.messages for e in msg["entries"]]
    assert [p["citizen_id"] for p in people] == [e["citizen_id"] for e in m["entries"]]
    root = bytes.fromhex(m["merkle_root"])
    for p in people:
        body = {"citizen_id": p["citizen_id"], "doses": p["doses"]}
        assert verify_inclusion(leaf_hash(canonical_json(body)), p["index"], [bytes.fromhex(x) for x in p["proof"]],
                                root, m["count"])
    assert world.queue.messages[0]["attestation"]["entry_hash"] == result["entry_hash"]


def test_repeated_signature_returns_the_same_attestation_and_another_is_a_conflict(world):
    m = world.service.create_batch("FAC-1", now=NOW)
    body = world.sign(m, "FAC-1")
    first = world.service.submit_signature(m["batch_id"], **body, now=NOW)
    again = world.service.submit_signature(m["batch_id"], **body, now=NOW + timedelta(days=5))  # even after expiry
    assert again["replayed"] and again["entry_hash"] == first["entry_hash"] and again["messages_queued"] is None
    assert len(world.queue.messages) == 3 and len(world.audit.log) == 1
    with pytest.raises(AlreadyAttested):
        world.service.submit_signature(m["batch_id"], **world.sign(m, "FAC-1"), now=NOW)  # new ECDSA nonce


def test_fan_out_interrupted_after_logging_is_completed_by_the_retry(gov):
    w = World(gov, queue=FakeCountersignQueue(fail_times=1))
    w.records.add("FAC-1", "R1", "079200000001")
    m = w.service.create_batch("FAC-1", now=NOW)
    body = w.sign(m, "FAC-1")
    with pytest.raises(errors.DependencyUnavailable):
        w.service.submit_signature(m["batch_id"], **body, now=NOW)
    assert w.manifests.get(m["batch_id"]).status == "ATTESTED" and len(w.audit.log) == 1
    result = w.service.submit_signature(m["batch_id"], **body, now=NOW)
    assert result["replayed"] and result["messages_queued"] == 1 and len(w.audit.log) == 1


def test_focal_agency_of_the_province_may_sign_and_others_may_not(world):
    world.add_agency("HCM-CDC", "079")
    world.add_agency("HN-CDC", "001")
    world.add_facility("FAC-9", "001")
    m = world.service.create_batch("FAC-1", now=NOW)
    with pytest.raises(errors.Forbidden):
        world.service.submit_signature(m["batch_id"], **world.sign(m, "HN-CDC"), now=NOW)
    with pytest.raises(errors.Forbidden):
        world.service.submit_signature(m["batch_id"], **world.sign(m, "FAC-9"), now=NOW)
    result = world.service.submit_signature(m["batch_id"], **world.sign(m, "HCM-CDC"), now=NOW)
    assert result["signer"] == {"role": pki.ROLE_FOCAL_AGENCY, "id": "HCM-CDC"}


def test_agency_registered_for_a_province_with_a_certificate_for_another_is_refused(world):
    world.add_agency("ODD-CDC", "079", cert_province="001")
    m = world.service.create_batch("FAC-1", now=NOW)
    with pytest.raises(errors.Forbidden):
        world.service.submit_signature(m["batch_id"], **world.sign(m, "ODD-CDC"), now=NOW)


def test_certificate_must_be_registered_and_signature_must_match(world, gov):
    m = world.service.create_batch("FAC-1", now=NOW)
    body = world.sign(m, "FAC-1")
    _, stray = gov.signer("FAC-1")  # valid, same facility, never registered
    with pytest.raises(errors.Forbidden):
        world.service.submit_signature(m["batch_id"], **dict(body, certificate_pem=pki.pem(stray)), now=NOW)
    with pytest.raises(pki.SignatureInvalid):
        world.service.submit_signature(m["batch_id"], **dict(body, signature_b64=base64.b64encode(b"x" * 64).decode()),
                                       now=NOW)
    with pytest.raises(errors.ValidationError):
        world.service.submit_signature(m["batch_id"], **dict(body, signature_b64="not base64!"), now=NOW)
    # By fingerprint instead of the PEM.
    fp = pki.fingerprint(world.keys["FAC-1"][1])
    result = world.service.submit_signature(m["batch_id"], **dict(body, certificate_pem=None,
                                                                  certificate_fingerprint=fp), now=NOW)
    assert result["certificate_fingerprint"] == fp


def test_expired_certificate_and_expired_batch_are_refused(world, gov):
    m = world.service.create_batch("FAC-1", now=NOW)
    body = world.sign(m, "FAC-1")
    with pytest.raises(BatchExpired):
        world.service.submit_signature(m["batch_id"], **body, now=NOW + timedelta(days=3, seconds=1))
    short_key, short_cert = gov.signer("FAC-2", province="079", days=1, start=NOW)
    world.registry.save_facility(dataclasses.replace(world.registry.get_facility("FAC-1"), facility_id="FAC-2",
                                                     certificates=(pki.pem(short_cert),)), NOW)
    world.records.add("FAC-2", "RZ", "079200000097")
    m2 = world.service.create_batch("FAC-2", now=NOW)
    world.keys["FAC-2"] = (short_key, short_cert)
    with pytest.raises(pki.CertificateRejected):
        world.service.submit_signature(m2["batch_id"], **world.sign(m2, "FAC-2"), now=NOW + timedelta(days=2))


def test_changed_stored_manifest_is_refused(world):
    m = world.service.create_batch("FAC-1", now=NOW)
    body = world.sign(m, "FAC-1")
    doc, status = world.manifests.items[m["batch_id"]]
    changed = json.loads(doc)
    changed["entries"][0]["doses"][0]["version"] = 7
    world.manifests.items[m["batch_id"]] = (json.dumps(changed), status)
    with pytest.raises(ManifestTampered):
        world.service.submit_signature(m["batch_id"], **body, now=NOW)
    assert world.audit.log == [] and world.queue.messages == []


def test_records_changed_after_the_manifest_are_skipped_by_the_worker_check(world):
    m = world.service.create_batch("FAC-1", now=NOW)
    world.records.add("FAC-1", "R0a", "079200000000", version=2)  # corrected after the manifest
    keys = [(d["facility_id"], d["record_id"]) for e in m["entries"] for d in e["doses"]]
    current = world.records.current_versions(keys)
    kept = entries_still_current(m["entries"], current)
    assert [e["citizen_id"] for e in kept] == [f"0792000000{i:02d}" for i in range(1, 5)]


def test_registration_checks_the_certificate_belongs_to_the_facility(world, gov, other_gov):
    _, cert = gov.signer("FAC-7")
    with pytest.raises(errors.ValidationError):
        world.facilities.register_facility(facility_id="FAC-8", name="x", province="079", head="h",
                                           certificate_pem=pki.pem(cert), now=NOW)
    _, foreign = other_gov.signer("FAC-8")
    with pytest.raises(pki.CertificateRejected):
        world.facilities.register_facility(facility_id="FAC-8", name="x", province="079", head="h",
                                           certificate_pem=pki.pem(foreign), now=NOW)
    _, agency = gov.signer("CDC-1", province="001", focal_agency=True)
    with pytest.raises(errors.ValidationError):
        world.facilities.register_focal_agency(agency_id="CDC-1", name="x", province="079",
                                               certificate_pem=pki.pem(agency), now=NOW)
    a = world.facilities.register_focal_agency(agency_id="CDC-1", name="x", province="001",
                                               certificate_pem=pki.pem(agency), now=NOW)
    assert world.registry.focal_agencies("001") == [a]
    with pytest.raises(pki.CertificateRejected):
        world.facilities.register_ca(pki.pem(cert), now=NOW)


def test_audit_chain_detects_edits_drops_and_reorders(world):
    for i in range(3):
        world.records.add("FAC-1", f"S{i}", f"07930000000{i}")
    batches = [world.service.create_batch("FAC-1", limit=3, now=NOW) for _ in range(3)]
    for m in batches:
        world.service.submit_signature(m["batch_id"], **world.sign(m, "FAC-1"), now=NOW)
    log = world.audit.entries()
    assert verify_chain(log).ok and verify_chain(log).length == 3
    edited = list(log)
    edited[1] = dataclasses.replace(log[1], entry=dict(log[1].entry, count=999))
    check = verify_chain(edited)
    assert not check.ok and check.first_bad_sequence == 2 and check.head_hash == log[0].entry_hash
    assert verify_chain([log[0], log[2]]).first_bad_sequence == 2
    assert not verify_chain([log[1], log[0], log[2]]).ok
    # Recomputing the edited entry's own hash does not help: the next entry no longer links to it.
    from chalicelib.signing.audit import chain_hash

    forged_hash = chain_hash(bytes.fromhex(log[0].entry_hash), edited[1].entry).hex()
    forged = dataclasses.replace(edited[1], entry_hash=forged_hash)
    assert verify_chain([log[0], forged, log[2]]).first_bad_sequence == 3
