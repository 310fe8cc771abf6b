"""Claims -> Principal, and every policy rule for every role (allowed and denied)."""
from __future__ import annotations

import pytest

from chalicelib import errors
from chalicelib.auth import policy
from chalicelib.auth.principal import Principal, Role, principal_from_claims

CID = "001090123456"
OTHER_CID = "079190654321"

CITIZEN = Principal("s-c", Role.CITIZEN, citizen_id=CID)
FACILITY = Principal("s-f", Role.FACILITY, facility_id="F1", province_code="001")
FACILITY_NO_PROV = Principal("s-f2", Role.FACILITY, facility_id="F1")
PROVINCE = Principal("s-p", Role.PROVINCE, province_code="001")
MINISTRY = Principal("s-m", Role.MINISTRY)
OPERATOR = Principal("s-o", Role.OPERATOR)
ALL = {"citizen": CITIZEN, "facility": FACILITY, "province": PROVINCE, "ministry": MINISTRY,
       "operator": OPERATOR}


# -- claims ------------------------------------------------------------------------------------
@pytest.mark.parametrize("claims, expected", [
    ({"sub": "a", "role": "citizen", "cid": CID}, Principal("a", Role.CITIZEN, citizen_id=CID)),
    ({"sub": "a", "role": "facility", "fid": "F1"}, Principal("a", Role.FACILITY, facility_id="F1")),
    ({"sub": "a", "role": "facility", "fid": "F1", "prov": "1"},
     Principal("a", Role.FACILITY, facility_id="F1", province_code="001")),
    ({"sub": "a", "role": "province", "prov": "079"}, Principal("a", Role.PROVINCE, province_code="079")),
    ({"sub": "a", "role": "ministry"}, Principal("a", Role.MINISTRY)),
    ({"sub": "a", "role": "operator"}, Principal("a", Role.OPERATOR)),
])
def test_claims_map_to_principals(claims, expected):
    assert principal_from_claims(claims) == expected


@pytest.mark.parametrize("claims", [
    {"role": "citizen", "cid": CID},                               # no sub
    {"sub": "", "role": "ministry"},
    {"sub": "x" * 65, "role": "ministry"},
    {"sub": "a"},                                                  # no role
    {"sub": "a", "role": "admin"},                                 # unknown role
    {"sub": "a", "role": ["ministry"]},
    {"sub": "a", "role": "citizen"},                               # citizen without cid
    {"sub": "a", "role": "citizen", "cid": "12345"},               # not a citizen id
    {"sub": "a", "role": "citizen", "cid": CID, "fid": "F1"},      # scope that does not fit
    {"sub": "a", "role": "facility"},
    {"sub": "a", "role": "facility", "fid": 7},
    {"sub": "a", "role": "facility", "fid": "F1", "cid": CID},
    {"sub": "a", "role": "province"},
    {"sub": "a", "role": "province", "prov": "999"},
    {"sub": "a", "role": "province", "prov": "001", "fid": "F1"},
    {"sub": "a", "role": "ministry", "prov": "001"},
    {"sub": "a", "role": "operator", "cid": CID},
])
def test_bad_claims_are_401(claims):
    with pytest.raises(errors.Unauthorized) as e:
        principal_from_claims(claims)
    assert e.value.code == "TOKEN_CLAIMS_INVALID"


# -- rules: role x rule table -------------------------------------------------------------------
def allowed(rule) -> bool:
    try:
        rule()
    except errors.Forbidden:
        return False
    return True


@pytest.mark.parametrize("role, expected", [
    ("citizen", False), ("facility", True), ("province", False), ("ministry", True), ("operator", False)])
def test_require_roles(role, expected):
    assert allowed(lambda: policy.require_roles(ALL[role], Role.FACILITY, Role.MINISTRY)) is expected


@pytest.mark.parametrize("role, facility, province, expected", [
    ("citizen", "F1", "001", False),
    ("facility", "F1", "001", True), ("facility", "F2", "001", False),
    ("facility", "F1", "079", False),  # token pinned to 001
    ("facility", "F1", None, True),
    ("province", "F9", "001", True), ("province", "F9", "1", True), ("province", "F9", "079", False),
    ("province", "F9", None, False),   # unknown province: refused
    ("ministry", "F9", "079", True), ("operator", "F9", None, True),
])
def test_require_facility(role, facility, province, expected):
    assert allowed(lambda: policy.require_facility(ALL[role], facility, province)) is expected


def test_a_facility_without_province_claim_is_scoped_by_facility_only():
    assert allowed(lambda: policy.require_facility(FACILITY_NO_PROV, "F1", "079"))
    assert not allowed(lambda: policy.require_facility(FACILITY_NO_PROV, "F2", "079"))


@pytest.mark.parametrize("role, province, expected", [
    ("citizen", "001", False), ("facility", "001", False),
    ("province", "001", True), ("province", "079", False), ("province", None, False),
    ("ministry", "079", True), ("operator", None, True)])
def test_require_province(role, province, expected):
    assert allowed(lambda: policy.require_province(ALL[role], province)) is expected


@pytest.mark.parametrize("role, citizen_id, staff, expected", [
    ("citizen", CID, (), True), ("citizen", OTHER_CID, (), False), ("citizen", "", (), False),
    ("facility", CID, (), False), ("province", CID, (), False), ("ministry", CID, (), False),
    ("operator", CID, (), False), ("operator", CID, (Role.OPERATOR,), True),
    ("ministry", CID, (Role.OPERATOR,), False)])
def test_require_citizen(role, citizen_id, staff, expected):
    assert allowed(lambda: policy.require_citizen(ALL[role], citizen_id, staff=staff)) is expected


@pytest.mark.parametrize("role, requested, expected", [
    ("facility", None, "F1"), ("facility", "F1", "F1"), ("facility", "F2", errors.Forbidden),
    ("province", "F9", "F9"), ("province", None, errors.ValidationError),
    ("ministry", "F9", "F9"), ("operator", "", errors.ValidationError),
    ("citizen", "F1", errors.Forbidden)])
def test_facility_in_scope(role, requested, expected):
    if isinstance(expected, str):
        assert policy.facility_in_scope(ALL[role], requested) == expected
    else:
        with pytest.raises(expected):
            policy.facility_in_scope(ALL[role], requested)


@pytest.mark.parametrize("principal, facility, province, expected", [
    (FACILITY, "F1", "001", True), (FACILITY, "F2", "001", False), (FACILITY, "F1", "079", False),
    (FACILITY_NO_PROV, "F1", "079", True), (PROVINCE, "F9", "001", True), (PROVINCE, "F9", "079", False),
    (PROVINCE, "F9", "", False), (MINISTRY, "F9", "079", True), (OPERATOR, "F9", "079", True),
    (CITIZEN, "F1", "001", False)])
def test_record_in_scope(principal, facility, province, expected):
    assert policy.record_in_scope(principal, facility, province) is expected
