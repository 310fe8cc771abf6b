"""DCC revocation (eHealth Network "DCC revocation" design): hashed, privacy-preserving entries.

An entry is the first 128 bits of SHA-256 over one of:
- UCI: the certificate identifier (`ci`) as written in the payload;
- COUNTRYCODEUCI: the certificate's own country (`co` of its v/t/r entry, e.g. "VN") followed by
  the UCI, as the reference verifier app computes it (not the CWT issuer, claim 1: a certificate
  issued by one country's service for another's `co` is listed under its `co`);
- SIGNATURE: the COSE signature; for ES256 only its first half, the r value, because s can be
  negated (r, n-s is an equally valid signature), so hashing s would let a copy evade the list.

Published as the EU design does (`revocation_batches` builds the documents): batches of at most
1,000 hashes, each of one DSC kid and one hash type, signed by the national trust anchor, and an
index of them. `RevocationList` is what a verifier holds: the hashes of the batches it loaded.
The older single-document form {"version": 1, "entries": [{"type", "hash"}]} still loads.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Iterable, Mapping

from chalicelib.errors import ValidationError

HASH_TYPES = ("UCI", "COUNTRYCODEUCI", "SIGNATURE")


class RevocationListError(ValidationError):
    code = "DCC_BAD_REVOCATION_LIST"


def _h128(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:16]


def revocation_hashes(*, uci: str, country: str, signature: bytes, alg: str) -> dict[str, bytes]:
    """`country` is the certificate's own `co` (see `certificate_country`)."""
    signed_part = signature[: len(signature) // 2] if alg == "ES256" else signature
    return {
        "UCI": _h128(uci.encode("utf-8")),
        "COUNTRYCODEUCI": _h128((country + uci).encode("utf-8")),
        "SIGNATURE": _h128(signed_part),
    }


def certificate_country(payload) -> str:
    """The `co` of the payload's certificate entry (v, t or r), "" if it has none."""
    for group in ("v", "t", "r"):
        entries = payload.get(group) if isinstance(payload, dict) else None
        if isinstance(entries, list) and entries and isinstance(entries[0], dict):
            co = entries[0].get("co")
            return co if isinstance(co, str) else ""
    return ""


def revocation_entries(*, uci: str, country: str, signature: bytes, alg: str,
                       types: Iterable[str] = ("UCI",), kid: str | None = None) -> list[dict]:
    """List entries that revoke one certificate (by default by its UCI); with `kid` (base64, of
    the DSC that signed it) each entry names it, since the published batches are per kid."""
    hashes = revocation_hashes(uci=uci, country=country, signature=signature, alg=alg)
    extra = {"kid": kid} if kid is not None else {}
    return [{"type": t, "hash": base64.b64encode(hashes[t]).decode("ascii"), **extra} for t in types]


def revocation_list_json(entries: Iterable[Mapping]) -> dict:
    return {"version": 1, "entries": [dict(e) for e in entries]}


@dataclass(frozen=True)
class RevocationList:
    hashes: frozenset[tuple[str, bytes]]

    @classmethod
    def from_json(cls, doc) -> "RevocationList":
        if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
            raise RevocationListError("revocation list must be an object with an entries list")
        found = set()
        for entry in doc["entries"]:
            if not isinstance(entry, dict) or entry.get("type") not in HASH_TYPES:
                raise RevocationListError("revocation entry needs a type among " + ", ".join(HASH_TYPES))
            try:
                digest = base64.b64decode(entry.get("hash", ""), validate=True)
            except (TypeError, ValueError) as e:
                raise RevocationListError("revocation hash is not base64") from e
            if len(digest) != 16:
                raise RevocationListError("revocation hash must be 16 bytes")
            found.add((entry["type"], digest))
        return cls(frozenset(found))

    def is_revoked(self, *, uci: str, country: str, signature: bytes, alg: str) -> bool:
        if not self.hashes:
            return False
        hashes = revocation_hashes(uci=uci, country=country, signature=signature, alg=alg)
        return any((t, h) in self.hashes for t, h in hashes.items())
