"""What a principal may touch: small, explicit rules, each raising `Forbidden` (403).

Pure module. Views call these after authentication, with the scope of the object they are about to
read or change (its facility, its province, its citizen). Every rule lists the roles it admits;
a role not named is refused, so a new role gets no access until someone writes it down here.

Scope rules:
- a facility reaches only its own facility's records;
- a province reaches any facility *in its province* (the province is that of the object: a stored
  record's `province_code`, which intake only accepts as the facility's registered province);
- the ministry and operators reach everything: they may write the records of any registered
  facility, but only under that facility's registered province, like anyone else;
- a citizen reaches only their own passport, never staff routes.

Writes are decided on what is stored and what will be stored, never on the raw request: the intake
service asks `record_in_scope` of every *validated* record and of every stored record a row would
change (chalicelib/intake/service.py), so a field name spelled `Facility_ID` or a province that
differs from the stored one cannot widen a caller's reach.
"""
from __future__ import annotations

from typing import Iterable

from chalicelib import errors
from chalicelib.auth.principal import NATIONAL_ROLES, Principal, Role
from chalicelib.identity import normalise_province_code


class OutOfScope(errors.Forbidden):
    code = "OUT_OF_SCOPE"


class RoleNotAllowed(errors.Forbidden):
    code = "ROLE_NOT_ALLOWED"


def require_roles(p: Principal, *roles: Role) -> None:
    if p.role not in roles:
        raise RoleNotAllowed("this route is not open to your role",
                             details={"role": p.role.value, "allowed": [r.value for r in roles]})


def require_facility(p: Principal, facility_id: str, facility_province: str | None = None) -> None:
    """Facility: only itself. Province: facilities whose province is known and is its own.
    Ministry/operator: all. Citizen: never."""
    require_roles(p, Role.FACILITY, Role.PROVINCE, *NATIONAL_ROLES)
    if p.role is Role.FACILITY:
        if facility_id != p.facility_id:
            raise OutOfScope("this belongs to another facility")
        if p.province_code and facility_province and _province(facility_province) != p.province_code:
            # A facility token pinned to a province cannot reach records filed under another one.
            raise OutOfScope("this belongs to another province")
    elif p.role is Role.PROVINCE:
        # Unknown province = unprovable scope: refuse rather than assume.
        if not facility_province or _province(facility_province) != p.province_code:
            raise OutOfScope("this facility is not in your province")


def require_province(p: Principal, province_code: str | None) -> None:
    """Province: only its own. Ministry/operator: all. Facility and citizen: never."""
    require_roles(p, Role.PROVINCE, *NATIONAL_ROLES)
    if p.role is Role.PROVINCE and (not province_code or _province(province_code) != p.province_code):
        raise OutOfScope("this belongs to another province")


def require_citizen(p: Principal, citizen_id: str, *, staff: Iterable[Role] = ()) -> None:
    """A citizen only themselves; staff roles only those the caller names in `staff`."""
    if p.role is Role.CITIZEN:
        if not citizen_id or citizen_id != p.citizen_id:
            raise OutOfScope("you can only read your own records")
        return
    require_roles(p, Role.CITIZEN, *staff)


def facility_in_scope(p: Principal, requested: object) -> str:
    """The facility a staff call acts for. Facilities act for themselves (a different requested id
    is refused, an absent one defaults to the token's); the others must name one."""
    require_roles(p, Role.FACILITY, Role.PROVINCE, *NATIONAL_ROLES)
    requested = requested if isinstance(requested, str) and requested else None
    if p.role is Role.FACILITY:
        if requested is not None and requested != p.facility_id:
            raise OutOfScope("this belongs to another facility")
        return p.facility_id or ""
    if requested is None:
        raise errors.ValidationError("facility_id is required", details={"field": "facility_id"})
    return requested


def record_in_scope(p: Principal, facility_id: str, province_code: str) -> bool:
    """May `p` create or change a record of this facility and province? Asked of validated values
    (what will be stored) and of a stored record's owner (what would change)."""
    try:
        require_facility(p, facility_id, province_code)
    except errors.Forbidden:
        return False
    return True


def _province(code: str) -> str | None:
    return normalise_province_code(code)
