"""Gateway-format trust lists: publishing ours, signed by the national trust anchor, and
importing other countries' DSCs that chain to their onboarded CSCAs.

Both run as operators' commands (`vaxpass trust export|import`): the anchor's key never sits
with a function. The published list is stored once and served as is by `/v1/trust-list/gateway`;
imported DSCs join the DSC table, where the verifier bundle (`/v1/trust-list?scope=all`) reads
them, while our own list (no scope) stays ours.
"""
from __future__ import annotations

import base64
from datetime import datetime
from typing import Protocol

from cryptography import x509

from chalicelib.dcc.gateway_trust import Refused, check_foreign_entries, gateway_trust_list, is_signed
from chalicelib.dcc.signed_document import DigestSigner
from chalicelib.dcc.trust import TrustListError, certificate_country, document_signer, issued
from chalicelib.errors import NotFound, ValidationError
from chalicelib.trust.service import DscEntry, DscRepository


class PublishedTrustList(Protocol):
    def get(self) -> dict | None: ...

    def put(self, document: dict, *, published_at: str) -> None: ...


class GatewayTrustService:
    def __init__(self, dscs: DscRepository, published: PublishedTrustList, country: str) -> None:
        self._dscs = dscs
        self._published = published
        self._country = country

    def publish(self, cscas: list[x509.Certificate], signer: DigestSigner, now: datetime) -> tuple[dict, list[str]]:
        """(the signed list, DSCs left out with the reason). Our DSCs only, and only those one
        of our CSCAs issued: a verifier checking chains must not meet an entry that fails."""
        if not cscas or any(certificate_country(c) != self._country for c in cscas):
            raise TrustListError(f"give the {self._country} CSCA certificate(s) the DSCs chain to")
        ours, left_out = [], []
        for entry in self._dscs.all():
            if certificate_country(entry.certificate) != self._country:
                continue
            if any(issued(c, entry.certificate) for c in cscas):
                ours.append((entry.certificate, entry.registered_at))
            else:
                left_out.append(f"DSC kid {entry.kid}: not issued by the CSCA given")
        document = gateway_trust_list(ours, cscas, country=self._country, now=now, signer=signer)
        self._published.put(document, published_at=now.isoformat(timespec="seconds"))
        return document, left_out

    def published(self) -> dict:
        document = self._published.get()
        if document is None:
            raise NotFound("no gateway trust list published yet (`vaxpass trust export`)")
        return document

    def import_list(self, document, cscas: list[x509.Certificate],
                    now: datetime) -> tuple[list[DscEntry], list[Refused]]:
        """Stores each DSC of a foreign list that chains to an onboarded CSCA of its country
        within validity; every other entry comes back refused, with its reason."""
        if is_signed(document):
            document = document["payload"]
        entries = document.get("entries", document.get("certificates")) if isinstance(document, dict) else document
        if not isinstance(entries, list):
            raise ValidationError("a trust list is a list of gateway entries, or an object with `entries`")
        accepted, refused = check_foreign_entries(entries, cscas, now=now, own_country=self._country)
        stored = []
        number_of = {id(entry): n for n, entry in enumerate(entries, start=1)}
        for cert, entry in accepted:
            try:
                key = document_signer(cert)
            except ValidationError as e:  # a key no DCC algorithm uses
                refused.append(Refused(number_of[id(entry)], entry.get("kid"), str(e)))
                continue
            kid = base64.b64encode(key.kid).decode()
            if entry.get("kid") not in (None, kid):
                refused.append(Refused(number_of[id(entry)], entry.get("kid"), "kid is not the certificate's"))
                continue
            dsc = DscEntry(kid, cert, None, now.isoformat(timespec="seconds"))
            self._dscs.put(dsc)
            stored.append(dsc)
        return stored, sorted(refused, key=lambda r: r.entry)
