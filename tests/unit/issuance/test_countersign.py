"""Countersigning rules: the real CountersignService, built by the composition root over the fakes
(tests/fakes/) with a local DSC key (the DynamoDB/KMS adapters have their own tests on LocalStack)."""
from __future__ import annotations

import base64
from datetime import date, timedelta

import pytest

from chalicelib.dcc import verify_hc1
from chalicelib.dcc.revocation import RevocationList, revocation_list_json
from chalicelib.intake.records import RegistryPerson
from chalicelib.issuance.domain import DoseRecord, series_doses
from chalicelib.issuance.service import CountersignRequest
from tests.fakes import InMemoryRegistry, fake_container
from tests.unit.dcc.conftest import SIGN_AT, Chain, seeded_bytes

CID = "001090012345"
PEOPLE = [RegistryPerson(CID, "Nguyễn Thị Đào", date(1990, 5, 1), "F", "001")]


class World:
    """The countersign use case over fakes: `records` (the records table), `passports`."""

    def __init__(self, chain: Chain) -> None:
        self.container = fake_container(registry=InMemoryRegistry(PEOPLE), key_ring=lambda now: chain.signer,
                                        clock=lambda: SIGN_AT, random_bytes=seeded_bytes(3))
        self.svc, self.records, self.passports = (self.container.countersign, self.container.dose_source,
                                                  self.container.passports)

    def give(self, n: int, when: date, *, cid: str = CID, version: int = 1, attested: bool = True,
             facility: str = "F1") -> DoseRecord:
        """Dose `n` of a person, verified, as stored (and attested by a facility head)."""
        key = self.records.add(facility, f"R{n}", cid, dose=n, date=when, version=version, product="EU/1/21/1529",
                               signed_batch="SB1" if attested else None)
        if attested:  # as the countersign worker notes it before it claims the record
            self.passports.open_claims("SB1", [cid], SIGN_AT)
        return self.records.dose(key)

    def versions(self, cid: str = CID):
        return self.passports.versions(cid)

    def revoked(self) -> RevocationList:
        return RevocationList.from_json(revocation_list_json(self.passports.entries()))


@pytest.fixture(scope="module")
def chain():
    return Chain("ES256")


@pytest.fixture
def world(chain) -> World:
    w = World(chain)
    w.give(1, date(2021, 7, 1))
    w.give(2, date(2021, 9, 1))
    return w


def request(doses, cid: str = CID):
    return CountersignRequest(cid, [{"facility_id": d.facility_id, "record_id": d.record_id,
                                     "version": d.version, "digest": d.digest} for d in doses],
                              {"batch_id": "sb-1", "sequence": 1})


def all_doses(w: World, cid: str = CID) -> list[DoseRecord]:
    return w.records.attested_doses([cid])[cid]


def test_issues_from_the_registry_identity_and_the_latest_dose(world, chain):
    [out] = world.svc.countersign([request(all_doses(world))])
    assert (out.status, out.version) == ("issued", 1)
    passport = world.versions()[0]
    result = verify_hc1(passport.hc1, chain.trust, now=SIGN_AT + timedelta(days=1))
    assert result.valid, result.errors
    v = result.payload["v"][0]
    assert (v["dn"], v["sd"], v["dt"], v["ci"]) == (2, 2, "2021-09-01", out.uvci)
    assert result.payload["nam"] == {"fn": "Nguyễn", "gn": "Thị Đào", "fnt": "NGUYEN", "gnt": "THI<DAO"}
    assert passport.display["labels"]["vi"]["name"] == "Họ và tên"
    assert passport.attestation == {"batch_id": "sb-1", "sequence": 1, "batches": ["SB1"]}


def test_a_version_names_every_batch_its_doses_were_attested_in(world):
    # Given a third dose attested in a later batch (SB9) whose message has not been processed yet
    key = world.records.add("F2", "R3", CID, dose=3, date=date(2022, 3, 1), product="EU/1/21/1529",
                            signed_batch="SB9")
    # When the earlier batch's attestation is countersigned (SQS keeps no order)
    world.svc.countersign([request(all_doses(world)[:2])])
    # Then the version shows the later batch's dose too, and says it rests on that batch
    assert world.records.dose(key) in all_doses(world)
    assert world.versions()[0].attestation["batches"] == ["SB1", "SB9"]


def test_a_redelivered_request_issues_nothing_new(world):
    req = request(all_doses(world))
    world.svc.countersign([req])
    [again] = world.svc.countersign([req])
    assert again.status == "unchanged" and len(world.versions()) == 1


def test_a_new_dose_issues_version_two_and_revokes_version_one(world, chain):
    world.svc.countersign([request(all_doses(world))])
    first = world.versions()[0]
    third = world.give(3, date(2022, 3, 1))
    [out] = world.svc.countersign([request([third])])
    assert (out.status, out.version) == ("issued", 2)
    revoked = world.revoked()
    first_result = verify_hc1(first.hc1, chain.trust, now=SIGN_AT + timedelta(days=1), revocation=revoked)
    assert not first_result.valid and "REVOKED" in first_result.errors
    second = world.versions()[1]
    assert verify_hc1(second.hc1, chain.trust, now=SIGN_AT + timedelta(days=1), revocation=revoked).valid
    assert base64.b64decode(second.signature_b64) != base64.b64decode(first.signature_b64)


def test_a_record_changed_after_the_manifest_is_not_countersigned_from_it(world):
    manifest = request(all_doses(world))
    world.give(2, date(2021, 9, 2), version=2, attested=False)  # corrected after signing: not attested
    [out] = world.svc.countersign([manifest])
    assert out.status == "stale" and out.detail == ["R2"]
    assert world.versions() == []


def test_attack_unattested_dose_is_neither_shown_nor_part_of_the_passport(world, chain):
    """A later dose verified at another facility but signed by no facility head stays off the
    passport; the attested doses make it, and once dose 3 is attested it is re-issued with it."""
    world.give(3, date(2022, 3, 1), facility="F2", attested=False)  # verified, unsigned
    [out] = world.svc.countersign([request(all_doses(world)[:1])])
    first = world.versions()[0]
    v = verify_hc1(first.hc1, chain.trust, now=SIGN_AT + timedelta(days=1)).payload["v"][0]
    assert (out.status, v["dn"], v["dt"], first.display["doses_on_record"]) == ("issued", 2, "2021-09-01", 2)
    world.records.attest(("F2", "R3"))
    [again] = world.svc.countersign([request([world.records.dose(("F2", "R3"))])])
    second = world.versions()[1]
    assert (again.status, again.version) == ("issued", 2) and second.display["dose"] == 3
    assert second.content_digest != first.content_digest


def test_a_concurrent_writer_wins_and_this_one_reports_the_lost_race(world):
    world.passports.refuse_next = True
    [out] = world.svc.countersign([request(all_doses(world))])
    assert out.status == "lost_race"


def test_series_doses_follow_the_product():
    assert series_doses("EU/1/20/1525", 1) == 1
    assert series_doses("EU/1/21/1529", 1) == 2
    assert series_doses("EU/1/20/1528", 3) == 3


def test_a_person_who_cannot_get_a_dcc_is_refused_without_stopping_the_others(world):
    unknown = CountersignRequest("079000000001", [], {"batch_id": "sb-1", "sequence": 1})
    outcomes = {o.citizen_id: o for o in world.svc.countersign([unknown, request(all_doses(world))])}
    assert outcomes["001090012345"].status == "issued"
    assert (outcomes["079000000001"].status, outcomes["079000000001"].detail) == ("refused", ["NOT_FOUND"])
