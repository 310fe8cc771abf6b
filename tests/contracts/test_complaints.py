"""The complaint store: FakeComplaintStore (tests/fakes/complaints.py) and DynamoComplaintStore keep
the same contract: a filing stored and counted once per Idempotency-Key, a change stored only over
the version read and only by the claim holder while a resolution corrects the record, the
facility's, the citizen's and the province's overdue views; and a facility's head from the
registry (FakeFacilityHeads, RegistryFacilityHeads)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib import errors
from chalicelib.complaints import domain
from chalicelib.signing.facilities import Facility
from tests.contracts.conftest import BOTH, FAKE, real
from tests.fakes import FakeComplaintStore, FakeFacilityHeads

FILED = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)


@pytest.fixture(params=BOTH)
def complaints(request):
    """(the store, the counters it moves)"""
    if request.param == FAKE:
        store = FakeComplaintStore()
        return store, store.counters
    c = real(request)
    return c.complaint_store, c.counters


def complaint(unique: str, n: int = 1, *, record: str | None = None, days: int = 0) -> domain.Complaint:
    return domain.new_complaint(complaint_id=f"CMP{unique}{n}", citizen_id=f"CIT{unique}",
                                facility_id=f"F{unique}", province_code="079", record_id=record or f"R{n}",
                                fields=["lot_number"], proposed={"lot_number": "L9"}, text="sai số lô",
                                now=FILED + timedelta(days=days), sla_working_days=3, calendar=domain.VIETNAM)


def counted(counters, facility: str) -> tuple[int, int]:
    t = counters.totals([f"FAC#{facility}"]).get(f"FAC#{facility}", {})
    return t.get("complaints_received", 0), t.get("complaints_resolved", 0)


class TestComplaintStoreContract:
    def test_a_filing_is_stored_and_counted_once_per_key(self, complaints, unique):
        store, counters = complaints
        c = complaint(unique)
        assert store.create(c, "key-1") == c
        again = store.create(complaint(unique, 2, record="R1"), "key-1")  # the same filing retried: a new id drawn
        assert again.complaint_id == c.complaint_id and store.get(f"CMP{unique}2") is None
        assert store.get(c.complaint_id) == c and counted(counters, c.facility_id) == (1, 0)

    def test_a_change_is_stored_over_the_version_read_and_counted_when_it_closes(self, complaints, unique):
        store, counters = complaints
        c = complaint(unique)
        store.create(c, "k")
        started = c.move_to(domain.IN_PROGRESS, actor="facility:F1", now=FILED)
        store.save_change(started, expected_version=c.version, now=FILED)
        with pytest.raises(errors.Conflict):  # read before that change
            store.save_change(c.move_to(domain.IN_PROGRESS, actor="x", now=FILED), expected_version=c.version,
                              now=FILED)
        done = started.move_to(domain.REJECTED, actor="facility:F1", now=FILED, reason="đúng số lô")
        store.save_change(done, expected_version=started.version, now=FILED)
        assert store.get(c.complaint_id) == done and counted(counters, c.facility_id) == (1, 1)

    def test_while_a_resolution_holds_the_claim_nobody_else_changes_the_complaint(self, complaints, unique):
        store, _ = complaints
        c = complaint(unique)
        store.create(c, "k")
        store.claim(c, token="t1", until=FILED + timedelta(minutes=5), now=FILED)
        with pytest.raises(errors.Conflict):
            store.claim(c, token="t2", until=FILED + timedelta(minutes=5), now=FILED)
        rejected = c.move_to(domain.REJECTED, actor="x", now=FILED, reason="r")
        with pytest.raises(errors.Conflict):
            store.save_change(rejected, expected_version=c.version, now=FILED)  # not the claim holder
        with pytest.raises(errors.Conflict):
            store.save_change(rejected, expected_version=c.version, now=FILED, claim="t2")
        resolved = c.move_to(domain.RESOLVED, actor="y", now=FILED)
        store.save_change(resolved, expected_version=c.version, now=FILED, claim="t1")
        assert store.get(c.complaint_id).status == domain.RESOLVED

    def test_a_released_or_lapsed_claim_frees_the_complaint(self, complaints, unique):
        store, _ = complaints
        c = complaint(unique)
        store.create(c, "k")
        store.claim(c, token="t1", until=FILED + timedelta(minutes=5), now=FILED)
        store.release(c, token="other")  # not its claim: kept
        with pytest.raises(errors.Conflict):
            store.claim(c, token="t2", until=FILED + timedelta(minutes=5), now=FILED)
        store.release(c, token="t1")
        store.claim(c, token="t2", until=FILED + timedelta(minutes=5), now=FILED)
        store.claim(c, token="t3", until=FILED + timedelta(hours=1), now=FILED + timedelta(minutes=6))  # lapsed

    def test_the_facilitys_the_citizens_and_the_provinces_overdue_views(self, complaints, unique):
        store, _ = complaints
        early, late = complaint(unique, 1), complaint(unique, 2, days=7)
        for c, key in ((early, "k1"), (late, "k2")):
            store.create(c, key)
        closed = early.move_to(domain.REJECTED, actor="x", now=FILED, reason="r")
        assert [c.complaint_id for c in store.for_citizen(f"CIT{unique}")] == [late.complaint_id, early.complaint_id]
        facility = f"F{unique}"
        assert [c.complaint_id for c in store.for_facility(facility, None)] == [early.complaint_id, late.complaint_id]
        assert [c.complaint_id for c in store.for_facility(facility, domain.RECEIVED)] == [early.complaint_id,
                                                                                         late.complaint_id]
        overdue = [c.complaint_id for c in store.open_due_before("079", late.due_at) if c.facility_id == facility]
        assert overdue == [early.complaint_id]
        store.save_change(closed, expected_version=early.version, now=FILED)
        assert [c.complaint_id for c in store.open_due_before("079", late.due_at + timedelta(days=1))
                if c.facility_id == facility] == [late.complaint_id]
        assert [c.complaint_id for c in store.for_facility(facility, domain.REJECTED)] == [early.complaint_id]


@pytest.fixture(params=BOTH)
def heads(request, unique):
    facility = f"F{unique}"
    if request.param == FAKE:
        return FakeFacilityHeads({facility: "BS. Lan", f"{facility}-nohead": ""}), facility
    c = real(request)
    c.facility_registry.save_facility(Facility(facility, "Trạm Y tế", "079", "BS. Lan"), FILED)
    c.facility_registry.save_facility(Facility(f"{facility}-nohead", "Trạm Y tế", "079", ""), FILED)
    return c.facility_heads, facility


class TestFacilityHeadsContract:
    def test_the_head_of_a_registered_facility(self, heads):
        impl, facility = heads
        assert impl.head(facility) == "BS. Lan"
        assert impl.head(f"{facility}-nohead") is None and impl.head(f"{facility}-absent") is None
