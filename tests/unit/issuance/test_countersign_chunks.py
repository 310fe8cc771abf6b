"""Countersigning works per chunk: the real CountersignService over the fakes, counting what each
port is asked (the adapters' requests on LocalStack are counted by bench/bench_countersign.py and
their conditions checked by tests/contracts/test_passports.py)."""
from __future__ import annotations

from datetime import date

import pytest

from chalicelib.intake.records import RegistryPerson
from chalicelib.issuance.service import CountersignRequest
from tests.fakes import FakePassports, InMemoryRegistry, fake_container
from tests.unit.dcc.conftest import SIGN_AT, Chain, seeded_bytes

PEOPLE = [RegistryPerson(f"0010900123{i:02d}", f"Nguyễn Văn An {c}", date(1990, 5, 1 + i), "M", "001")
          for i, c in enumerate("ABCDE")]
CIDS = [p.citizen_id for p in PEOPLE]


@pytest.fixture(scope="module")
def chain():
    return Chain("ES256")


class World:
    def __init__(self, chain: Chain, passports: FakePassports | None = None) -> None:
        overrides = {"passports": passports} if passports is not None else {}
        self.c = fake_container(registry=InMemoryRegistry(PEOPLE), key_ring=lambda now: chain.signer,
                                clock=lambda: SIGN_AT, random_bytes=seeded_bytes(5), **overrides)
        self.svc, self.records, self.passports = self.c.countersign, self.c.dose_source, self.c.passports
        if passports is not None:
            self.passports.counters = self.c.counters

    def attest(self, cid: str, record_id: str, batch: str, *, dose: int = 1, when: str = "2021-07-01",
               facility: str = "F1"):
        """What a facility's attested batch leaves before countersigning: the claim noted, the record signed."""
        self.passports.open_claims(batch, [cid], SIGN_AT)
        key = self.records.add(facility, record_id, cid, dose=dose, date=when, product="EU/1/21/1529",
                               signed_batch=batch)
        return self.records.dose(key)

    def request(self, cid: str, doses, batch: str) -> CountersignRequest:
        return CountersignRequest(cid, [{"facility_id": d.facility_id, "record_id": d.record_id,
                                         "version": d.version, "digest": d.digest} for d in doses],
                                  {"batch_id": batch, "sequence": 1, "facility_id": "F1", "province_code": "001"})

    def chunk(self, batch: str = "SB1") -> list[CountersignRequest]:
        return [self.request(cid, [self.attest(cid, f"R{i}", batch)], batch) for i, cid in enumerate(CIDS)]

    def issued(self) -> int:
        return self.c.counters.items.get(("NATIONAL", "TOTAL"), {}).get("passports_issued", 0)


@pytest.fixture
def world(chain) -> World:
    return World(chain)


def test_a_chunk_is_read_once_and_stored_once_whatever_its_size(world):
    outcomes = world.svc.countersign(world.chunk())
    assert [o.status for o in outcomes] == ["issued"] * len(CIDS)
    p, r = world.passports.requests, world.records.requests
    assert (p["current_many"], p["save_many"], p["current"], p["save_new"]) == (1, 1, 0, 0)
    # the manifest names every dose and nobody has another claim open: no citizen-index search
    assert (r["attested_doses"], r["citizen_index_query"]) == (1, 0)
    assert world.issued() == len(CIDS)
    # each passport names the doses it rests on and the batch they were attested in
    current = world.passports.current(CIDS[0])
    assert (current.dose_keys, current.dose_batches) == ((("F1", "R0"),), frozenset({"SB1"}))


def test_a_redelivered_chunk_issues_no_second_passport_and_counts_nothing_twice(world):
    chunk = world.chunk()
    world.svc.countersign(chunk)
    again = world.svc.countersign(chunk)
    assert [o.status for o in again] == ["unchanged"] * len(CIDS)
    assert all(len(world.passports.versions(cid)) == 1 for cid in CIDS) and world.issued() == len(CIDS)


class LosesOneRace(FakePassports):
    """Another worker stores a version for one person between this worker's read and its store."""

    def __init__(self, victim: str) -> None:
        super().__init__()
        self.victim = victim

    def save_many(self, writes, now):
        theirs = next(w.passport for w in writes if w.passport.citizen_id == self.victim)
        self.issue(self.victim, 1, f"URN:UVCI:01:VN:OTHER{theirs.uvci[-8:]}")
        return super().save_many(writes, now)


def test_a_lost_race_leaves_out_only_its_person_and_the_retry_settles_them(chain):
    world = World(chain, LosesOneRace(CIDS[2]))
    chunk = world.chunk()
    outcomes = world.svc.countersign(chunk)
    assert [o.status for o in outcomes] == ["issued", "issued", "lost_race", "issued", "issued"]
    # the others' passports and counts are stored; the loser has the other worker's version only
    assert world.issued() == len(CIDS) and [v.version for v in world.passports.versions(CIDS[2])] == [1]
    world.passports.save_many = FakePassports.save_many.__get__(world.passports)  # no more races
    retry = world.svc.countersign(chunk)  # the message is retried: the loser re-read, issued over it
    assert [o.status for o in retry] == ["unchanged", "unchanged", "issued", "unchanged", "unchanged"]
    assert [v.version for v in world.passports.versions(CIDS[2])] == [1, 2]
    assert all(len(world.passports.versions(cid)) == 1 for cid in CIDS if cid != CIDS[2])


def test_attack_a_dose_left_claimed_by_another_batch_is_searched_for_not_dropped(world):
    """A batch whose passport was never stored (a crash after its claim, a stale entry) leaves its
    claim open: the person's next countersign searches their records, so that dose is on it."""
    cid = CIDS[0]
    world.attest(cid, "OLD", "SB0", dose=2, when="2021-09-01")  # claimed by SB0, never issued
    new = world.attest(cid, "NEW", "SB1", dose=1, when="2021-07-01")
    [out] = world.svc.countersign([world.request(cid, [new], "SB1")])
    assert out.status == "issued" and world.records.requests["citizen_index_query"] == 1
    assert world.passports.current(cid).dose_keys == (("F1", "NEW"), ("F1", "OLD"))
    # both claims are covered by the passport now: the next batch trusts it
    newer = world.attest(cid, "NEWER", "SB2", dose=3, when="2022-03-01")
    [again] = world.svc.countersign([world.request(cid, [newer], "SB2")])
    assert again.status == "issued" and world.records.requests["citizen_index_query"] == 1
    assert world.passports.current(cid).dose_keys == (("F1", "NEW"), ("F1", "NEWER"), ("F1", "OLD"))


def test_a_passport_that_does_not_name_its_doses_makes_its_person_searched(world):
    cid = CIDS[0]
    world.passports.issue(cid, 1, "URN:UVCI:01:VN:LEGACY0001")  # stored before passports named their doses
    new = world.attest(cid, "NEW", "SB1", dose=2, when="2021-09-01")
    [out] = world.svc.countersign([world.request(cid, [new], "SB1")])
    assert out.status == "issued" and world.records.requests["citizen_index_query"] == 1


def test_attack_a_person_named_twice_in_a_chunk_gets_one_passport(world):
    cid = CIDS[0]
    one = world.attest(cid, "R1", "SB1")
    two = world.attest(cid, "R2", "SB1", dose=2, when="2021-09-01")
    outcomes = world.svc.countersign([world.request(cid, [one], "SB1"), world.request(cid, [two], "SB1")])
    assert [o.status for o in outcomes] == ["issued", "issued"] and outcomes[0].uvci == outcomes[1].uvci
    assert len(world.passports.versions(cid)) == 1 and world.issued() == 1
    assert world.passports.current(cid).dose_keys == (("F1", "R1"), ("F1", "R2"))
