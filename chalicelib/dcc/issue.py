"""Issuing: DCC payload -> CWT -> COSE_Sign1 -> zlib -> base45 -> `HC1:` string.

The clock is a parameter (`now`, an aware datetime), never read here, so tests and batch re-runs
are deterministic. The certificate window is enforced against the signer's DSC: signing before the
DSC's notBefore is refused (a verifier would reject it), and `exp` is clamped to the DSC's notAfter
so no passport outlives the key that vouches for it.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Sequence

from chalicelib.dcc.cose import UnsignedCertificate, cwt_claims, protected_header
from chalicelib.dcc.errors import CertificateWindowError, DccInputError
from chalicelib.dcc.signer import Signer


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise DccInputError("times must be timezone-aware")
    return int(moment.timestamp())


_windows: dict[int, tuple[object, tuple[int, int]]] = {}


def _window(certificate) -> tuple[int, int]:
    # cryptography builds new datetime objects on every property access, and hashing a
    # certificate (for lru_cache) hashes its DER; a DSC object never changes, so cache by
    # identity. The entry keeps the certificate alive, so its id cannot be reused meanwhile.
    cached = _windows.get(id(certificate))
    if cached is not None and cached[0] is certificate:
        return cached[1]
    window = (_epoch(certificate.not_valid_before_utc), _epoch(certificate.not_valid_after_utc))
    if len(_windows) >= 64:
        _windows.clear()
    _windows[id(certificate)] = (certificate, window)
    return window


def claim_times(signer: Signer, now: datetime, valid_days: int) -> tuple[int, int]:
    """(iat, exp) for a certificate signed at `now` by `signer`, per the rules above."""
    if valid_days < 1:
        raise DccInputError("validity must be at least one day")
    iat = _epoch(now)
    not_before, not_after = _window(signer.certificate)
    if iat < not_before:
        raise CertificateWindowError("signing time is before the DSC's notBefore")
    if iat >= not_after:
        raise CertificateWindowError("the DSC has expired")
    return iat, min(iat + valid_days * 86400, not_after)


def prepare(payload: dict, signer: Signer, *, now: datetime, valid_days: int,
            issuer: str = "VN") -> UnsignedCertificate:
    iat, exp = claim_times(signer, now, valid_days)
    return UnsignedCertificate(protected=protected_header(signer.alg, signer.kid),
                               payload=cwt_claims(payload, issuer=issuer, iat=iat, exp=exp))


def issue_hc1(payload: dict, signer: Signer, *, now: datetime, valid_days: int,
              issuer: str = "VN") -> str:
    """One signed `HC1:` string. `issuer` is the CWT `iss` claim: the issuing country code."""
    unsigned = prepare(payload, signer, now=now, valid_days=valid_days, issuer=issuer)
    return unsigned.finish(signer.sign(unsigned.to_be_signed))


def issue_many(payloads: Sequence[dict], signer: Signer, *, now: datetime, valid_days: int,
               issuer: str = "VN") -> list[str]:
    """Many `HC1:` strings in input order; lets a KMS signer sign them concurrently."""
    unsigned = [prepare(p, signer, now=now, valid_days=valid_days, issuer=issuer) for p in payloads]
    signatures = signer.sign_many([u.to_be_signed for u in unsigned])
    return [u.finish(sig) for u, sig in zip(unsigned, signatures, strict=True)]


def _calendar_date(text: str) -> date | None:
    """YYYY, YYYY-MM or YYYY-MM-DD as the first day it can mean; None if no such day exists."""
    parts = text.split("-")
    try:
        numbers = [int(p) for p in parts]
        return date(numbers[0], numbers[1] if len(numbers) > 1 else 1, numbers[2] if len(numbers) > 2 else 1)
    except (ValueError, IndexError):
        return None


def calendar_problems(payload: dict, *, today: date) -> list[str]:
    """What an issuer refuses beyond the schema: the schema only checks the *form* of `dob`
    (1988-13-45 passes), and no date may lie in the future. Verifiers keep to the schema, so
    this is a rule of issuing, not of validity. Messages name the field, never its value.
    `today` is the latest acceptable day (callers add a day of slack for time zones)."""
    problems = []
    fields = [("dob", payload.get("dob"))]
    for group in ("v", "t", "r"):
        for entry in payload.get(group) or ():
            if isinstance(entry, dict):
                fields += [(f"{group}[0].{k}", entry.get(k)) for k in ("dt", "fr") if k in entry]
    for name, value in fields:
        if not isinstance(value, str) or value == "":
            continue  # form problems are the schema's to report
        day = _calendar_date(value)
        if day is None:
            problems.append(f"{name}: not a calendar date")
        elif day > today:
            problems.append(f"{name}: in the future")
    return problems
