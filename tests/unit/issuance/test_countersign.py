"""Countersigning rules with a local DSC key and in-memory ports (the DynamoDB/KMS adapters have
their own tests on LocalStack)."""
from __future__ import annotations

import base64
from datetime import date, timedelta

import pytest

from chalicelib.dcc import verify_hc1
from chalicelib.dcc.revocation import RevocationList, revocation_list_json
from chalicelib.issuance.domain import DoseRecord, Identity, series_doses
from chalicelib.issuance.service import CountersignRequest, CountersignService, StoredPassport
from tests.unit.dcc.conftest import SIGN_AT, Chain, seeded_bytes


class MemoryPassports:
    """The PassportStore port: versions, versions revoked in place, the ministry's mark on the
    current pointer and holds, with the adapter's conditions (the previous version read must still
    be current, as read; nobody held)."""

    def __init__(self):
        self.versions, self.revoked = {}, []
        self.refuse_next = False
        self.revoked_in_place: dict[tuple[str, int], str] = {}  # (cid, version) -> reason
        self.ministry: dict[str, int] = {}  # cid -> revocation sequence on the current pointer
        self.holds: dict[str, int] = {}  # cid -> revocation sequence holding them

    def current(self, cid):
        versions = self.versions.get(cid)
        if not versions:
            return None
        p = versions[-1]
        return StoredPassport(cid, p.version, p.uvci, p.content_digest, p.signature_b64, p.alg,
                              self.ministry.get(cid), revoked=(cid, p.version) in self.revoked_in_place,
                              held_by=self.holds.get(cid), attestation_sequence=p.attestation.get("sequence"),
                              facility_id=p.attestation.get("facility_id"),
                              province_code=p.attestation.get("province_code"))

    def save_new(self, passport, previous, revocations, now):
        cur = self.current(passport.citizen_id)
        if self.refuse_next or cur != previous or (cur is not None and cur.held_by is not None):
            self.refuse_next = False
            return False
        self.versions.setdefault(passport.citizen_id, []).append(passport)
        self.revoked += revocations
        self.ministry.pop(passport.citizen_id, None)
        return True

    def revoke_unattested(self, current, revocations, now):
        if self.current(current.citizen_id) != current or current.revoked:
            return False
        self.revoked_in_place[(current.citizen_id, current.version)] = "no attested dose remains"
        self.revoked += revocations
        return True

    def revoke_by_ministry(self, cid, sequence):
        """What the revocation transaction does: the version revoked, the pointer marked, a hold."""
        version = self.versions[cid][-1].version
        self.revoked_in_place[(cid, version)] = "ministry"
        self.ministry[cid] = self.holds[cid] = sequence


class Doses:
    """Verified dose records per person; only those whose version a facility head signed count."""

    def __init__(self):
        self.by_cid = {}
        self.signed = set()  # (facility_id, record_id, version), like `signed_batch` on the record

    def attest(self, *doses):
        self.signed |= {(d.facility_id, d.record_id, d.version) for d in doses}

    def attested_doses(self, cids, also=()):
        return {c: [d for d in self.by_cid.get(c, []) if (d.facility_id, d.record_id, d.version) in self.signed]
                for c in cids}


class Identities:
    def identity(self, cid):
        return {"001090012345": Identity("001090012345", "Nguyễn Thị Đào", "1990-05-01")}.get(cid)


def dose(n, when, version=1, product="EU/1/21/1529"):
    return DoseRecord("F1", f"R{n}", version, f"digest-{n}-{version}", n, when, product)


@pytest.fixture(scope="module")
def chain():
    return Chain("ES256")


@pytest.fixture
def world(chain):
    store, doses = MemoryPassports(), Doses()
    doses.by_cid["001090012345"] = [dose(1, date(2021, 7, 1)), dose(2, date(2021, 9, 1))]
    doses.attest(*doses.by_cid["001090012345"])
    svc = CountersignService(store, doses, Identities(), lambda now: chain.signer, lambda: SIGN_AT,
                             seeded_bytes(3), country="VN", issuer="VN",
                             authority="Ministry of Health of Viet Nam", valid_days=365)
    return svc, store, doses


def request(doses):
    return CountersignRequest("001090012345", [{"facility_id": d.facility_id, "record_id": d.record_id,
                                                "version": d.version, "digest": d.digest} for d in doses],
                              {"batch_id": "sb-1", "sequence": 1})


def test_issues_from_the_registry_identity_and_the_latest_dose(world, chain):
    svc, store, doses = world
    [out] = svc.countersign([request(doses.by_cid["001090012345"])])
    assert (out.status, out.version) == ("issued", 1)
    passport = store.versions["001090012345"][0]
    result = verify_hc1(passport.hc1, chain.trust, now=SIGN_AT + timedelta(days=1))
    assert result.valid, result.errors
    v = result.payload["v"][0]
    assert (v["dn"], v["sd"], v["dt"], v["ci"]) == (2, 2, "2021-09-01", out.uvci)
    assert result.payload["nam"] == {"fn": "Nguyễn", "gn": "Thị Đào", "fnt": "NGUYEN", "gnt": "THI<DAO"}
    assert passport.display["labels"]["vi"]["name"] == "Họ và tên"
    assert passport.attestation == {"batch_id": "sb-1", "sequence": 1}


def test_a_redelivered_request_issues_nothing_new(world):
    svc, store, doses = world
    req = request(doses.by_cid["001090012345"])
    svc.countersign([req])
    [again] = svc.countersign([req])
    assert again.status == "unchanged" and len(store.versions["001090012345"]) == 1


def test_a_new_dose_issues_version_two_and_revokes_version_one(world, chain):
    svc, store, doses = world
    svc.countersign([request(doses.by_cid["001090012345"])])
    first = store.versions["001090012345"][0]
    doses.by_cid["001090012345"].append(dose(3, date(2022, 3, 1)))
    doses.attest(doses.by_cid["001090012345"][-1])
    [out] = svc.countersign([request(doses.by_cid["001090012345"][-1:])])
    assert (out.status, out.version) == ("issued", 2)
    revoked = RevocationList.from_json(revocation_list_json(store.revoked))
    first_result = verify_hc1(first.hc1, chain.trust, now=SIGN_AT + timedelta(days=1), revocation=revoked)
    assert not first_result.valid and "REVOKED" in first_result.errors
    second = store.versions["001090012345"][1]
    assert verify_hc1(second.hc1, chain.trust, now=SIGN_AT + timedelta(days=1), revocation=revoked).valid
    assert base64.b64decode(second.signature_b64) != base64.b64decode(first.signature_b64)


def test_a_record_changed_after_the_manifest_is_not_countersigned_from_it(world):
    svc, store, doses = world
    manifest = request(doses.by_cid["001090012345"])
    doses.by_cid["001090012345"][1] = dose(2, date(2021, 9, 2), version=2)  # corrected after signing
    [out] = svc.countersign([manifest])
    assert out.status == "stale" and out.detail == ["R2"]
    assert "001090012345" not in store.versions


def test_attack_unattested_dose_is_neither_shown_nor_part_of_the_passport(world, chain):
    """A later dose verified at another facility but signed by no facility head stays off the
    passport; the attested doses make it, and once dose 3 is attested it is re-issued with it."""
    svc, store, doses = world
    other = DoseRecord("F2", "R3", 1, "digest-3-1", 3, date(2022, 3, 1), "EU/1/21/1529")
    doses.by_cid["001090012345"].append(other)  # verified, unsigned
    [out] = svc.countersign([request(doses.by_cid["001090012345"][:1])])
    first = store.versions["001090012345"][0]
    v = verify_hc1(first.hc1, chain.trust, now=SIGN_AT + timedelta(days=1)).payload["v"][0]
    assert (out.status, v["dn"], v["dt"], first.display["doses_on_record"]) == ("issued", 2, "2021-09-01", 2)
    doses.attest(other)
    [again] = svc.countersign([request([other])])
    second = store.versions["001090012345"][1]
    assert (again.status, again.version) == ("issued", 2) and second.display["dose"] == 3
    assert second.content_digest != first.content_digest


def test_a_concurrent_writer_wins_and_this_one_reports_the_lost_race(world):
    svc, store, doses = world
    store.refuse_next = True
    [out] = svc.countersign([request(doses.by_cid["001090012345"])])
    assert out.status == "lost_race"


def test_series_doses_follow_the_product():
    assert series_doses("EU/1/20/1525", 1) == 1
    assert series_doses("EU/1/21/1529", 1) == 2
    assert series_doses("EU/1/20/1528", 3) == 3


def test_a_person_who_cannot_get_a_dcc_is_refused_without_stopping_the_others(world):
    svc, store, doses = world
    unknown = CountersignRequest("079000000001", [], {"batch_id": "sb-1", "sequence": 1})
    outcomes = {o.citizen_id: o for o in svc.countersign([unknown, request(doses.by_cid["001090012345"])])}
    assert outcomes["001090012345"].status == "issued"
    assert (outcomes["079000000001"].status, outcomes["079000000001"].detail) == ("refused", ["NOT_FOUND"])
