"""Fakes of the trust anchor (a local P-256 key) and of the bucket of published lists (a dict)."""
from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils


class FakeTrustAnchor:
    """Signs as the KMS key does (ECDSA P-256 over a SHA-256 digest, DER); `signed` counts calls."""

    def __init__(self, key: ec.EllipticCurvePrivateKey | None = None) -> None:
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        self.signed = 0

    def sign_digest(self, digest: bytes) -> bytes:
        self.signed += 1
        return self.key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))

    def public_key(self):
        return self.key.public_key()


class FakePublishedObjects:
    """`objects[key]`: the bytes stored; `puts` counts writes, as the bucket would see them."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts = 0

    def get(self, key: str) -> bytes | None:
        return self.objects.get(key)

    def put(self, key: str, body: bytes) -> None:
        self.puts += 1
        self.objects[key] = bytes(body)
