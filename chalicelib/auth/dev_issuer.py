"""A local token issuer standing in for the national identity provider in dev, the demo and tests.

It holds one ES256 (P-256) key in a PEM file (created on first use, mode 0600, directory 0700) and
mints tokens with the same claims the provider uses (see `principal.py`). `jwks()` publishes the
public half; point the app at it with `VAXPASS_JWKS_URL=file:///abs/path/jwks.json`.

Nothing trusts this issuer unless the app is configured with its JWKS, so the key file is the
only secret; it never leaves the machine it was made on.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Mapping

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.auth.principal import Principal, Role

DEFAULT_KEY_FILE = Path(".run/dev-issuer/key.pem")


def load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        try:
            # O_EXCL: two first uses racing must not both write (and one of them overwrite) a key.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or not isinstance(loaded.curve, ec.SECP256R1):
        raise ValueError(f"{path} does not hold a P-256 private key")
    return loaded


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict:
    numbers = key.public_key().public_numbers()
    jwk = {"crv": "P-256", "kty": "EC", "x": _b64(numbers.x.to_bytes(32, "big")),
           "y": _b64(numbers.y.to_bytes(32, "big"))}
    # RFC 7638 thumbprint as kid: stable for the key, changes when the key does.
    kid = _b64(hashlib.sha256(json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode()).digest())
    return {**jwk, "kid": kid, "alg": "ES256", "use": "sig"}


def claims_for(principal: Principal) -> dict:
    """The scope claims of a principal, as the identity provider would write them."""
    claims: dict = {"sub": principal.subject, "role": principal.role.value}
    for name, value in (("cid", principal.citizen_id), ("fid", principal.facility_id),
                        ("prov", principal.province_code)):
        if value:
            claims[name] = value
    return claims


class DevIssuer:
    def __init__(self, key: ec.EllipticCurvePrivateKey, *, issuer: str, audience: str,
                 clock: Callable[[], datetime]) -> None:
        self._key = key
        self._jwk = public_jwk(key)
        self.issuer = issuer
        self.audience = audience
        self._now = clock

    @classmethod
    def from_file(cls, path: str | Path | None, *, issuer: str, audience: str,
                  clock: Callable[[], datetime]) -> "DevIssuer":
        return cls(load_or_create_key(Path(path) if path else DEFAULT_KEY_FILE), issuer=issuer,
                   audience=audience, clock=clock)

    def jwks(self) -> dict:
        return {"keys": [self._jwk]}

    def mint(self, principal: Principal, *, ttl_s: int = 3600, extra: Mapping | None = None) -> str:
        """A signed token for `principal`; `extra` overrides claims (tests make bad tokens with it)."""
        now = self._now()
        claims = {"iss": self.issuer, "aud": self.audience, "iat": int(now.timestamp()),
                  "nbf": int(now.timestamp()), "exp": int((now + timedelta(seconds=ttl_s)).timestamp()),
                  **claims_for(principal), **(extra or {})}
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self._jwk["kid"]})


def citizen(citizen_id: str) -> Principal:
    """Dev subject ids are derived, never the citizen id itself (the provider's `sub` is opaque)."""
    return Principal(subject="dev-cit-" + hashlib.sha256(citizen_id.encode()).hexdigest()[:16],
                     role=Role.CITIZEN, citizen_id=citizen_id)


def staff(role: Role, *, facility_id: str | None = None, province_code: str | None = None) -> Principal:
    scope = facility_id or province_code or "national"
    return Principal(subject=f"dev-{role.value}-{scope}", role=role, facility_id=facility_id,
                     province_code=province_code)
