"""Trust lists in the EU gateway's form, both ways.

Export: our DSCs and CSCA as gateway trust list entries (`kid`, `timestamp`, `country`,
`certificateType` DSC|CSCA, `thumbprint`, `rawData`, `signature`), each entry signed by the
national trust anchor (its `signature`: the anchor's ES256 signature, DER, base64, over SHA-256 of
the certificate's DER, where the gateway uses a CMS signature over the same bytes) and the whole
list signed by the same anchor with `signed_document.sign_document`, so a copy is checked offline.

Import: a foreign list's DSC entries are accepted only if they chain to an onboarded CSCA of
the same country within its validity; every refused entry comes back with its reason. Pure:
certificates and documents in, entries and verdicts out.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.serialization import Encoding

from chalicelib.dcc.cose import kid_for_certificate_der
from chalicelib.dcc.signed_document import DigestSigner, SignedDocumentError, open_document, sign_document
from chalicelib.dcc.trust import TrustListError, certificate_country, issued, load_certificate_bytes

FORMAT = "vaxpass-gateway-trust-list/1"
_PREHASHED = ec.ECDSA(utils.Prehashed(hashes.SHA256()))


class LocalAnchor:
    """The trust anchor's key held in a file (an offline CSCA-style key): a DigestSigner."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        self._key = private_key

    def sign_digest(self, digest: bytes) -> bytes:
        return self._key.sign(digest, _PREHASHED)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def gateway_entry(cert: x509.Certificate, kind: str, timestamp: str, signer: DigestSigner) -> dict:
    der = cert.public_bytes(Encoding.DER)
    digest = hashlib.sha256(der).digest()
    return {"kid": _b64(kid_for_certificate_der(der)), "timestamp": timestamp,
            "country": certificate_country(cert), "certificateType": kind, "thumbprint": digest.hex(),
            "rawData": _b64(der), "signature": _b64(signer.sign_digest(digest))}


def gateway_trust_list(dscs: list[tuple[x509.Certificate, str]], cscas: list[x509.Certificate], *,
                       country: str, now: datetime, signer: DigestSigner) -> dict:
    """The signed list: CSCA entries first, then DSCs (with the time each was registered).
    Signing costs one anchor signature per entry and one for the list."""
    stamp = now.isoformat(timespec="seconds")
    entries = [gateway_entry(c, "CSCA", stamp, signer) for c in cscas]
    entries += [gateway_entry(c, "DSC", registered_at, signer) for c, registered_at in dscs]
    return sign_document({"format": FORMAT, "country": country, "issuedAt": stamp, "entries": entries}, signer)


def is_signed(document) -> bool:
    return isinstance(document, dict) and "payload" in document and "signature" in document


def open_trust_list(document, anchor_keys: list) -> dict:
    """The payload of a signed gateway list if one of `anchor_keys` (EC public keys) signed the
    list and every entry; SignedDocumentError naming what is wrong otherwise."""
    errors = []
    for key in anchor_keys:
        try:
            payload = open_document(document, key, what="trust list")
        except SignedDocumentError as e:
            errors.append(str(e))
            continue
        entries = payload.get("entries")
        if not isinstance(entries, list):
            raise SignedDocumentError("trust list: no list of entries")
        for number, entry in enumerate(entries, start=1):
            _check_entry_signature(entry, key, number)
        return payload
    raise SignedDocumentError(errors[0] if len(errors) == 1 else
                              "trust list is signed by none of the trust anchors given")


def _check_entry_signature(entry, key, number: int) -> None:
    try:
        der = base64.b64decode(entry["rawData"], validate=True)
        key.verify(base64.b64decode(entry["signature"], validate=True), hashlib.sha256(der).digest(), _PREHASHED)
    except (KeyError, TypeError, ValueError, InvalidSignature) as e:
        raise SignedDocumentError(f"trust list entry {number}: the trust anchor's signature does not "
                                  "match its certificate") from e


@dataclass(frozen=True)
class Refused:
    entry: int  # 1-based position in the list
    kid: str | None
    reason: str


def _within(cert: x509.Certificate, csca: x509.Certificate, now: datetime) -> str | None:
    if not csca.not_valid_before_utc <= cert.not_valid_before_utc <= csca.not_valid_after_utc:
        return "issued outside its CSCA's validity"
    if now > cert.not_valid_after_utc:
        return "expired"
    if now < cert.not_valid_before_utc:
        return "not yet valid"
    return None


def check_foreign_entries(entries, cscas: list[x509.Certificate], *, now: datetime,
                          own_country: str) -> tuple[list[tuple[x509.Certificate, dict]], list[Refused]]:
    """(accepted DSCs with their entry, refused entries with reasons) of a foreign list's
    entries against the onboarded CSCAs. CSCA entries of the list itself are never trusted: only
    the onboarded ones anchor a chain."""
    accepted: list[tuple[x509.Certificate, dict]] = []
    refused: list[Refused] = []
    for number, entry in enumerate(entries if isinstance(entries, list) else [], start=1):
        kid = entry.get("kid") if isinstance(entry, dict) and isinstance(entry.get("kid"), str) else None
        reason, cert = _judge(entry, cscas, now, own_country)
        if reason is None and cert is not None:
            accepted.append((cert, entry))
        elif reason:
            refused.append(Refused(number, kid, reason))
    return accepted, refused


def _judge(entry, cscas, now, own_country) -> tuple[str | None, x509.Certificate | None]:
    if not isinstance(entry, dict):
        return "not an object", None
    kind = entry.get("certificateType", "DSC")
    if kind == "CSCA":
        return "", None  # the list's own anchors: neither imported nor refused
    if kind != "DSC":
        return f"certificateType {str(kind)[:20]!r} is neither DSC nor CSCA", None
    try:
        cert = load_certificate_bytes(base64.b64decode(entry.get("rawData") or "", validate=True))
    except (ValueError, TypeError, TrustListError):
        return "rawData is not a base64 X.509 certificate", None
    country = certificate_country(cert)
    if country is None or entry.get("country") not in (None, country):
        return f"country {str(entry.get('country'))[:8]!r} is not the certificate's ({country})", None
    if country == own_country:
        return f"a {own_country} certificate: ours are registered, not imported", None
    same_country = [c for c in cscas if certificate_country(c) == country]
    if not same_country:
        return f"no onboarded CSCA of {country}", None
    if cert.issuer == cert.subject or any(c == cert for c in cscas):
        # A CSCA (or any self-issued root) listed as a DSC "chains" to itself: served as a signer,
        # the country's anchor key would sign passports directly.
        return "a CA certificate (a CSCA or self-issued root), not a document signer", None
    issuers = [c for c in same_country if issued(c, cert)]
    if not issuers:
        return f"does not chain to an onboarded CSCA of {country}", None
    problems = [_within(cert, c, now) for c in issuers]
    if all(problems):
        return str(problems[0]), None
    return None, cert


__all__ = ["LocalAnchor", "gateway_entry", "gateway_trust_list", "is_signed", "open_trust_list", "Refused",
           "check_foreign_entries", "FORMAT"]
