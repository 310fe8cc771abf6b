"""CorrectionService: the real service, built by the composition root over the fakes. A result is shown
only once its reading is logged; a correction is a new version written through intake on top of
the version read, counted once, queued for verification; what cannot be corrected is refused by
name; a record that keeps changing ends in a conflict, not in a lost write. (Authorisation of
corrections: tests/unit/intake/test_authorisation.py; through the routes on LocalStack:
tests/integration/test_cleaning_pipeline.py.)"""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from chalicelib import errors
from chalicelib.auth.principal import Principal, Role
from chalicelib.cleaning.access import Reader
from chalicelib.intake.records import RegistryPerson
from chalicelib.wiring import Container
from tests.fakes import FakeFacilityRegistry, InMemoryRegistry, fake_container

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)
HOA = RegistryPerson("001085012345", "Đặng Văn Hòa", date(1985, 3, 12), "M", "001")
F1 = Principal("s-f1", Role.FACILITY, facility_id="F1", province_code="001")
READER = Reader("facility", "s-f1", "F1")


def row(**changes) -> dict:
    return {"record_id": "R1", "facility_id": "F1", "citizen_id": HOA.citizen_id, "full_name": HOA.full_name,
            "date_of_birth": "1985-03-12", "sex": "M", "province_code": "001", "vaccine_product": "Pfizer",
            "dose_number": "1", "vaccination_date": "2021-08-01", **changes}


@pytest.fixture
def c() -> Container:
    """A record R1 of facility F1, typed with a slip in the name, cleaned: MISMATCH with a suggestion."""
    c = fake_container(registry=InMemoryRegistry([HOA]), facility_registry=FakeFacilityRegistry({"F1": "001"}),
                       clock=lambda: NOW)
    c.submission.submit(records=[row(full_name="Đặng Văn Hóa")], idempotency_key="k1", facility_id=None, writer=F1)
    c.verification.verify([list(r) for r in c.cleaning_queue.refs])
    c.cleaning_queue.messages.clear()
    return c


def test_a_result_is_shown_only_once_its_reading_is_logged(c):
    view = c.corrections.view("F1", "R1")
    assert (view["state"], view["version"], view["cleaning"]["suggestion"]) == ("MISMATCH", 1,
                                                                              {"full_name": HOA.full_name})
    assert c.corrections.show(view, READER) == view
    [entry] = c.access_log.reads_of_record("F1", "R1")
    assert (entry.reader, entry.at) == (READER, NOW)
    c.access_log.down = True
    with pytest.raises(errors.DependencyUnavailable):
        c.corrections.show(view, READER)


def test_an_unknown_record_or_no_facility_is_refused():
    c = fake_container()
    with pytest.raises(errors.NotFound):
        c.corrections.view("F1", "R9")
    with pytest.raises(errors.ValidationError):
        c.corrections.view("", "R1")


def test_accepting_the_suggestion_applies_exactly_it_as_a_new_version_counted_and_queued(c):
    out = c.corrections.correct("F1", "R1", writer=F1, accept_suggestion=True)
    assert out == {"status": "corrected", "version": 2, "fields": ["full_name"], "verification": "queued"}
    stored = c.record_store.items[("F1", "R1")]
    assert (stored["version"], stored["data"]["full_name"], stored["state"]) == (2, HOA.full_name, "PENDING")
    assert c.cleaning_queue.refs == [("F1", "R1", 2)] and c.counters.total("FAC#F1", "corrected") == 1
    c.verification.verify([list(r) for r in c.cleaning_queue.refs])
    assert c.record_store.items[("F1", "R1")]["state"] == "VERIFIED"
    with pytest.raises(errors.Conflict):  # verified: nothing left to suggest
        c.corrections.correct("F1", "R1", writer=F1, accept_suggestion=True)


def test_the_same_values_again_change_nothing_and_count_nothing(c):
    out = c.corrections.correct("F1", "R1", writer=F1, changes={"full_name": "Đặng Văn Hóa"})
    assert out == {"status": "unchanged", "version": 1} and c.counters.total("FAC#F1", "corrected") == 0


@pytest.mark.parametrize("changes, fields", [({"facility_id": "F2"}, ["facility_id"]),
                                             ({"province_code": "079", "lot_number": "x"}, ["province_code"]),
                                             ({"matched_citizen_id": "001090012345"}, ["matched_citizen_id"])])
def test_attack_the_owner_and_what_is_not_a_record_field_cannot_be_corrected(c, changes, fields):
    with pytest.raises(errors.ValidationError) as e:
        c.corrections.correct("F1", "R1", writer=F1, changes=changes)
    assert e.value.details == {"fields": fields} and c.record_store.items[("F1", "R1")]["version"] == 1


def test_no_changes_or_an_invalid_correction_are_refused_naming_the_field(c):
    with pytest.raises(errors.ValidationError):
        c.corrections.correct("F1", "R1", writer=F1, changes={})
    with pytest.raises(errors.ValidationError) as e:
        c.corrections.correct("F1", "R1", writer=F1, changes={"vaccination_date": "soon"})
    assert [err["field"] for err in e.value.details["errors"]] == ["vaccination_date"]
    assert c.record_store.items[("F1", "R1")]["version"] == 1


def test_a_record_that_keeps_changing_ends_in_a_conflict_and_no_write_is_lost(c):
    other = fake_container(record_store=c.record_store, facility_registry=c.facility_registry)
    lots = iter(f"RIVAL{i}" for i in range(10))

    def rival_writes_first():
        other.submission.submit(records=[row(full_name="Đặng Văn Hóa", lot_number=next(lots))],
                                idempotency_key=f"rival-{len(c.record_store.items[('F1', 'R1')]['earlier_digests'])}",
                                facility_id=None, writer=F1)
        c.record_store.before_next_put = rival_writes_first  # and again before the next attempt

    c.record_store.before_next_put = rival_writes_first
    with pytest.raises(errors.Conflict):
        c.corrections.correct("F1", "R1", writer=F1, changes={"phone": "0912345678"})
    c.record_store.before_next_put = None
    stored = c.record_store.items[("F1", "R1")]
    assert stored["data"]["phone"] == "" and stored["version"] == 4  # the three rival versions, none lost
    assert c.counters.total("FAC#F1", "corrected") == 0
