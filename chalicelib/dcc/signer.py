"""The Signer port and its local-key adapter, plus a key ring for DSC rotation.

A Signer knows its COSE algorithm, its Document Signer Certificate (whose hash is the `kid`) and
how to produce a *raw* COSE signature over Sig_structure bytes: r||s (64 bytes) for ES256,
RSASSA-PSS/SHA-256 with a 32-byte salt for PS256. The KMS adapter lives in
chalicelib/adapters/dcc/kms_signer.py so this package stays free of boto3.
"""
from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Callable, Protocol, Sequence, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chalicelib.dcc.cose import kid_for_certificate_der
from chalicelib.dcc.errors import CertificateWindowError, KeyCertificateMismatch, UnsupportedAlgorithm

PSS_SALT_LENGTH = 32  # COSE PS256: salt length equals the SHA-256 output length
# The DCC specification's PS256 keys are RSA-2048 (ours are generated so); shorter keys are
# refused for signing and for trust. Longer foreign keys are accepted.
MIN_RSA_BITS = 2048


@runtime_checkable
class Signer(Protocol):
    alg: str
    kid: bytes
    certificate: x509.Certificate

    def sign(self, data: bytes) -> bytes:
        """Raw COSE signature over `data` (a Sig_structure)."""

    def sign_many(self, messages: Sequence[bytes]) -> list[bytes]:
        """Signatures of `messages`, in order; adapters may sign concurrently."""


def sign_concurrently(sign: Callable[[bytes], bytes], messages: Sequence[bytes], max_workers: int,
                      thread_name_prefix: str) -> list[bytes]:
    """`sign` over `messages` on a thread pool, in order: for signers whose signature is a network
    request (KMS), where a chunk's requests overlap instead of queueing."""
    if len(messages) <= 1:
        return [sign(m) for m in messages]
    with ThreadPoolExecutor(max_workers=min(max_workers, len(messages)), thread_name_prefix=thread_name_prefix) as pool:
        return list(pool.map(sign, messages))


def alg_for_public_key(public_key) -> str:
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            raise UnsupportedAlgorithm(f"PS256 keys must be RSA of at least {MIN_RSA_BITS} bits")
        return "PS256"
    raise UnsupportedAlgorithm("DCC keys must be EC P-256 (ES256) or RSA (PS256)")


def same_public_key(a, b) -> bool:
    """Two public keys are the same key (any types: a different type is simply not the same)."""
    fmt = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return a.public_bytes(*fmt) == b.public_bytes(*fmt)


def raw_ecdsa_signature(der_signature: bytes, size: int = 32) -> bytes:
    """DER ECDSA-Sig-Value -> fixed-width r||s, the COSE encoding."""
    r, s = decode_dss_signature(der_signature)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_LENGTH)
# Built once: constructing these per signature showed up in the issue profile.
_ECDSA_PREHASHED = ec.ECDSA(Prehashed(hashes.SHA256()))
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_SHA256_PREHASHED = Prehashed(hashes.SHA256())


def pss_padding() -> padding.PSS:
    return _PSS


class LocalKeySigner:
    """Signs with a private key held in process memory (dev keys, tests, offline tooling)."""

    def __init__(self, private_key, certificate: x509.Certificate) -> None:
        self.alg = alg_for_public_key(private_key.public_key())
        if not same_public_key(private_key.public_key(), certificate.public_key()):
            # Checked before the certificate's own algorithm: a mismatch is the operator's
            # mix-up of files, and saying "unsupported algorithm" would send them astray.
            raise KeyCertificateMismatch("the private key does not belong to the certificate")
        self._key = private_key
        self.certificate = certificate
        self.kid = kid_for_certificate_der(certificate.public_bytes(Encoding.DER))

    def sign(self, data: bytes) -> bytes:
        if self.alg == "ES256":
            # One call into OpenSSL that hashes and signs: cheaper than hashing in Python first.
            return raw_ecdsa_signature(self._key.sign(data, _ECDSA_SHA256))
        return self.sign_digest(hashlib.sha256(data).digest())

    def sign_digest(self, digest: bytes) -> bytes:
        if self.alg == "ES256":
            return raw_ecdsa_signature(self._key.sign(digest, _ECDSA_PREHASHED))
        return self._key.sign(digest, _PSS, _SHA256_PREHASHED)

    def sign_many(self, messages: Sequence[bytes]) -> list[bytes]:
        # OpenSSL signing is CPU-bound and fast; threads would only add overhead here.
        return [self.sign(m) for m in messages]


class KeyRing:
    """Several DSC signers: the newest one valid now signs; all of them remain trusted.

    Rotation: add the new DSC, keep the old ones until every certificate they signed has
    expired, so `trusted_certificates()` (exported in the trust list) still covers them.
    """

    def __init__(self, signers: Sequence[Signer]) -> None:
        if not signers:
            raise ValueError("a key ring needs at least one signer")
        self._signers = list(signers)

    def current(self, now: datetime) -> Signer:
        usable = [s for s in self._signers
                  if s.certificate.not_valid_before_utc <= now < s.certificate.not_valid_after_utc]
        if not usable:
            raise CertificateWindowError("no DSC in the key ring is valid now")
        return max(usable, key=lambda s: s.certificate.not_valid_before_utc)

    def trusted_certificates(self) -> list[x509.Certificate]:
        return [s.certificate for s in self._signers]
