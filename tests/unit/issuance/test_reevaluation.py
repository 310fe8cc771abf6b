"""Re-evaluation of a person's passport from their attested doses alone, with a local DSC key and
fakes (tests/fakes/): the pure rules (`next_step`, the re-evaluated version's attestation, the queue
message), the use case, and the cleaning worker that queues the person a dose moved away from.
The whole path through intake, cleaning, the countersign queue and KMS is tested on LocalStack in
tests/integration/test_hold_and_reevaluation.py."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from chalicelib import errors
from chalicelib.cleaning.worker import moved_away_from
from chalicelib.dcc import verify_hc1
from chalicelib.intake.records import RegistryPerson
from chalicelib.issuance.domain import (ISSUE, NOTHING_HELD, NOTHING_NO_PASSPORT, NOTHING_UNCHANGED, REVOKE,
                                        DoseRecord, PassportState, next_step, reevaluated_attestation,
                                        reevaluation_target)
from tests.fakes import FakeCountersignQueue, FakeRecords, InMemoryRegistry, fake_container
from tests.unit.dcc.conftest import SIGN_AT
from tests.unit.issuance.test_countersign import all_doses, chain, request, world  # noqa: F401 (fixtures)

CID = "001090012345"


# -- the pure rules -------------------------------------------------------------------------------
ACTIVE = PassportState("d1", revoked=False, held=False)
REVOKED = PassportState("d1", revoked=True, held=False)
HELD = PassportState("d1", revoked=True, held=True)


@pytest.mark.parametrize("current, digest, first_issue, step", [
    (None, "d1", True, ISSUE),  # a countersign issues the first passport
    (None, "d1", False, NOTHING_NO_PASSPORT),  # a re-evaluation never does
    (None, None, False, NOTHING_NO_PASSPORT),
    (ACTIVE, "d1", False, NOTHING_UNCHANGED),  # a redelivered or forged message
    (ACTIVE, "d1", True, NOTHING_UNCHANGED),
    (ACTIVE, "d2", False, ISSUE),  # a dose moved away: re-issued from what remains
    (ACTIVE, None, False, REVOKE),  # nothing attested remains
    (REVOKED, None, False, NOTHING_UNCHANGED),  # revoked already
    (REVOKED, "d1", False, ISSUE),  # a lifted hold: a new version even with the same content
    (REVOKED, "d1", True, ISSUE),
    (HELD, "d1", False, NOTHING_HELD),  # held: nothing, whatever the content
    (HELD, "d2", True, NOTHING_HELD),
    (HELD, None, False, NOTHING_HELD),
])
def test_next_step(current, digest, first_issue, step):
    assert next_step(current, digest, first_issue=first_issue) == step


def test_a_reevaluated_version_says_so_names_its_batches_and_books_on_the_dose_it_shows():
    d1 = DoseRecord("F1", "R1", 1, "x", 1, date(2021, 7, 1), "EU/1/21/1529", "001", "SB1")
    d2 = DoseRecord("F2", "R2", 1, "y", 2, date(2021, 9, 1), "EU/1/21/1529", "079", "SB2")
    d3 = DoseRecord("F2", "R3", 1, "z", 3, date(2021, 12, 1), "EU/1/21/1529", "079", "SB2")
    assert reevaluated_attestation([d1, d2, d3], d3, 41) == {
        "kind": "re-evaluation", "batches": ["SB1", "SB2"], "facility_id": "F2", "province_code": "079",
        "sequence": 41}


@pytest.mark.parametrize("body", [
    None, [], "x", {"kind": "reevaluate"}, {"kind": "reevaluate", "citizen_id": 1},
    {"kind": "reevaluate", "citizen_id": "00109001234"},
    {"kind": "reevaluate", "citizen_id": "００１０９００１２３４５"},
    {"kind": "reevaluate", "citizen_id": "001090012345", "doses": []},
    {"kind": "reevaluate", "citizen_id": "x" * 10**5},
    {"kind": "facility-attested", "citizen_id": "001090012345"},
])
def test_attack_a_malformed_reevaluate_message_is_refused(body):
    with pytest.raises(errors.ValidationError):
        reevaluation_target(body)


def test_a_reevaluate_message_names_one_citizen():
    assert reevaluation_target({"kind": "reevaluate", "citizen_id": CID}) == CID
    assert reevaluation_target({"kind": "reevaluate", "citizen_id": "123456789"}) == "123456789"


# -- the use case ---------------------------------------------------------------------------------
@pytest.fixture
def issued(world):
    [out] = world.svc.countersign([request(all_doses(world))])
    assert out.status == "issued"
    return world


class CountingSigner:
    def __init__(self, signer):
        self.inner, self.calls = signer, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def sign_many(self, messages):
        self.calls += len(messages)
        return self.inner.sign_many(messages)


def move_away(world, record_id: str, to: str = "079000000001") -> None:
    """The record's dose now belongs to someone else (a correction, re-verified)."""
    world.records.mark_cleaned(("F1", record_id), matched_citizen_id=to)


def test_attack_a_reevaluation_of_unchanged_data_issues_nothing(issued, chain):
    counting = CountingSigner(chain.signer)
    svc = fake_container(registry=issued.container.registry, dose_source=issued.records,
                         passports=issued.passports, key_ring=lambda now: counting, clock=lambda: SIGN_AT).countersign
    out = svc.reevaluate(CID)
    assert (out.status, out.version) == ("unchanged", 1) and len(issued.versions()) == 1
    assert counting.calls == 0 and issued.passports.entries() == []


def test_a_dose_moved_away_reissues_from_the_doses_that_remain(issued, chain):
    first = issued.versions()[0]
    move_away(issued, "R2")
    out = issued.svc.reevaluate(CID)
    assert (out.status, out.version) == ("issued", 2)
    second = issued.versions()[1]
    assert second.display["dose"] == 1 and second.display["doses_on_record"] == 1
    assert second.attestation == {"kind": "re-evaluation", "batches": ["SB1"], "facility_id": "F1",
                                  "province_code": "001", "sequence": 1}
    revoked = issued.revoked()
    later = SIGN_AT + timedelta(days=1)
    assert "REVOKED" in verify_hc1(first.hc1, chain.trust, now=later, revocation=revoked).errors
    assert verify_hc1(second.hc1, chain.trust, now=later, revocation=revoked).valid


def test_no_attested_dose_left_revokes_the_passport_without_a_hold(issued):
    move_away(issued, "R1")
    move_away(issued, "R2")
    out = issued.svc.reevaluate(CID)
    assert (out.status, out.version, out.detail) == ("revoked", 1, ["no attested dose remains"])
    assert issued.passports.status(CID, 1)["reason"] == "no attested dose remains"
    assert issued.passports.hold(CID) is None
    assert sorted(e["type"] for e in issued.passports.entries()) == ["COUNTRYCODEUCI", "SIGNATURE", "UCI"]
    # and again: revoked already, nothing more
    assert issued.svc.reevaluate(CID).status == "unchanged" and len(issued.passports.entries()) == 3
    # a later attestation issues a new version over it, nothing listed twice
    third = issued.give(3, date(2022, 3, 1))
    [again] = issued.svc.countersign([request([third])])
    assert (again.status, again.version) == ("issued", 2) and len(issued.passports.entries()) == 3


def test_attack_a_reevaluation_of_a_held_person_issues_nothing(issued):
    issued.passports.revoke_by_ministry(CID, 9)
    move_away(issued, "R2")
    assert issued.svc.reevaluate(CID).status == "held"
    move_away(issued, "R1")
    assert issued.svc.reevaluate(CID).status == "held"
    assert len(issued.versions()) == 1 and issued.passports.entries() == []


def test_a_lifted_person_gets_a_new_version_from_the_same_attested_doses(issued):
    issued.passports.revoke_by_ministry(CID, 9)
    del issued.passports.holds[CID]
    out = issued.svc.reevaluate(CID)
    assert (out.status, out.version) == ("issued", 2)
    assert issued.passports.entries() == []  # the revoked version is listed by its revocation, not again


def test_nobody_without_a_passport_gets_one_from_a_reevaluation(world):
    assert world.svc.reevaluate(CID).status == "no_passport" and world.passports.pointers == {}
    assert world.svc.reevaluate("079000000001").status == "no_passport"


def test_a_lost_race_is_reported_for_a_retry(issued):
    move_away(issued, "R2")
    issued.passports.refuse_next = True
    assert issued.svc.reevaluate(CID).status == "lost_race"


# -- the cleaning worker queues the person a dose moved away from --------------------------------
PEOPLE = [RegistryPerson("001090012345", "Nguyễn Thị Đào", date(1990, 5, 1), "F", "001"),
          RegistryPerson("001088054321", "Trần Văn Bình", date(1988, 3, 2), "M", "001")]


def worker_over(records: FakeRecords, queue: FakeCountersignQueue):
    return fake_container(record_store=records, cleaning_repository=records, reevaluations=queue,
                          registry=InMemoryRegistry(PEOPLE)).verification


def stored_version(records: FakeRecords, record_id, person, *, previous, cleaned=False, moved_from=None):
    """Version 2 of a record, typed as `person`'s dose, whose last cleaned version matched `previous`."""
    key = records.add("F1", record_id, person.citizen_id, full_name=person.full_name,
                      date_of_birth=person.date_of_birth.isoformat(), sex=person.sex, version=2,
                      state="VERIFIED" if cleaned else "PENDING")
    records.items[key].update(matched_citizen_id=previous, moved_from_citizen_id=moved_from,
                              counted_state="VERIFIED", cleaned_version=2 if cleaned else 1)
    return key


def test_moved_away_from():
    assert moved_away_from("A", "B") == "A" and moved_away_from("A", None) == "A"
    assert moved_away_from("A", "A") is None and moved_away_from(None, "B") is None


def test_the_cleaning_worker_queues_each_person_a_dose_moved_away_from_once_per_chunk():
    dao, binh = PEOPLE
    records, queue = FakeRecords(), FakeCountersignQueue()
    stored_version(records, "R1", binh, previous=dao.citizen_id)  # corrected to Bình: Đào is queued
    stored_version(records, "R2", binh, previous=dao.citizen_id)  # and again: one message for her
    stored_version(records, "R3", dao, previous=dao.citizen_id)  # still Đào: nobody
    stored_version(records, "R4", dao, previous=None)  # never matched before: nobody
    stats = worker_over(records, queue).verify([("F1", r, 2) for r in ("R1", "R2", "R3", "R4")])
    assert stats.verified == 4 and queue.reevaluated == [dao.citizen_id] and stats.reevaluations == 1
    assert records.items[("F1", "R1")]["moved_from_citizen_id"] == dao.citizen_id


def test_a_redelivered_cleaning_message_queues_again_what_a_crash_may_have_lost():
    dao, binh = PEOPLE
    records, queue = FakeRecords(), FakeCountersignQueue()
    stored_version(records, "R1", binh, previous=binh.citizen_id, cleaned=True, moved_from=dao.citizen_id)
    stats = worker_over(records, queue).verify([("F1", "R1", 2)])
    assert (stats.skipped_done, records.requests["save_results"], queue.reevaluated) == (1, 0, [dao.citizen_id])


def test_a_chunk_where_no_dose_moved_sends_nothing():
    dao, _ = PEOPLE
    records, queue = FakeRecords(), FakeCountersignQueue()
    stored_version(records, "R1", dao, previous=dao.citizen_id)
    worker_over(records, queue).verify([("F1", "R1", 2)])
    assert queue.messages == []
