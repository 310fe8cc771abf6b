"""Intake attacks from the adversarial review of issue 10 (the real services over the in-memory
fakes of tests/fakes/)."""
from __future__ import annotations

import unicodedata
from datetime import datetime, timezone

import pytest

from chalicelib.auth.principal import Principal, Role
from chalicelib.signing.facilities import Facility, FacilityService, ProvinceFixed
from tests.fakes import FakeFacilityRegistry
from tests.unit.intake.test_authorisation import intake_world, rec, stored, submit

F1 = Principal("s-f1", Role.FACILITY, facility_id="F1")
NOW = datetime(2026, 1, 5, tzinfo=timezone.utc)


def test_attack_facility_moved_to_another_province_is_refused_not_stranding_its_records():
    """Records, counters and focal-agency rights are filed under a facility's province, so the
    registry refuses a re-registration elsewhere instead of leaving the stored records unwritable
    (FACILITY_NOT_IN_PROVINCE / PROVINCE_CHANGE_NOT_ALLOWED on every later write)."""
    w = intake_world({"F1": "001"})
    submit(w, F1, [rec()])
    with pytest.raises(ProvinceFixed):
        w.facility_registry.save_facility(Facility("F1", "Trạm Y tế F1", "079", "BS. Lan"), NOW)
    out = w.corrections.correct("F1", "R1", writer=F1, changes={"lot_number": "L2"})
    assert out["status"] == "corrected" and stored(w)["version"] == 2


def test_a_facility_or_agency_keeps_the_province_it_was_first_registered_in():
    registry = FakeFacilityRegistry()
    service = FacilityService(registry)
    service.register_facility(facility_id="F1", name="x", province="001", head="h", certificate_pem=None, now=NOW)
    # the same province again (a new head, a renamed facility) is an update
    service.register_facility(facility_id="F1", name="y", province="1", head="h2", certificate_pem=None, now=NOW)
    assert registry.facilities["F1"].name == "y"
    with pytest.raises(ProvinceFixed) as e:
        service.register_facility(facility_id="F1", name="y", province="079", head="h2", certificate_pem=None,
                                  now=NOW)
    assert e.value.code == "FACILITY_PROVINCE_FIXED" and registry.facilities["F1"].province == "001"


def test_attack_one_record_id_in_nfd_and_nfc_is_one_record_not_two_doses():
    w = intake_world({"F1": "001"})
    submit(w, F1, [rec(record_id="Mũi-1")])
    out = submit(w, F1, [rec(record_id=unicodedata.normalize("NFD", "Mũi-1"))], key="k2")
    assert out["results"][0]["status"] == "duplicate"
    assert len(w.record_store.items) == 1
