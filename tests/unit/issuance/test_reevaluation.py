"""Re-evaluation of a person's passport from their attested doses alone, with a local DSC key and
in-memory ports: the pure rules (`next_step`, the re-evaluated version's attestation, the queue
message), the use case, and the cleaning worker that queues the person a dose moved away from.
The whole path through intake, cleaning, the countersign queue and KMS is tested on LocalStack in
tests/integration/test_hold_and_reevaluation.py."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from chalicelib import errors
from chalicelib.cleaning import InMemoryRegistry, Matcher
from chalicelib.cleaning.worker import RecordForCleaning, VerificationWorker, moved_away_from
from chalicelib.dcc import verify_hc1
from chalicelib.dcc.revocation import RevocationList, revocation_list_json
from chalicelib.intake.records import RegistryPerson
from chalicelib.issuance.domain import (ISSUE, NOTHING_HELD, NOTHING_NO_PASSPORT, NOTHING_UNCHANGED, REVOKE,
                                        DoseRecord, PassportState, next_step, reevaluated_attestation,
                                        reevaluation_target)
from tests.unit.dcc.conftest import SIGN_AT
from tests.unit.issuance.test_countersign import chain, dose, request, world  # noqa: F401 (fixtures)

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
    svc, store, doses = world
    [out] = svc.countersign([request(doses.by_cid[CID])])
    assert out.status == "issued"
    return svc, store, doses


class CountingSigner:
    def __init__(self, signer):
        self.inner, self.calls = signer, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def sign_many(self, messages):
        self.calls += len(messages)
        return self.inner.sign_many(messages)


def test_attack_a_reevaluation_of_unchanged_data_issues_nothing(issued, chain):
    svc, store, doses = issued
    counting = CountingSigner(chain.signer)
    svc._signer = lambda now: counting
    out = svc.reevaluate(CID)
    assert (out.status, out.version) == ("unchanged", 1) and len(store.versions[CID]) == 1
    assert counting.calls == 0 and store.revoked == []


def test_a_dose_moved_away_reissues_from_the_doses_that_remain(issued, chain):
    svc, store, doses = issued
    first = store.versions[CID][0]
    doses.by_cid[CID].pop()  # dose 2 now belongs to someone else
    out = svc.reevaluate(CID)
    assert (out.status, out.version) == ("issued", 2)
    second = store.versions[CID][1]
    assert second.display["dose"] == 1 and second.display["doses_on_record"] == 1
    assert second.attestation == {"kind": "re-evaluation", "batches": [], "facility_id": "F1",
                                  "province_code": None, "sequence": 1}
    revoked = RevocationList.from_json(revocation_list_json(store.revoked))
    later = SIGN_AT + timedelta(days=1)
    assert "REVOKED" in verify_hc1(first.hc1, chain.trust, now=later, revocation=revoked).errors
    assert verify_hc1(second.hc1, chain.trust, now=later, revocation=revoked).valid


def test_no_attested_dose_left_revokes_the_passport_without_a_hold(issued):
    svc, store, doses = issued
    doses.by_cid[CID] = []
    out = svc.reevaluate(CID)
    assert (out.status, out.version, out.detail) == ("revoked", 1, ["no attested dose remains"])
    assert store.revoked_in_place == {(CID, 1): "no attested dose remains"} and CID not in store.holds
    assert [e["type"] for e in store.revoked] == ["UCI", "COUNTRYCODEUCI", "SIGNATURE"]
    # and again: revoked already, nothing more
    assert svc.reevaluate(CID).status == "unchanged" and len(store.revoked) == 3
    # a later attestation issues a new version over it, nothing listed twice
    doses.by_cid[CID] = [dose(3, date(2022, 3, 1))]
    doses.attest(*doses.by_cid[CID])
    [again] = svc.countersign([request(doses.by_cid[CID])])
    assert (again.status, again.version) == ("issued", 2) and len(store.revoked) == 3


def test_attack_a_reevaluation_of_a_held_person_issues_nothing(issued):
    svc, store, doses = issued
    store.revoke_by_ministry(CID, 9)
    doses.by_cid[CID].pop()
    assert svc.reevaluate(CID).status == "held"
    doses.by_cid[CID] = []
    assert svc.reevaluate(CID).status == "held"
    assert len(store.versions[CID]) == 1 and store.revoked == []


def test_a_lifted_person_gets_a_new_version_from_the_same_attested_doses(issued):
    svc, store, doses = issued
    store.revoke_by_ministry(CID, 9)
    del store.holds[CID]
    out = svc.reevaluate(CID)
    assert (out.status, out.version) == ("issued", 2)
    assert store.revoked == []  # the revoked version is listed by its revocation, not again


def test_nobody_without_a_passport_gets_one_from_a_reevaluation(world):
    svc, store, doses = world
    assert svc.reevaluate(CID).status == "no_passport" and store.versions == {}
    assert svc.reevaluate("079000000001").status == "no_passport"


def test_a_lost_race_is_reported_for_a_retry(issued):
    svc, store, doses = issued
    doses.by_cid[CID].pop()
    store.refuse_next = True
    assert svc.reevaluate(CID).status == "lost_race"


# -- the cleaning worker queues the person a dose moved away from --------------------------------
PEOPLE = [RegistryPerson("001090012345", "Nguyễn Thị Đào", date(1990, 5, 1), "F", "001"),
          RegistryPerson("001088054321", "Trần Văn Bình", date(1988, 3, 2), "M", "001")]


class Repo:
    def __init__(self, records):
        self.records = {(r.facility_id, r.record_id): r for r in records}
        self.saved = []

    def load(self, keys):
        return {k: self.records[k] for k in keys if k in self.records}

    def save_result(self, record, result, view, now):
        self.saved.append((record.record_id, result.matched_citizen_id))
        return True


class Queue:
    def __init__(self):
        self.calls = []

    def reevaluate(self, citizen_ids):
        self.calls.append(list(citizen_ids))
        return len(citizen_ids)


def _rec(record_id, person, *, previous, version=2, cleaned=1, moved_from=None):
    data = {"record_id": record_id, "facility_id": "F1", "citizen_id": person.citizen_id,
            "full_name": person.full_name, "date_of_birth": person.date_of_birth.isoformat(), "sex": person.sex,
            "province_code": "001", "vaccine_product": "EU/1/21/1529", "dose_number": "1",
            "vaccination_date": "2021-08-01"}
    return RecordForCleaning("F1", record_id, "001", version, cleaned, "VERIFIED", None, data, data,
                             matched_citizen_id=previous, moved_from=moved_from)


def test_moved_away_from():
    assert moved_away_from("A", "B") == "A" and moved_away_from("A", None) == "A"
    assert moved_away_from("A", "A") is None and moved_away_from(None, "B") is None


def test_the_cleaning_worker_queues_each_person_a_dose_moved_away_from_once_per_chunk():
    dao, binh = PEOPLE
    records = [_rec("R1", binh, previous=dao.citizen_id),  # corrected to Bình: Đào is queued
               _rec("R2", binh, previous=dao.citizen_id),  # and again: one message for her
               _rec("R3", dao, previous=dao.citizen_id),  # still Đào: nobody
               _rec("R4", dao, previous=None)]  # never matched before: nobody
    repo, queue = Repo(records), Queue()
    worker = VerificationWorker(repo, Matcher(InMemoryRegistry(PEOPLE)), lambda: datetime.now(timezone.utc), queue)
    stats = worker.verify([("F1", r.record_id, 2) for r in records])
    assert stats.verified == 4 and queue.calls == [[dao.citizen_id]] and stats.reevaluations == 1


def test_a_redelivered_cleaning_message_queues_again_what_a_crash_may_have_lost():
    dao, binh = PEOPLE
    done = _rec("R1", binh, previous=binh.citizen_id, cleaned=2, moved_from=dao.citizen_id)
    repo, queue = Repo([done]), Queue()
    worker = VerificationWorker(repo, Matcher(InMemoryRegistry(PEOPLE)), lambda: datetime.now(timezone.utc), queue)
    stats = worker.verify([("F1", "R1", 2)])
    assert (stats.skipped_done, repo.saved, queue.calls) == (1, [], [[dao.citizen_id]])


def test_a_chunk_where_no_dose_moved_sends_nothing():
    dao, _ = PEOPLE
    repo, queue = Repo([_rec("R1", dao, previous=dao.citizen_id)]), Queue()
    VerificationWorker(repo, Matcher(InMemoryRegistry(PEOPLE)), lambda: datetime.now(timezone.utc),
                       queue).verify([("F1", "R1", 2)])
    assert queue.calls == []
