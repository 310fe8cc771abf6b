"""Publishes our document signer certificates (trust list, JWKS) and the revocation list.

Verifiers in other countries and our own apps download these; they change rarely (DSC rotation,
re-issued passports), so the routes allow caching for a few minutes.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cryptography import x509

from chalicelib.dcc.trust import (TrustListError, certificate_country, document_signer, is_ca, jwks,
                                  load_certificate_bytes, trust_list_json)


@dataclass(frozen=True)
class DscEntry:
    kid: str  # base64, as in the trust list
    certificate: x509.Certificate
    key_ref: str | None  # KMS key id/alias that signs with this DSC; None for foreign/offline keys
    registered_at: str


class DscRepository(Protocol):
    def all(self) -> list[DscEntry]: ...

    def put(self, entry: DscEntry) -> None: ...


class TrustService:
    def __init__(self, dscs: DscRepository, country: str) -> None:
        self._dscs = dscs
        self._country = country

    def register_dsc(self, pem_or_der: bytes, *, key_ref: str | None, now: datetime) -> DscEntry:
        # Both raise ValidationError subclasses: not a certificate, a CA certificate, or a key
        # that cannot make DCC signatures.
        cert = load_certificate_bytes(pem_or_der)
        key = document_signer(cert)
        if is_ca(cert):
            # Verifiers trust what we publish as a DSC as a signer: a CSCA there would make
            # anything its (offline) key signs directly a valid passport.
            raise TrustListError("a CA certificate (CSCA), not a document signer certificate")
        entry = DscEntry(base64.b64encode(key.kid).decode(), cert, key_ref, now.isoformat(timespec="seconds"))
        self._dscs.put(entry)
        return entry

    def trust_list(self, scope: str = "own") -> dict:
        """Our DSCs; with scope `all`, also the foreign DSCs imported (`trust import`)."""
        entries = self._dscs.all()
        if scope != "all":
            entries = [e for e in entries if certificate_country(e.certificate) == self._country]
        return {"country": self._country, "certificates": trust_list_json(e.certificate for e in entries)}

    def jwks(self) -> dict:
        """Our DSCs only, like the default trust list: imported foreign DSCs are in the verifier
        bundle (`scope=all`), never presented as ours."""
        return jwks(e.certificate for e in self._dscs.all() if certificate_country(e.certificate) == self._country)
