"""Issuing: DCC payload -> CWT -> COSE_Sign1 -> zlib -> base45 -> `HC1:` string.

The clock is a parameter (`now`, an aware datetime), never read here, so tests and batch re-runs
are deterministic. The certificate window is enforced against the signer's DSC: signing before the
DSC's notBefore is refused (a verifier would reject it), and `exp` is clamped to the DSC's notAfter
so no passport outlives the key that vouches for it.
"""
from __future__ import annotations

from datetime import datetime
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
