"""Verification of `HC1:` strings. Never raises on input: every problem becomes a stable code.

Stable error codes (CLI JSON `errors`, API responses, dashboards):
  BAD_PREFIX       not a string starting with "HC1:"
  BAD_BASE45       text after the prefix is not base45
  BAD_ZLIB         not a complete zlib stream, or more data than MAX_COSE_BYTES (the text or the
                   inflated stream)
  BAD_CBOR         COSE message, protected header or CWT payload is not decodable CBOR
  NOT_COSE_SIGN1   not a (tag 18 or untagged) 4-element COSE_Sign1 with an attached payload
  UNSUPPORTED_ALG  alg is not ES256 (-7) or PS256 (-37)
  BAD_KID          kid missing or not 8 bytes, and no trusted key of the algorithm verifies the
                   signature (without a usable kid every trusted key is tried)
  UNKNOWN_KID      no trusted DSC has this kid
  NO_TRUSTED_KEY   the trust store holds no usable signer at all (empty or all entries refused)
  BAD_SIGNATURE    no trusted DSC with this kid verifies the signature
  BAD_CWT          payload is not a CWT with integer iat/exp and a DCC in claim -260/1
  EXPIRED          exp is before the verification time
  NOT_YET_VALID    iat is later than the verification time plus CLOCK_SKEW_S
  DSC_VALIDITY     the certificate's exp (or iat) is after the signing DSC's notAfter
  DSC_USAGE        the DSC's extended key usage excludes this certificate type (v/t/r)
  REVOKED          a UCI, country+UCI or signature hash is on the revocation list
  SCHEMA_INVALID   payload violates the DCC schema 1.3.3 or has a version outside 1.0.0-1.3.x
Decoding stops at the first structural error; the semantic checks are all reported together.
"""
from __future__ import annotations

import base64
import io
import math
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from chalicelib.dcc.base45 import Base45DecodeError, b45decode
from chalicelib.dcc.cose import (ALG_IDS, CLAIM_EXP, CLAIM_HCERT, CLAIM_IAT, CLAIM_ISS,
                                 COSE_SIGN1_TAG, CWT_TAG, HC1_PREFIX, HCERT_EU_DCC_V1, HDR_ALG,
                                 HDR_KID, sig_structure)
from chalicelib.dcc.revocation import RevocationList, certificate_country
from chalicelib.dcc.schema import is_supported_version, payload_problems
from chalicelib.dcc.signer import pss_padding
from chalicelib.dcc.trust import TrustedKey, TrustStore

MAX_COSE_BYTES = 64 * 1024  # a DCC is < 2 kB; refuse zlib bombs well before memory matters
# Deflate can store data uncompressed (5 bytes per 64 KiB block, plus zlib's 6), so a stream
# for at most MAX_COSE_BYTES is shorter than this; longer text is refused before decoding.
MAX_HC1_CHARS = len(HC1_PREFIX) + (MAX_COSE_BYTES + 64) // 2 * 3
CLOCK_SKEW_S = 300
_ALG_NAMES = {-7: "ES256", -37: "PS256", -8: "EdDSA", -35: "ES384", -36: "ES512",
              -38: "PS384", -39: "PS512", -257: "RS256"}
# What cbor2 raises on hostile input: CBORError (CBORDecodeError, CBORDecodeEOF) for malformed data, plus
# errors from its semantic-tag decoders (e.g. ZeroDivisionError for tag 30, decimal errors for
# tag 4, TypeError for unhashable set members) and RecursionError for deep nesting.
_CBOR_ERRORS = (cbor2.CBORError, ValueError, TypeError, ArithmeticError, LookupError, RecursionError, MemoryError)
_ES256_VERIFY = ec.ECDSA(hashes.SHA256())
_SHA256 = hashes.SHA256()
_PSS = pss_padding()


@dataclass
class VerificationResult:
    valid: bool = False
    signature_valid: bool = False
    expired: bool | None = None
    schema_valid: bool | None = None
    kid: bytes | None = None
    alg: str | None = None
    payload: dict | None = None
    errors: list[str] = field(default_factory=list)
    # Facts for revocation and auditing; not part of the CLI JSON.
    issuer: str | None = None
    issued_at: int | None = None
    expires_at: int | None = None
    signature: bytes | None = None
    signer: TrustedKey | None = None

    @property
    def uci(self) -> str | None:
        for group in ("v", "t", "r"):
            entries = (self.payload or {}).get(group)
            if isinstance(entries, list) and entries and isinstance(entries[0], dict):
                ci = entries[0].get("ci")
                return ci if isinstance(ci, str) else None
        return None

    def to_json(self) -> dict:
        return {
            "valid": self.valid,
            "signature_valid": self.signature_valid,
            "expired": self.expired,
            "schema_valid": self.schema_valid,
            "kid": base64.b64encode(self.kid).decode("ascii") if self.kid is not None else None,
            "alg": self.alg,
            "payload": json_safe(self.payload) if self.payload is not None else None,
            "errors": list(self.errors),
        }


def json_safe(value, depth: int = 0):
    """CBOR-decoded data as JSON-serialisable values (bytes as base64, odd keys as strings)."""
    if depth > 32:
        return None
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {k if isinstance(k, str) else repr(k): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, depth + 1) for v in value]
    return repr(value)


def _loads(data: bytes):
    """cbor2.loads, but trailing bytes are an error (cbor2 ignores them silently).

    A read_size makes the C decoder buffer the input instead of calling BytesIO.read for every
    item (8.3 -> 4.9 us for a DCC payload); the stream position then says nothing about what
    was consumed, so trailing bytes are found by reading one more byte from the decoder."""
    decoder = cbor2.CBORDecoder(io.BytesIO(data), read_size=4096)
    value = decoder.decode()
    try:
        decoder.read(1)
    except cbor2.CBORDecodeEOF:
        return value
    raise ValueError("trailing bytes after the CBOR item")


def _protected_header(data: bytes):
    """Decoded protected header. Issuers use one header per DSC, so the same few byte strings
    recur on every certificate and the small ones are cached; callers only read the result.
    Only small ones: a hostile 64 KiB header can decode to megabytes of Python objects."""
    if len(data) <= _CACHED_HEADER_BYTES:
        return _small_protected_header(data)
    return _loads(data)


_CACHED_HEADER_BYTES = 64  # {1: alg, 4: kid} is 13 bytes


@lru_cache(maxsize=256)
def _small_protected_header(data: bytes):
    return _loads(data) if data else {}


def _inflate(data: bytes) -> bytes | None:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_COSE_BYTES)
    except zlib.error:
        return None
    if inflater.unconsumed_tail or not inflater.eof:
        return None  # too large, or truncated
    return out


def _header_value(protected: dict, unprotected: dict, label: int):
    # Protected wins: only it is covered by the signature.
    if label in protected:
        return protected[label]
    return unprotected.get(label)


def _int_claim(claims: dict, key: int) -> int | None:
    value = claims.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _signature_ok(key: TrustedKey, alg: str, to_be_signed: bytes, signature: bytes) -> bool:
    if key.alg != alg:
        return False
    public_key = key.public_key  # its type fixed key.alg (trust.trusted_key)
    try:
        if alg == "ES256" and isinstance(public_key, ec.EllipticCurvePublicKey):
            if len(signature) != 64:
                return False
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                       int.from_bytes(signature[32:], "big"))
            public_key.verify(der, to_be_signed, _ES256_VERIFY)
        elif alg == "PS256" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, to_be_signed, _PSS, _SHA256)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _decode(hc1, result: VerificationResult):
    """Layers down to the COSE_Sign1 array; None after recording the first structural error."""
    text = hc1.strip() if isinstance(hc1, str) else ""
    if not text.startswith(HC1_PREFIX):
        result.errors.append("BAD_PREFIX")
        return None
    if len(text) > MAX_HC1_CHARS:
        result.errors.append("BAD_ZLIB")  # more compressed data than any DCC may inflate to
        return None
    try:
        compressed = b45decode(text[len(HC1_PREFIX):])
    except Base45DecodeError:
        result.errors.append("BAD_BASE45")
        return None
    raw = _inflate(compressed)
    if raw is None:
        result.errors.append("BAD_ZLIB")
        return None
    try:
        message = _loads(raw)
    except _CBOR_ERRORS:
        result.errors.append("BAD_CBOR")
        return None
    if isinstance(message, cbor2.CBORTag) and message.tag == CWT_TAG:
        message = message.value  # some issuers wrap COSE in the CWT tag
    if isinstance(message, cbor2.CBORTag) and message.tag == COSE_SIGN1_TAG:
        message = message.value
    if not (isinstance(message, list) and len(message) == 4 and isinstance(message[0], bytes)
            and isinstance(message[1], dict) and isinstance(message[2], bytes)
            and isinstance(message[3], bytes)):
        result.errors.append("NOT_COSE_SIGN1")
        return None
    return message


def verify_hc1(hc1, trust: TrustStore, *, now: datetime, revocation: RevocationList | None = None,
               check_expiry: bool = True) -> VerificationResult:
    """Verify one `HC1:` string at time `now` (aware datetime) against `trust`."""
    now_s = int(now.timestamp()) if now.tzinfo is not None else None
    if now_s is None:
        raise ValueError("now must be timezone-aware")  # a caller bug, not an input problem
    result = VerificationResult()
    message = _decode(hc1, result)
    if message is None:
        return result
    protected_bytes, unprotected, payload_bytes, signature = message
    try:
        protected = _protected_header(protected_bytes)
        claims = _loads(payload_bytes)
    except _CBOR_ERRORS:
        result.errors.append("BAD_CBOR")
        return result
    if not isinstance(protected, dict):
        result.errors.append("NOT_COSE_SIGN1")
        return result
    result.signature = signature

    alg_id = _header_value(protected, unprotected, HDR_ALG)
    is_int = isinstance(alg_id, int) and not isinstance(alg_id, bool)
    result.alg = _ALG_NAMES.get(alg_id, str(alg_id)) if is_int else None
    alg_ok = is_int and alg_id in ALG_IDS.values()
    kid = _header_value(protected, unprotected, HDR_KID)
    if isinstance(kid, bytes):
        result.kid = kid
    kid_ok = isinstance(kid, bytes) and len(kid) == 8

    # -- CWT claims --------------------------------------------------------------------------
    hcert = claims.get(CLAIM_HCERT) if isinstance(claims, dict) else None
    dcc = hcert.get(HCERT_EU_DCC_V1) if isinstance(hcert, dict) else None
    if isinstance(dcc, dict):
        result.payload = dcc
        iss = claims.get(CLAIM_ISS)
        result.issuer = iss if isinstance(iss, str) else None
        result.issued_at = _int_claim(claims, CLAIM_IAT)
        result.expires_at = _int_claim(claims, CLAIM_EXP)

    # -- signature ---------------------------------------------------------------------------
    if not alg_ok:
        result.errors.append("UNSUPPORTED_ALG")
    if alg_ok and not kid_ok:
        # A kid only names the key. Some issuers' certificates carry none, or an empty one (GR's
        # test data): every trusted key of the algorithm is tried, so a genuine signature of a
        # trusted DSC is never refused for its header.
        _verify_without_kid(result, trust, _ALG_NAMES[alg_id], sig_structure(protected_bytes, payload_bytes),
                            signature)
    elif not kid_ok:
        result.errors.append("BAD_KID")
    if alg_ok and kid_ok:
        candidates = trust.candidates(kid)
        if not candidates:
            result.errors.append("UNKNOWN_KID" if len(trust) else "NO_TRUSTED_KEY")
        else:
            to_be_signed = sig_structure(protected_bytes, payload_bytes)
            alg = _ALG_NAMES[alg_id]
            result.signer = next((k for k in candidates
                                  if _signature_ok(k, alg, to_be_signed, signature)), None)
            result.signature_valid = result.signer is not None
            if not result.signature_valid:
                result.errors.append("BAD_SIGNATURE")

    payload, iat, exp = result.payload, result.issued_at, result.expires_at
    if payload is None or iat is None or exp is None:
        result.errors.append("BAD_CWT")
    else:
        _check_semantics(result, payload, iat, exp, signature, now_s, check_expiry, revocation)
    result.valid = not result.errors
    return result


def _verify_without_kid(result: VerificationResult, trust: TrustStore, alg: str, to_be_signed: bytes,
                        signature: bytes) -> None:
    if not len(trust):
        result.errors.append("NO_TRUSTED_KEY")
        return
    result.signer = next((k for k in trust.keys() if _signature_ok(k, alg, to_be_signed, signature)), None)
    result.signature_valid = result.signer is not None
    if not result.signature_valid:
        result.errors.append("BAD_KID")


def _check_semantics(result: VerificationResult, payload: dict, iat: int, exp: int, signature: bytes, now_s: int,
                     check_expiry: bool, revocation: RevocationList | None) -> None:
    result.expired = exp < now_s
    if result.expired and check_expiry:
        result.errors.append("EXPIRED")
    if iat > now_s + CLOCK_SKEW_S:
        result.errors.append("NOT_YET_VALID")
    signer = result.signer
    if signer is not None:
        # Only the end of the DSC's validity binds: an iat before its notBefore (real national
        # test data has one) is accepted, as the reference verifier apps accept it.
        _, not_after = signer.window_s
        if iat > not_after or exp > not_after:
            result.errors.append("DSC_VALIDITY")
        cert_types = [g for g in ("v", "t", "r") if g in payload and payload[g] != []]
        if any(t not in signer.types for t in cert_types):
            result.errors.append("DSC_USAGE")
    uci = result.uci
    if revocation is not None and uci is not None and result.alg in ("ES256", "PS256") and \
            revocation.is_revoked(uci=uci, country=certificate_country(payload),
                                  signature=signature, alg=result.alg):
        result.errors.append("REVOKED")
    # Early issuers (DK's 1.0.0 test data) write the groups they do not use as empty arrays; an
    # empty group says nothing, so it is left out of the schema check as the schema of the time did.
    if any(payload.get(g) == [] for g in ("v", "t", "r")):
        payload = {k: v for k, v in payload.items() if not (k in ("v", "t", "r") and v == [])}
    result.schema_valid = is_supported_version(payload) and not payload_problems(payload)
    if not result.schema_valid:
        result.errors.append("SCHEMA_INVALID")
