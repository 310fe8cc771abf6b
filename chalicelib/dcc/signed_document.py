"""Documents signed by the national trust anchor: what we publish for other countries' verifiers
(revocation batches and their index; the gateway-format trust list) carries its own signature, so a
copy served by a cache, a mirror or a USB stick is checked offline against the anchor's public key.

A signed document is `{"payload": {...}, "signature": {"alg": "ES256", "kid": ..., "value": ...}}`:
`value` is the DER ECDSA P-256 signature over SHA-256 of the payload's canonical JSON (keys
sorted, no spaces, UTF-8), `kid` the first 8 bytes of SHA-256 over the anchor's public key
(SubjectPublicKeyInfo DER), base64, as DCC kids are. The digest is what is signed (KMS signs a
digest of any document; a raw message may not exceed 4 KB), so one `sign_document` serves every
published list.
"""
from __future__ import annotations

import base64
import hashlib
import json
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chalicelib.errors import ValidationError

ALG = "ES256"


class SignedDocumentError(ValidationError):
    code = "SIGNED_DOCUMENT_INVALID"


class DigestSigner(Protocol):
    """The trust anchor's key: signs a SHA-256 digest (ECDSA P-256, DER) and names its public key."""

    def sign_digest(self, digest: bytes) -> bytes: ...

    def public_key(self) -> ec.EllipticCurvePublicKey: ...


def canonical_json(payload) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def anchor_kid(public_key) -> str:
    spki = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()[:8]).decode("ascii")


def sign_document(payload: dict, signer: DigestSigner) -> dict:
    """The one signing step of everything published under the national trust anchor."""
    value = signer.sign_digest(hashlib.sha256(canonical_json(payload)).digest())
    return {"payload": payload,
            "signature": {"alg": ALG, "kid": anchor_kid(signer.public_key()),
                          "value": base64.b64encode(value).decode("ascii")}}


def open_document(document, public_key, *, what: str = "document") -> dict:
    """The payload of `document` if the anchor `public_key` signed it; otherwise a
    SignedDocumentError saying what is wrong (never a partial payload)."""
    if not isinstance(document, dict) or not isinstance(document.get("payload"), dict) \
            or not isinstance(document.get("signature"), dict):
        raise SignedDocumentError(f"{what} is not a signed document (payload and signature)")
    signature = document["signature"]
    if signature.get("alg") != ALG or not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise SignedDocumentError(f"{what} is not signed with {ALG} by an EC trust anchor key")
    if signature.get("kid") != anchor_kid(public_key):
        raise SignedDocumentError(f"{what} is signed by another key (kid {signature.get('kid')!r}), "
                                  "not by the trust anchor given")
    try:
        value = base64.b64decode(signature.get("value") or "", validate=True)
        public_key.verify(value, hashlib.sha256(canonical_json(document["payload"])).digest(),
                          ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    except (ValueError, TypeError, InvalidSignature) as e:
        raise SignedDocumentError(f"{what}: the trust anchor's signature does not match its content "
                                  "(changed after signing?)") from e
    return document["payload"]
