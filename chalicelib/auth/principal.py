"""Who is calling: the mapping from verified token claims to a `Principal`.

Pure module. The national identity provider and the local dev issuer both put these claims in
their tokens (names kept short because every request carries them):

| claim  | meaning                                                                 |
|--------|-------------------------------------------------------------------------|
| `sub`  | stable subject id at the identity provider (never a citizen id by contract) |
| `role` | one of `citizen`, `facility`, `province`, `ministry`, `operator`        |
| `cid`  | citizen id (12-digit CCCD); required for `citizen`, forbidden otherwise  |
| `fid`  | facility id; required for `facility`, forbidden otherwise                |
| `prov` | 3-digit province code; required for `province`, optional for `facility` |
|        | (the facility's province), forbidden otherwise                          |
| `iss`, `aud`, `exp`, `iat`, `nbf` | standard; checked by `tokens.py`, not here     |

Claims that do not fit the role are rejected rather than ignored: a token that says both
"facility F" and "province P" as a province role is a provider bug, and guessing which scope the
provider meant is how privilege escalations start.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Mapping

from chalicelib import errors
from chalicelib.identity import normalise_province_code, parse_citizen_id

MAX_ID_CHARS = 64


class Role(str, enum.Enum):
    CITIZEN = "citizen"
    FACILITY = "facility"
    PROVINCE = "province"
    MINISTRY = "ministry"
    OPERATOR = "operator"


STAFF_ROLES = (Role.FACILITY, Role.PROVINCE, Role.MINISTRY, Role.OPERATOR)
NATIONAL_ROLES = (Role.MINISTRY, Role.OPERATOR)


class InvalidClaims(errors.Unauthorized):
    code = "TOKEN_CLAIMS_INVALID"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    citizen_id: str | None = None
    facility_id: str | None = None
    province_code: str | None = None


# Which scope claims each role must / may carry.
_REQUIRED = {Role.CITIZEN: {"cid"}, Role.FACILITY: {"fid"}, Role.PROVINCE: {"prov"},
             Role.MINISTRY: set(), Role.OPERATOR: set()}
_OPTIONAL = {Role.FACILITY: {"prov"}}
_SCOPE_CLAIMS = {"cid", "fid", "prov"}


def principal_from_claims(claims: Mapping[str, object]) -> Principal:
    """Verified claims -> Principal; raises `InvalidClaims` (401) if they do not describe one."""
    subject = _short_text(claims, "sub")
    raw_role = claims.get("role")
    try:
        role = Role(raw_role) if isinstance(raw_role, str) else None
    except ValueError:
        role = None
    if role is None:
        raise InvalidClaims("the token has no valid role claim", details={"claim": "role"})
    present = {c for c in _SCOPE_CLAIMS if claims.get(c) not in (None, "")}
    missing = _REQUIRED[role] - present
    extra = present - _REQUIRED[role] - _OPTIONAL.get(role, set())
    if missing or extra:
        raise InvalidClaims(f"the scope claims do not fit the role {role.value}",
                            details={"missing": sorted(missing), "unexpected": sorted(extra)})
    citizen_id = facility_id = province = None
    if "cid" in present:
        citizen_id = _short_text(claims, "cid")
        parsed = parse_citizen_id(citizen_id)
        if parsed is None:
            raise InvalidClaims("the cid claim is not a citizen id", details={"claim": "cid"})
    if "fid" in present:
        facility_id = _short_text(claims, "fid")
    if "prov" in present:
        province = normalise_province_code(_short_text(claims, "prov"))
        if province is None:
            raise InvalidClaims("the prov claim is not a province code", details={"claim": "prov"})
    return Principal(subject=subject, role=role, citizen_id=citizen_id, facility_id=facility_id,
                     province_code=province)


def _short_text(claims: Mapping[str, object], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID_CHARS:
        raise InvalidClaims(f"the {name} claim is missing or malformed", details={"claim": name})
    return value.strip()
