"""CWT claims and COSE_Sign1 (RFC 8152/9052) as used by the EU DCC, hand-rolled on cbor2.

Why not pycose: building the Sig_structure and the 4-element COSE_Sign1 array takes a few lines of
cbor2, while pycose's message objects add ~40 us per certificate and its ES256 signing runs on the
pure-Python `ecdsa` package (~50x slower than OpenSSL through `cryptography`); bench/bench_dcc.py
prints both. Signing and verification stay on `cryptography` or KMS; this module only encodes.
"""
from __future__ import annotations

import hashlib
import io
import threading
import zlib
from dataclasses import dataclass
from functools import lru_cache

import cbor2

from chalicelib.dcc.base45 import b45encode

HC1_PREFIX = "HC1:"
COSE_SIGN1_TAG = 18
CWT_TAG = 61
ALG_IDS = {"ES256": -7, "PS256": -37}
ALG_NAMES = {v: k for k, v in ALG_IDS.items()}
# COSE header labels and CWT claim keys used by the DCC.
HDR_ALG, HDR_KID = 1, 4
CLAIM_ISS, CLAIM_EXP, CLAIM_IAT, CLAIM_HCERT = 1, 4, 6, -260
HCERT_EU_DCC_V1 = 1


def kid_for_certificate_der(der: bytes) -> bytes:
    """DCC key identifier: the first 8 bytes of SHA-256 over the DSC's DER encoding."""
    return hashlib.sha256(der).digest()[:8]


class _ReusedEncoder(threading.local):
    """A cbor2 encoder kept per thread: `cbor2.dumps` builds an encoder and a buffer on every
    call, ~3 us of the ~7 us it takes to encode a DCC payload (measured)."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.encoder = cbor2.CBOREncoder(self.buffer)

    def dumps(self, obj) -> bytes:
        buffer = self.buffer
        buffer.seek(0)
        buffer.truncate()
        self.encoder.encode(obj)
        return buffer.getvalue()


_encoder = _ReusedEncoder()


def cwt_claims(dcc: dict, *, issuer: str, iat: int, exp: int) -> bytes:
    return _encoder.dumps({CLAIM_ISS: issuer, CLAIM_EXP: exp, CLAIM_IAT: iat,
                           CLAIM_HCERT: {HCERT_EU_DCC_V1: dcc}})


@lru_cache(maxsize=64)
def protected_header(alg: str, kid: bytes) -> bytes:
    return cbor2.dumps({HDR_ALG: ALG_IDS[alg], HDR_KID: kid})


def _bstr_head(length: int) -> bytes:
    """CBOR major type 2 (byte string) head for `length`, shortest form as RFC 8949 requires."""
    if length < 24:
        return bytes((0x40 | length,))
    if length < 0x100:
        return bytes((0x58, length))
    if length < 0x10000:
        return b"\x59" + length.to_bytes(2, "big")
    return b"\x5a" + length.to_bytes(4, "big")


# The fixed prefix of a Sig_structure: array(4), text "Signature1". Framing the byte strings by
# hand avoids re-encoding the (already encoded) payload twice per certificate; a unit test checks
# the bytes equal cbor2's encoding.
_SIG1_PREFIX = b"\x84\x6aSignature1"
_SIGN1_PREFIX = b"\xd2\x84"  # tag 18, array(4)


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """The bytes a COSE_Sign1 signature covers (external_aad is empty for the DCC)."""
    return b"".join((_SIG1_PREFIX, _bstr_head(len(protected)), protected, b"\x40",
                     _bstr_head(len(payload)), payload))


def cose_sign1(protected: bytes, payload: bytes, signature: bytes) -> bytes:
    """Tagged COSE_Sign1 [protected, {}, payload, signature]."""
    return b"".join((_SIGN1_PREFIX, _bstr_head(len(protected)), protected, b"\xa0",
                     _bstr_head(len(payload)), payload, _bstr_head(len(signature)), signature))


# Level 6 with a 2 KiB window and memLevel 2 instead of zlib's defaults (32 KiB, memLevel 8): a
# certificate is a few hundred bytes, so the output is within a byte of the default (measured over
# 18 name/vaccine combinations), but the default state costs more to set up than the compression
# itself (~70 us -> ~10 us per certificate), and inside the issue loop, where the signature has
# just evicted it from cache, memLevel 2 measured ~4 us cheaper than 3. Every inflater accepts it.
_ZLIB = (6, zlib.DEFLATED, 11, 2)


def compress(cose: bytes) -> bytes:
    deflate = zlib.compressobj(*_ZLIB)
    return deflate.compress(cose) + deflate.flush()


def hc1_from_cose(cose: bytes) -> str:
    return HC1_PREFIX + b45encode(compress(cose))


@dataclass(frozen=True)
class UnsignedCertificate:
    """Everything but the signature: lets a batch sign many Sig_structures concurrently."""

    protected: bytes
    payload: bytes

    @property
    def to_be_signed(self) -> bytes:
        return sig_structure(self.protected, self.payload)

    def finish(self, signature: bytes) -> str:
        return hc1_from_cose(cose_sign1(self.protected, self.payload, signature))
