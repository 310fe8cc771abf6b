"""Facility and focal agency ids and provinces as registered: one spelling, safe inside keys.

Facility ids become parts of DynamoDB keys (FAC#<id>, REC#<facility>#<record>, READ#...), and
province codes key counters and focal agencies (PROV#<code>). On main, `facility register` stored
whatever it was given: a facility "A#B" aliased facility A's record keys, and a facility registered
in province "1" was not in province "001" for its focal agency or the province's counters."""
from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib import errors
from chalicelib.signing import facility_pki as pki
from chalicelib.signing.facilities import FacilityService
from tests.unit.signing.conftest import T0
from tests.fakes import FakeFacilityRegistry

NOW = T0 + timedelta(days=10)


@pytest.mark.parametrize("facility_id", ["A#B", " A", "A ", "A\u200bB", "A\tB", "Tra\u0323m", "", "F" * 65])
def test_attack_facility_ids_that_alias_keys_or_look_alike_are_refused(facility_id):
    registry = FakeFacilityRegistry()
    with pytest.raises(errors.ValidationError):
        FacilityService(registry).register_facility(facility_id=facility_id, name="x", province="001", head="h",
                                                    certificate_pem=None, now=NOW)
    assert registry.facilities == {}


def test_attack_province_code_formats_are_one_province_at_registration(gov):
    registry = FakeFacilityRegistry()
    service = FacilityService(registry)
    registry.save_ca(pki.pem(gov.ca), NOW)
    f = service.register_facility(facility_id="TYT Phường 1", name="x", province="1", head="h",
                                  certificate_pem=None, now=NOW)
    assert (f.province, registry.facilities["TYT Phường 1"].province) == ("001", "001")
    # a focal agency whose certificate says "1" is the agency of "001", and is found there
    _, cert = gov.signer("CDC-1", province="1", focal_agency=True)
    agency = service.register_focal_agency(agency_id="CDC-1", name="x", province="01",
                                           certificate_pem=pki.pem(cert), now=NOW)
    assert agency.province == "001" and registry.focal_agencies("001") == [agency]
    for bad in ("1000", "999", "abc", ""):
        with pytest.raises(errors.ValidationError):
            service.register_facility(facility_id="F2", name="x", province=bad, head="h", certificate_pem=None,
                                      now=NOW)
