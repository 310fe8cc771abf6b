"""The records table: FakeRecords (tests/fakes/records.py) and the DynamoDB adapters that share the
table (aws/intake_adapters.py, cleaning_adapters.py, signing_adapters.py, issuance_adapters.py,
complaints_adapters.py) keep the same conditions: conditional versions and earlier digests
(intake), one cleaning per version (cleaning worker), reservations and signatures held by one
batch (facility signing, countersign worker), attested doses and a citizen's own records."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from chalicelib.cleaning.matcher import CleaningResult, Outcome
from chalicelib.cleaning.worker import Cleaned
from chalicelib.intake.records import validate_row
from chalicelib.intake.service import NewRecord
from tests.contracts.conftest import BOTH, FAKE, OneTable, real
from tests.fakes import FakeRecords

NOW = datetime(2026, 1, 5, tzinfo=timezone.utc)
CID, OTHER = "001090012345", "079188054321"

def table_records(c) -> OneTable:
    """The DynamoDB adapters of the records table, behind one object as FakeRecords is one."""
    return OneTable(c.record_store, c.cleaning_repository, c.record_reader, c.pending_records, c.signing_records,
                    c.dose_source, c.citizen_records)


@pytest.fixture(params=BOTH)
def records(request):
    return FakeRecords() if request.param == FAKE else table_records(real(request))


@pytest.fixture
def facility(unique) -> str:
    return f"C{unique}"


def record(facility: str, record_id: str, lot: str = "L1", *, citizen: str = CID, dose: int = 1,
           when: str = "2021-08-20"):
    return validate_row({"record_id": record_id, "facility_id": facility, "citizen_id": citizen,
                         "full_name": "Nguyễn Văn An", "date_of_birth": "1990-05-17", "province_code": "001",
                         "vaccine_product": "AstraZeneca", "lot_number": lot, "dose_number": str(dose),
                         "vaccination_date": when}, row_number=1)


def clean(records, key, outcome: Outcome = Outcome.VERIFIED, matched: str | None = CID) -> bool:
    """What the cleaning worker does with the stored version of `key`."""
    rec = records.load([key])[key]
    result = CleaningResult(key[1], outcome, matched_citizen_id=matched)
    return records.save_results([Cleaned(rec, result, {"outcome": outcome.value})], NOW) == {key}


def verified(records, facility: str, record_id: str, citizen: str = CID, **kw) -> tuple[str, str]:
    """A record stored by intake and verified by the cleaning worker, matched to `citizen`."""
    assert records.put_many([NewRecord(record(facility, record_id, citizen=citizen, **kw), "b1", 1)], NOW) == set()
    assert clean(records, (facility, record_id), matched=citizen)
    return (facility, record_id)


def attest(records, keys, batch_id: str = "SB1", now: datetime = NOW) -> set:
    """A facility head's batch: the records reserved for it, then signed (the countersign worker's claim)."""
    chosen = [c for f in {k[0] for k in keys} for c in records.candidates(f, max_people=100, now=now) if c.key in keys]
    records.reserve(batch_id, chosen, until=now + timedelta(days=3), now=now)
    return records.mark_signed(batch_id, list(keys), now)


class TestRecordStoreContract:
    def test_a_new_record_is_written_once(self, records, facility):
        assert records.put_many([NewRecord(record(facility, "R1", "L1"), "b1", 1)], NOW) == set()
        # a second writer who also read "absent" loses
        assert records.put_many([NewRecord(record(facility, "R1", "L2"), "b2", 1)], NOW) == {(facility, "R1")}
        got = records.get_many([(facility, "R1")])[(facility, "R1")]
        assert (got.version, got.batch_id, got.province_code, got.cleaned_version) == (1, "b1", "001", 0)

    def test_an_update_is_written_only_on_the_version_read(self, records, facility):
        records.put_many([NewRecord(record(facility, "R1", "L1"), "b1", 1)], NOW)
        v1 = records.get_many([(facility, "R1")])[(facility, "R1")]
        keys = {(facility, "R1")}
        assert records.put_many([NewRecord(record(facility, "R1", "L2"), "b2", 1, v1)], NOW) == set()
        assert records.put_many([NewRecord(record(facility, "R1", "L3"), "b3", 1, v1)], NOW) == keys  # stale read
        v2 = records.get_many([(facility, "R1")])[(facility, "R1")]
        assert v2.version == 2 and v2.earlier_digests == {v1.digest}
        assert v2.digest == record(facility, "R1", "L2").digest()

    def test_an_update_is_refused_over_a_cleaning_result_it_did_not_read(self, records, facility):
        records.put_many([NewRecord(record(facility, "R1", "L1"), "b1", 1)], NOW)
        v1 = records.get_many([(facility, "R1")])[(facility, "R1")]
        clean(records, (facility, "R1"))
        assert records.put_many([NewRecord(record(facility, "R1", "L2"), "b2", 1, v1)], NOW) == {(facility, "R1")}

    def test_a_batch_mixes_winners_and_losers(self, records, facility):
        records.put_many([NewRecord(record(facility, "R0", "L1"), "b1", 1)], NOW)
        batch = [NewRecord(record(facility, f"R{i}", "L1"), "b2", i) for i in range(150)]  # R0 exists: loses
        assert records.put_many(batch, NOW) == {(facility, "R0")}
        assert len(records.get_many([(facility, f"R{i}") for i in range(150)])) == 150

    def test_a_new_version_carries_the_citizen_the_last_cleaned_version_matched(self, records, facility):
        # The cleaning of the new version compares its match with this one to know whose passport
        # to re-evaluate when the dose moved to someone else.
        records.put_many([NewRecord(record(facility, "R1", "L1"), "b1", 1)], NOW)
        assert records.get_many([(facility, "R1")])[(facility, "R1")].matched_citizen_id is None
        clean(records, (facility, "R1"), matched=CID)
        v1 = records.get_many([(facility, "R1")])[(facility, "R1")]
        assert (v1.cleaned_version, v1.counted_state) == (1, "VERIFIED")
        assert records.put_many([NewRecord(record(facility, "R1", "L2"), "b2", 1, v1)], NOW) == set()
        v2 = records.get_many([(facility, "R1")])[(facility, "R1")]
        assert (v2.version, v2.cleaned_version, v2.matched_citizen_id, v2.counted_state) == (2, 0, CID, "VERIFIED")


class TestCleaningRepositoryContract:
    def test_a_version_is_loaded_as_stored_and_cleaned_once(self, records, facility):
        key = (facility, "R1")
        records.put_many([NewRecord(record(facility, "R1", "L1"), "b1", 7)], NOW)
        rec = records.load([key, (facility, "NOPE")])[key]
        assert (rec.version, rec.cleaned_version, rec.counted_state, rec.batch_id, rec.province_code) == (
            1, 0, None, "b1", "001")
        assert rec.data["lot_number"] == "L1" and rec.original["lot_number"] == "L1"
        assert records.load([(facility, "NOPE")]) == {}
        assert clean(records, key, Outcome.MISMATCH, matched=None)
        assert not clean(records, key)  # a redelivered message: this version is cleaned already
        again = records.load([key])[key]
        assert (again.cleaned_version, again.counted_state) == (1, "MISMATCH")

    def test_a_result_for_a_version_replaced_meanwhile_is_not_stored(self, records, facility):
        key = (facility, "R1")
        records.put_many([NewRecord(record(facility, "R1", "L1"), "b1", 1)], NOW)
        stale = records.load([key])[key]
        v1 = records.get_many([key])[key]
        records.put_many([NewRecord(record(facility, "R1", "L2"), "b2", 1, v1)], NOW)
        result = CleaningResult("R1", Outcome.VERIFIED, matched_citizen_id=CID)
        assert records.save_results([Cleaned(stale, result, {})], NOW) == set()
        assert records.load([key])[key].cleaned_version == 0

    def test_the_record_keeps_whom_its_dose_moved_away_from_until_its_next_version(self, records, facility):
        key = verified(records, facility, "R1", CID)
        v1 = records.get_many([key])[key]
        records.put_many([NewRecord(record(facility, "R1", "L2", citizen=OTHER), "b2", 1, v1)], NOW)
        assert records.load([key])[key].matched_citizen_id == CID  # carried over, for the next cleaning
        assert clean(records, key, matched=OTHER)
        moved = records.load([key])[key]
        assert (moved.matched_citizen_id, moved.moved_from) == (OTHER, CID)
        v2 = records.get_many([key])[key]
        records.put_many([NewRecord(record(facility, "R1", "L3", citizen=OTHER), "b3", 1, v2)], NOW)
        assert records.load([key])[key].moved_from is None


    def test_a_chunk_stores_its_winners_and_drops_only_the_versions_someone_else_cleaned(self, records, facility):
        keys = [(facility, f"R{i}") for i in range(3)]
        records.put_many([NewRecord(record(facility, k[1]), "b1", i + 1) for i, k in enumerate(keys)], NOW)
        loaded = records.load(keys)
        assert clean(records, keys[1])  # another worker got there first
        chunk = [Cleaned(loaded[k], CleaningResult(k[1], Outcome.MISMATCH), {"outcome": "MISMATCH"}) for k in keys]
        assert records.save_results(chunk, NOW) == {keys[0], keys[2]}
        now = records.load(keys)
        assert [now[k].counted_state for k in keys] == ["MISMATCH", "VERIFIED", "MISMATCH"]


class TestRecordReaderContract:
    def test_a_record_is_read_with_its_result_and_never_another_facilitys(self, records, unique):
        facility = f"A{unique}"
        records.put_many([NewRecord(record(f"{facility}#B", "1", "L1"), "b1", 1)], NOW)
        # REC#<facility>#<record>: facility A's record "B#1" is not facility "A#B"'s record "1"
        assert records.get(facility, "B#1") is None and records.get(facility, "NOPE") is None
        view = records.get(f"{facility}#B", "1")
        assert (view.version, view.state, view.cleaning, view.province_code) == (1, "PENDING", None, "001")
        assert view.data["lot_number"] == "L1" and view.original["lot_number"] == "L1"
        clean(records, (f"{facility}#B", "1"), Outcome.MISMATCH, matched=None)
        view = records.get(f"{facility}#B", "1")
        assert (view.state, view.cleaning) == ("MISMATCH", {"outcome": "MISMATCH"})


class TestPendingRecordsContract:
    def test_only_versions_not_cleaned_are_pending(self, records, facility):
        records.put_many([NewRecord(record(facility, r, "L1"), "b1", 1) for r in ("R1", "R2")], NOW)
        clean(records, (facility, "R2"))
        pending = [p for p in records.pending_records() if p.facility_id == facility]
        assert [(p.record_id, p.version, p.cleaned_version, p.batch_id) for p in pending] == [("R1", 1, 0, "b1")]
        assert pending[0].stored_at == NOW


class TestSigningRecordsContract:
    def test_candidates_are_the_facilitys_free_verified_records(self, records, facility, unique):
        a, b = verified(records, facility, "RA", CID), verified(records, facility, "RB", OTHER)
        verified(records, f"X{unique}", "RX", CID)  # another facility's
        records.put_many([NewRecord(record(facility, "RM", citizen="001090099999"), "b1", 1)], NOW)
        clean(records, (facility, "RM"), Outcome.MISMATCH, matched=None)  # not verified
        found = records.candidates(facility, max_people=100, now=NOW)
        assert sorted(c.key for c in found) == sorted([a, b])
        assert {c.citizen_id for c in found} == {CID, OTHER}
        assert len(records.candidates(facility, max_people=1, now=NOW)) == 1

    def test_a_reservation_holds_records_for_one_batch_until_it_expires(self, records, facility):
        key = verified(records, facility, "R1")
        [c] = records.candidates(facility, max_people=10, now=NOW)
        until = NOW + timedelta(days=3)
        assert records.reserve("SB1", [c], until=until, now=NOW) == {key}
        assert records.candidates(facility, max_people=10, now=NOW) == []
        assert records.reserve("SB2", [c], until=until, now=NOW) == set()  # held by SB1
        assert records.reserve("SB1", [c], until=until, now=NOW) == {key}  # SB1 again: still its own
        later = until + timedelta(seconds=1)
        assert [x.key for x in records.candidates(facility, max_people=10, now=later)] == [key]
        assert records.reserve("SB2", [c], until=later + timedelta(days=3), now=later) == {key}

    def test_a_changed_record_is_not_reserved_from_an_old_manifest(self, records, facility):
        key = verified(records, facility, "R1")
        [c] = records.candidates(facility, max_people=10, now=NOW)
        v1 = records.get_many([key])[key]
        records.put_many([NewRecord(record(facility, "R1", "L2"), "b2", 1, v1)], NOW)
        clean(records, key)
        assert records.reserve("SB1", [c], until=NOW + timedelta(days=1), now=NOW) == set()
        assert records.current_versions([key, (facility, "NOPE")])[key][0] == 2

    def test_only_the_holding_batch_signs_or_releases_its_records(self, records, facility):
        key = verified(records, facility, "R1")
        assert attest(records, {key}, "SB1") == {key}
        assert records.candidates(facility, max_people=10, now=NOW + timedelta(days=30)) == []  # signed: never again
        assert records.mark_signed("SB2", [key], NOW) == set()
        assert records.release("SB2", [key], NOW) == set()
        assert records.release("SB1", [key], NOW) == {key}
        assert [c.key for c in records.candidates(facility, max_people=10, now=NOW)] == [key]

    def test_a_claim_takes_the_batchs_records_and_leaves_the_others_whatever_their_order(self, records, facility):
        keys = [verified(records, facility, f"R{i}", dose=1 + i % 3) for i in range(5)]
        assert attest(records, set(keys[:2]), "SB1") == set(keys[:2])
        chosen = [c for c in records.candidates(facility, max_people=100, now=NOW) if c.key in keys[2:]]
        assert records.reserve("SB2", chosen, until=NOW + timedelta(days=3), now=NOW) == set(keys[2:])
        # SB1's records sit among SB2's: each is refused, none stops the others
        assert records.mark_signed("SB2", keys, NOW) == set(keys[2:])
        assert records.mark_signed("SB2", keys, NOW) == set(keys[2:])  # a redelivery claims them again
        assert records.release("SB2", [keys[0], keys[3], (facility, "absent")], NOW) == {keys[3]}


class TestDoseSourceContract:
    def test_attested_doses_are_verified_current_and_signed(self, records, facility):
        one = verified(records, facility, "R1", CID, dose=1, when="2021-07-01")
        two = verified(records, facility, "R2", CID, dose=2, when="2021-09-01")
        verified(records, facility, "R3", CID, dose=3, when="2022-03-01")  # verified, never signed
        attest(records, {one, two})
        doses = records.attested_doses([CID, OTHER])
        assert doses[OTHER] == [] or all(d.facility_id != facility for d in doses[OTHER])
        mine = sorted((d for d in doses[CID] if d.facility_id == facility), key=lambda d: d.dose_number)
        assert [(d.record_id, d.dose_number, d.vaccination_date, d.signed_batch, d.province_code) for d in mine] == [
            ("R1", 1, date(2021, 7, 1), "SB1", "001"), ("R2", 2, date(2021, 9, 1), "SB1", "001")]
        assert mine[0].digest == records.get_many([one])[one].digest
        # a new version is not attested until a facility head signs it again
        v2 = records.get_many([two])[two]
        records.put_many([NewRecord(record(facility, "R2", "L9", dose=2, when="2021-09-01"), "b9", 1, v2)], NOW)
        clean(records, two)
        assert [d.record_id for d in records.attested_doses([CID], [two])[CID] if d.facility_id == facility] == ["R1"]

    def test_a_dose_counts_for_the_person_it_matched(self, records, facility):
        # Typed with CID but matched to OTHER by the registry: OTHER's dose, not CID's.
        records.put_many([NewRecord(record(facility, "R1", citizen=CID), "b1", 1)], NOW)
        clean(records, (facility, "R1"), matched=OTHER)
        attest(records, {(facility, "R1")})
        doses = records.attested_doses([CID, OTHER], [(facility, "R1")])
        assert [d.record_id for d in doses[OTHER] if d.facility_id == facility] == ["R1"]
        assert [d for d in doses[CID] if d.facility_id == facility] == []


    def test_the_citizen_index_is_searched_only_for_the_people_asked(self, records, facility):
        one = verified(records, facility, "R1", CID, dose=1, when="2021-07-01")
        two = verified(records, facility, "R2", CID, dose=2, when="2021-09-01")
        attest(records, {one, two})
        known = records.attested_doses([CID], [two], query=[])[CID]
        assert [d.record_id for d in known if d.facility_id == facility] == ["R2"]
        searched = records.attested_doses([CID], [two], query=[CID])[CID]
        assert sorted(d.record_id for d in searched if d.facility_id == facility) == ["R1", "R2"]


class TestCitizenRecordsContract:
    def test_a_citizen_finds_their_own_records_only(self, records, facility):
        verified(records, facility, "R1", CID)
        verified(records, facility, "R2", OTHER)
        assert [(r.facility_id, r.record_id, r.province_code) for r in records.find(CID, "R1")
                if r.facility_id == facility] == [(facility, "R1", "001")]
        assert [r for r in records.find(CID, "R2") if r.facility_id == facility] == []


def _cid(unique: str, n: int) -> str:
    """A citizen id of this test only."""
    return f"{int(unique, 16) % 10**9:09d}{n:03d}"


@pytest.fixture(params=BOTH)
def claiming(request):
    """The records table, the passports table and the chunk claims that write both."""
    if request.param == FAKE:
        from tests.fakes import FakeChunkClaims, FakePassports

        records, passports = FakeRecords(), FakePassports()
        return records, passports, FakeChunkClaims(records, passports)
    c = real(request)
    return table_records(c), c.passports, c.chunk_claims


class TestChunkClaimsContract:
    def test_a_person_another_chunk_is_signing_keeps_nothing_of_this_claim(self, claiming, facility, unique):
        records, passports, claims = claiming
        a, b = _cid(unique, 1), _cid(unique, 2)
        ka, kb = verified(records, facility, "RA", a), verified(records, facility, "RB", b)
        for key in (ka, kb):
            [c] = [c for c in records.candidates(facility, max_people=10, now=NOW) if c.key == key]
            assert records.reserve("SB1", [c], until=NOW + timedelta(days=3), now=NOW) == {key}
        until = NOW + timedelta(minutes=2)
        # another chunk (of another batch) holds A's lease
        assert claims.claim("SB9", "SB9#0", {a: []}, until=until, now=NOW).held == set()
        got = claims.claim("SB1", "SB1#0", {a: [ka], b: [kb]}, until=until, now=NOW)
        assert (got.keys, got.held) == ({kb}, {a})
        reads = passports.current_many([a, b])
        assert (reads[a].open_batches, reads[b].open_batches) == (frozenset({"SB9"}), frozenset({"SB1"}))
        assert records.mark_signed("SB1", [ka], NOW) == {ka}  # A's record was not claimed: still SB1's to claim
        # the holder takes its own lease back at once (a redelivery); the other chunk only once it
        # is released or expired
        assert claims.claim("SB1", "SB1#0", {b: [kb]}, until=until, now=NOW).held == set()
        assert claims.claim("SB9", "SB9#0", {b: []}, until=until, now=NOW).held == {b}
        claims.release_leases("SB1", [b], NOW)  # not the holder's name: nothing happens
        assert claims.claim("SB9", "SB9#0", {b: []}, until=until, now=NOW).held == {b}
        claims.release_leases("SB1#0", [b], NOW)
        assert claims.claim("SB9", "SB9#0", {b: []}, until=until, now=NOW).held == set()
        later = until + timedelta(seconds=1)
        assert claims.claim("SB1", "SB1#0", {a: [ka], b: [kb]}, until=later + timedelta(minutes=2),
                            now=later).held == set()

    def test_a_single_lease_is_taken_only_when_free_or_expired(self, claiming, unique):
        _, _, claims = claiming
        a, until = _cid(unique, 1), NOW + timedelta(minutes=2)
        assert claims.take_lease("reevaluate#1", a, until=until, now=NOW)
        assert claims.take_lease("reevaluate#1", a, until=until, now=NOW)  # its own again
        assert claims.claim("SB1", "SB1#0", {a: []}, until=until, now=NOW).held == {a}
        assert not claims.take_lease("reevaluate#2", a, until=until, now=NOW)
        claims.release_leases("reevaluate#1", [a], NOW)
        assert claims.claim("SB1", "SB1#0", {a: []}, until=until, now=NOW).held == set()
        assert not claims.take_lease("reevaluate#2", a, until=until, now=NOW)
        assert claims.take_lease("reevaluate#2", a, until=until, now=until + timedelta(seconds=1))

    def test_more_people_than_one_transaction_holds_are_all_claimed(self, claiming, facility, unique):
        records, passports, claims = claiming
        people = {_cid(unique, i): [verified(records, facility, f"R{i}a", _cid(unique, i)),
                                    verified(records, facility, f"R{i}b", _cid(unique, i), dose=2)]
                  for i in range(35)}  # 35 x 3 items: two transactions
        chosen = records.candidates(facility, max_people=100, now=NOW)
        assert len(records.reserve("SB1", chosen, until=NOW + timedelta(days=3), now=NOW)) == 70
        got = claims.claim("SB1", "SB1#0", people, until=NOW + timedelta(minutes=2), now=NOW)
        assert (len(got.keys), got.held) == (70, set())
        assert all(r.open_batches == {"SB1"} for r in passports.current_many(sorted(people)).values())


class TestBatchedReservationContract:
    def test_records_held_or_changed_among_many_are_left_out_and_the_rest_reserved(self, records, facility, unique):
        keys = [verified(records, facility, f"R{i:03d}", _cid(unique, i)) for i in range(120)]
        chosen = records.candidates(facility, max_people=200, now=NOW)
        until = NOW + timedelta(days=3)
        # another open batch holds two records in the middle; one changed after it was offered
        assert records.reserve("SB0", [c for c in chosen if c.key in (keys[50], keys[110])], until=until,
                               now=NOW) == {keys[50], keys[110]}
        v1 = records.get_many([keys[7]])[keys[7]]
        records.put_many([NewRecord(record(facility, "R007", "L2", citizen=_cid(unique, 7)), "b2", 1, v1)], NOW)
        assert records.reserve("SB1", chosen, until=until, now=NOW) == set(keys) - {keys[7], keys[50], keys[110]}
