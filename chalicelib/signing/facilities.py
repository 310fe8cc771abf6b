"""Who may sign for a facility: facilities and provincial focal agencies are registered with
their signer certificates, which must chain to a registered government CA and name the same id
(and, for an agency, the same province). An id becomes part of DynamoDB keys, so it is registered
in one canonical spelling (`registered_id`), and a province as its 3-digit code; a facility's
province is fixed at its first registration (`ProvinceFixed`).
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from chalicelib import errors
from chalicelib.identity import normalise_province_code
from chalicelib.signing import facility_pki as pki

if TYPE_CHECKING:
    from cryptography import x509


class ProvinceFixed(errors.Conflict):
    """A facility or focal agency is registered once per province: its records, counters and
    signing rights are filed under that province, so moving it would strand or misfile them."""

    code = "FACILITY_PROVINCE_FIXED"


@dataclass(frozen=True)
class Facility:
    facility_id: str
    name: str
    province: str
    head: str
    certificates: tuple[str, ...] = ()  # PEM, every certificate ever registered (rotation)


@dataclass(frozen=True)
class FocalAgency:
    """A provincial health department or CDC allowed to sign for every facility of its province."""

    agency_id: str
    name: str
    province: str
    certificates: tuple[str, ...] = ()


class FacilityRegistry(Protocol):
    def get_facility(self, facility_id: str) -> Facility | None: ...

    def focal_agencies(self, province: str) -> list[FocalAgency]: ...

    def ca_certificates(self) -> list[str]:
        """PEM certificates of the government CAs that issue signer certificates."""

    def save_facility(self, facility: Facility, now: datetime) -> None:
        """Upserts the profile and adds its certificates (never removes one)."""

    def save_focal_agency(self, agency: FocalAgency, now: datetime) -> None: ...

    def save_ca(self, certificate_pem: str, now: datetime) -> None: ...


MAX_REGISTERED_ID = 64
# Characters an id that becomes part of DynamoDB keys must not hold: '#' separates the parts of
# keys such as REC#<facility>#<record> (a facility "A#B" would alias facility A's record "B#..."),
# and invisible characters make two ids that look the same.
_INVISIBLE = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def registered_id(value: object, field: str) -> str:
    """A facility or agency id as registered: one canonical spelling, safe inside keys."""
    if not isinstance(value, str) or not value or len(value) > MAX_REGISTERED_ID:
        raise errors.ValidationError(f"{field} is required (at most {MAX_REGISTERED_ID} characters)",
                                     details={"field": field})
    if (value != value.strip() or "#" in value or unicodedata.normalize("NFC", value) != value
            or any(unicodedata.category(ch) in _INVISIBLE for ch in value)):
        raise errors.ValidationError(f"{field} must be in NFC, without '#', control or invisible characters "
                                     "and without spaces around it", details={"field": field})
    return value


def registered_province(value: object) -> str:
    """The 3-digit code: '1', '01' and '001' are one province, so only '001' is ever stored."""
    code = normalise_province_code(value) if isinstance(value, str) else None
    if code is None:
        raise errors.ValidationError("province is not one of the 63 province codes", details={"field": "province"})
    return code


def same_province(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and normalise_province_code(a) == normalise_province_code(b) is not None


class FacilityService:
    def __init__(self, registry: FacilityRegistry) -> None:
        self._registry = registry

    def register_ca(self, certificate_pem: str, *, now: datetime) -> str:
        cert = pki.load_certificate(certificate_pem)
        pki.validate_ca_certificate(cert)
        self._registry.save_ca(pki.pem(cert), now)
        return pki.fingerprint(cert)

    def _checked_signer_cert(self, certificate_pem: str, now: datetime) -> tuple[x509.Certificate, pki.SignerIdentity]:
        cert = pki.load_certificate(certificate_pem)
        cas = [pki.load_certificate(p) for p in self._registry.ca_certificates()]
        return cert, pki.validate_signer_certificate(cert, ca_certs=cas, at=now)

    def register_facility(self, *, facility_id: str, name: str, province: str, head: str,
                          certificate_pem: str | None, now: datetime) -> Facility:
        facility_id, province = registered_id(facility_id, "facility_id"), registered_province(province)
        certs: tuple[str, ...] = ()
        if certificate_pem:
            cert, who = self._checked_signer_cert(certificate_pem, now)
            if who.role != pki.ROLE_FACILITY or who.subject_id != facility_id:
                raise errors.ValidationError("certificate is not a signing certificate of this facility")
            certs = (pki.pem(cert),)
        facility = Facility(facility_id, name, province, head, certs)
        self._registry.save_facility(facility, now)
        return facility

    def register_focal_agency(self, *, agency_id: str, name: str, province: str,
                              certificate_pem: str, now: datetime) -> FocalAgency:
        agency_id, province = registered_id(agency_id, "agency_id"), registered_province(province)
        cert, who = self._checked_signer_cert(certificate_pem, now)
        if (who.role != pki.ROLE_FOCAL_AGENCY or who.subject_id != agency_id
                or not same_province(who.province, province)):
            raise errors.ValidationError("certificate is not a focal agency certificate for this agency and province")
        agency = FocalAgency(agency_id, name, province, (pki.pem(cert),))
        self._registry.save_focal_agency(agency, now)
        return agency
