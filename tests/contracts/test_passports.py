"""The passports table: FakePassports (tests/fakes/issuance.py) and DynamoPassportStore (with its
reader and the revocation list repository) keep the same conditions: a version is stored only over
the current one as read, never while its person is held after a ministry revocation; a UVCI is
issued once; a revocation applies only to the current ACTIVE version and holds its person; a hold
is lifted only by its own revocation; a version revoked for lack of an attested dose is not held."""
from __future__ import annotations

import base64
import dataclasses
import secrets
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib import errors
from chalicelib.dcc.uvci import make_uvci
from chalicelib.issuance.revocation import Hold
from chalicelib.issuance.service import NewPassport, PassportWrite
from tests.contracts.conftest import BOTH, FAKE, OneTable, real
from tests.fakes import FakePassports

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)


@pytest.fixture(params=BOTH)
def store(request):
    if request.param == FAKE:
        return FakePassports()
    c = real(request)
    return OneTable(c.passports, c.passport_reader, c.revocation_list)


@pytest.fixture
def cid(unique) -> str:
    return f"9{int(unique, 16) % 10**11:011d}"


def uvci() -> str:
    return make_uvci(secrets.token_bytes)


def passport(cid: str, version: int, *, uvci_: str | None = None, sequence: int = 1, batch: str = "SB1",
             facility: str = "F1") -> NewPassport:
    u = uvci_ or uvci()
    return NewPassport(cid, version, u, "a2lk", "ES256", 1_700_000_000, 1_900_000_000, f"HC1:{u}",
                       base64.b64encode(bytes([version]) * 64).decode(), f"digest-{version}",
                       {"batch_id": batch, "sequence": sequence, "facility_id": facility, "province_code": "001"},
                       {"name": "Nguyễn Văn An", "dose": 2})


def listed_hashes(p: NewPassport) -> list[dict]:
    return [{"type": t, "hash": base64.b64encode(f"{t}:{p.uvci}".encode()).decode()} for t in ("UCI", "SIGNATURE")]


def revoke(store, p: NewPassport, sequence: int, reason: str = "forged") -> bool:
    target = store.find_by_uvci(p.uvci)
    entry = {"reason": reason, "revoked_at": NOW.isoformat(timespec="seconds"),
             "revoked_by": {"role": "ministry", "id": "m-1"}}
    return store.revoke(target, entry=entry, sequence=sequence, entries=listed_hashes(p))


class TestPassportStoreContract:
    def test_versions_are_stored_only_over_the_current_one_as_read(self, store, cid):
        assert store.current(cid) is None and store.current_passport(cid) is None
        v1 = passport(cid, 1)
        assert store.save_new(v1, None, [], NOW)
        assert not store.save_new(passport(cid, 1), None, [], NOW)  # another worker read "none" too
        current = store.current(cid)
        assert (current.version, current.uvci, current.content_digest, current.revoked, current.held_by,
                current.attestation_sequence, current.facility_id, current.province_code) == (
            1, v1.uvci, "digest-1", False, None, 1, "F1", "001")
        v2 = passport(cid, 2, sequence=2)
        assert store.save_new(v2, current, listed_hashes(v1), NOW)
        assert not store.save_new(passport(cid, 2), current, [], NOW)  # stale read
        shown = store.current_passport(cid)
        assert (shown["version"], shown["uvci"], shown["hc1"], shown["status"], shown["display"]) == (
            2, v2.uvci, v2.hc1, "ACTIVE", {"name": "Nguyễn Văn An", "dose": 2})
        superseded = store.find_by_uvci(v1.uvci)
        assert (superseded.status, superseded.revocation_sequence) == ("REVOKED", None)
        first = {(h["type"], h["hash"]) for h in listed_hashes(v1)}
        assert store.listed(listed_hashes(v1) + listed_hashes(v2)) == first
        window = {(e.hash_type, e.hash) for e in store.listed_between("", "9999")}
        assert {(h["type"], h["hash"]) for h in listed_hashes(v1)} <= window

    def test_listed_entries_are_read_back_by_time_window_with_the_kid_of_their_dsc(self, store, cid):
        """What the revocation publisher reads: entries listed in [start, end), each with the kid
        of the DSC that signed the version it revokes (the end is excluded: the next run's)."""
        later = datetime(2031, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
        v1 = passport(cid, 1)
        store.save_new(v1, None, [], NOW)
        current = store.current(cid)
        assert current.kid_b64 == "a2lk" and store.find_by_uvci(v1.uvci).kid_b64 == "a2lk"
        mine = [{**h, "kid": current.kid_b64} for h in listed_hashes(v1)]
        assert store.save_new(passport(cid, 2, sequence=2), current, mine, later)
        wanted = {(e["kid"], e["type"], e["hash"], later.isoformat(timespec="seconds")) for e in mine}

        def seen(start: datetime, end: datetime) -> set:
            got = store.listed_between(start.isoformat(timespec="seconds"), end.isoformat(timespec="seconds"))
            return {(e.kid, e.hash_type, e.hash, e.revoked_at) for e in got} & wanted
        second = timedelta(seconds=1)
        assert seen(later, later + second) == wanted
        assert seen(later - second, later) == set() and seen(later + second, later + 2 * second) == set()
        with pytest.raises(ValueError):
            list(store.listed_between(later.isoformat(), (later - second).isoformat()))

    def test_a_uvci_is_issued_once(self, store, cid):
        v1 = passport(cid, 1)
        store.save_new(v1, None, [], NOW)
        someone_else = f"8{cid[1:]}"
        with pytest.raises(errors.DependencyUnavailable):
            store.save_new(passport(someone_else, 1, uvci_=v1.uvci), None, [], NOW)
        assert store.current(someone_else) is None


    def test_a_chunk_is_stored_together_and_a_lost_race_leaves_out_only_its_person(self, store, cid):
        others = [f"{d}{cid[1:]}" for d in "78"]
        store.save_new(passport(others[1], 1), None, [], NOW)
        stale = store.current(others[1])
        store.save_new(passport(others[1], 2), stale, [], NOW)  # another worker got there first
        writes = [PassportWrite(dataclasses.replace(passport(cid, 1), dose_keys=(("F1", "R1"), ("F1", "R2")),
                                                    dose_batches=frozenset({"SB0", "SB1"})), None, []),
                  PassportWrite(passport(others[0], 1), None, []),
                  PassportWrite(passport(others[1], 2), stale, [])]
        assert store.save_many(writes, NOW) == {cid, others[0]}
        assert store.current(others[1]).uvci != writes[2].passport.uvci  # the other worker's version stands
        assert store.current(cid).dose_keys == (("F1", "R1"), ("F1", "R2"))
        assert store.current(cid).dose_batches == frozenset({"SB0", "SB1"})
        mute = store.current(others[0])  # a version that does not name its doses
        assert (mute.dose_keys, mute.dose_batches) == (None, frozenset())
        assert store.save_many(writes[:2], NOW) == set()  # a redelivery stores nothing twice

    def test_open_claims_are_read_with_the_passport(self, store, cid):
        someone = f"7{cid[1:]}"
        store.open_claims("SB1", [cid, someone], NOW)
        store.open_claims("SB2", [cid], NOW)
        read = store.current_many([cid, someone, f"8{cid[1:]}"])
        assert (read[cid].current, read[cid].open_batches, read[someone].open_batches) == (
            None, frozenset({"SB1", "SB2"}), frozenset({"SB1"}))
        assert read[f"8{cid[1:]}"].current is None and read[f"8{cid[1:]}"].open_batches == frozenset()
        v1 = dataclasses.replace(passport(cid, 1), dose_keys=(("F1", "R1"),), dose_batches=frozenset({"SB1"}))
        assert store.save_many([PassportWrite(v1, None, [])], NOW) == {cid}
        after = store.current_many([cid])[cid]
        assert (after.current.uvci, after.current.dose_batches, after.open_batches) == (
            v1.uvci, frozenset({"SB1"}), frozenset({"SB1", "SB2"}))

    def test_more_people_than_one_transaction_holds_are_all_stored(self, store, cid):
        people = [f"{cid[:-3]}{i:03d}" for i in range(40)]  # 40 x 4 items: two transactions at least
        for p in people:
            store.save_new(passport(p, 1), None, [], NOW)
        read = store.current_many(people)
        writes = [PassportWrite(passport(p, 2), read[p].current, []) for p in people]
        assert store.save_many(writes, NOW) == set(people)
        assert {p: r.current.version for p, r in store.current_many(people).items()} == {p: 2 for p in people}


class TestRevocationStoreContract:
    def test_a_revocation_applies_to_the_current_active_version_and_holds_its_person(self, store, cid):
        v1 = passport(cid, 1)
        store.save_new(v1, None, [], NOW)
        before = store.current(cid)
        assert store.current_version(cid) == (1, None) and store.hold(cid) is None
        assert revoke(store, v1, 41)
        assert not revoke(store, v1, 42)  # revoked already: one revocation wins
        target = store.find_by_uvci(v1.uvci)
        assert (target.status, target.reason, target.revocation_sequence, target.facility_id) == (
            "REVOKED", "forged", 41, "F1")
        assert store.current_version(cid) == (1, 41) and store.hold(cid) == Hold(cid, v1.uvci, 41)
        assert store.listed(listed_hashes(v1)) == {(h["type"], h["hash"]) for h in listed_hashes(v1)}
        assert store.current_passport(cid)["status"] == "REVOKED"
        # a worker that read the version before the revocation stores nothing over it
        assert not store.save_new(passport(cid, 2), before, [], NOW)
        # nor does one that read it after, while the person is held
        held = store.current(cid)
        assert (held.revoked, held.held_by, held.revocation_sequence) == (True, 41, 41)
        assert not store.save_new(passport(cid, 2), held, [], NOW)

    def test_a_hold_is_lifted_only_by_its_own_revocation_then_a_version_is_stored_over_it(self, store, cid):
        v1 = passport(cid, 1)
        store.save_new(v1, None, [], NOW)
        revoke(store, v1, 7)
        assert not store.lift(Hold(cid, v1.uvci, 8)) and not store.lift(Hold(cid, uvci(), 7))
        assert store.lift(Hold(cid, v1.uvci, 7)) and store.hold(cid) is None
        assert not store.lift(Hold(cid, v1.uvci, 7))
        current = store.current(cid)
        assert store.save_new(passport(cid, 2), current, [], NOW)
        assert store.current_version(cid) == (2, None)
        assert store.find_by_uvci(v1.uvci).status == "REVOKED"  # the revoked UVCI stays revoked

    def test_a_revocation_loses_to_a_reissue_that_came_first(self, store, cid):
        v1 = passport(cid, 1)
        store.save_new(v1, None, [], NOW)
        store.save_new(passport(cid, 2), store.current(cid), listed_hashes(v1), NOW)
        stale = dataclasses.replace(store.find_by_uvci(v1.uvci), status="ACTIVE")
        assert not store.revoke(stale, entry={"reason": "x", "revoked_at": "t", "revoked_by": {}}, sequence=5,
                                entries=[])
        assert store.hold(cid) is None and store.current_version(cid) == (2, None)

    def test_a_version_without_an_attested_dose_is_revoked_without_a_hold(self, store, cid):
        v1 = passport(cid, 1)
        store.save_new(v1, None, [], NOW)
        current = store.current(cid)
        assert store.revoke_unattested(current, listed_hashes(v1), NOW)
        assert not store.revoke_unattested(current, listed_hashes(v1), NOW)  # revoked already
        after = store.current(cid)
        assert (after.revoked, after.held_by, after.revocation_sequence) == (True, None, None)
        target = store.find_by_uvci(v1.uvci)
        assert (target.status, target.reason, target.revocation_sequence) == ("REVOKED", "no attested dose remains",
                                                                              None)
        assert store.listed(listed_hashes(v1)) == {(h["type"], h["hash"]) for h in listed_hashes(v1)}
        # a later attestation issues over it
        assert store.save_new(passport(cid, 2), after, [], NOW)
