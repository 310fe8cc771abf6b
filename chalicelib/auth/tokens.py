"""Bearer token verification: a JWT from the identity provider, checked against its JWKS.

Accepted: RS256 and ES256 only (never `none`, never HMAC: with a public JWKS an HMAC "key" would
be public too). The token's `kid` selects the key and the key fixes the algorithm, so a token
cannot pick a weaker interpretation of a key. Issuer and audience must match the settings; `exp`
is required and `exp`/`nbf`/`iat` are checked against the injected clock with a small leeway for
clock skew between the provider and Lambda.

The JWKS comes through a small port (`JwksSource`) with an HTTPS adapter (urllib3) and a file
adapter (local dev issuer, tests), both in chalicelib/adapters/auth/jwks.py. `JwksCache` keeps the
keys for a TTL and refetches once when a token names an unknown `kid` (the provider rotated keys),
at most once per `min_refetch_s`, so a flood of tokens with made-up kids cannot turn into a flood
of requests to the provider.

Every failure is an `Unauthorized` with a stable code (401); the token itself never appears in a
message, a detail or a log line.
"""
from __future__ import annotations

import threading
from datetime import datetime
from typing import Callable, Mapping, Protocol

import jwt

from chalicelib import errors
from chalicelib.auth.principal import Principal, principal_from_claims

ALLOWED_ALGORITHMS = ("RS256", "ES256")
MAX_TOKEN_CHARS = 8192


class TokenRejected(errors.Unauthorized):
    """A token that is missing or fails verification. `code` says which check failed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class JwksUnavailable(errors.DependencyUnavailable):
    """The identity provider's keys could not be loaded: our problem, not the caller's (503)."""

    code = "JWKS_UNAVAILABLE"


# -- the JWKS port (adapters: chalicelib/adapters/auth/jwks.py) ---------------------------------
class JwksSource(Protocol):
    def fetch(self) -> Mapping:
        """The current JWKS document; raises JwksUnavailable if it cannot be read."""


# -- the key cache -----------------------------------------------------------------------------
class JwksCache:
    """kid -> verification key, refreshed after `ttl_s` and on an unknown kid (rate-limited)."""

    def __init__(self, source: JwksSource, clock: Callable[[], datetime], *, ttl_s: float = 600.0,
                 min_refetch_s: float = 60.0) -> None:
        self._source = source
        self._now = clock
        self._ttl = ttl_s
        self._min_refetch = min_refetch_s
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None

    def key_for(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            now = self._now().timestamp()
            if self._fetched_at is None or now - self._fetched_at >= self._ttl:
                self._refresh(now, keep_on_failure=True)
            elif kid not in self._keys and now - self._fetched_at >= self._min_refetch:
                self._refresh(now, keep_on_failure=True)
            key = self._keys.get(kid)
        if key is None:
            raise TokenRejected("TOKEN_UNKNOWN_KEY", "the token was signed with an unknown key")
        return key

    def _refresh(self, now: float, *, keep_on_failure: bool) -> None:
        try:
            doc = self._source.fetch()
        except JwksUnavailable:
            # Keys we already hold stay valid through a provider outage; without any, fail (503).
            if not self._keys or not keep_on_failure:
                raise
            from chalicelib.platform.logging import get_logger

            get_logger().warning("jwks refresh failed; keeping the cached keys", keys=len(self._keys))
            self._fetched_at = now  # retry after min_refetch/ttl, not on every request
            return
        self._keys = _usable_keys(doc)
        self._fetched_at = now


def _usable_keys(doc: Mapping) -> dict[str, jwt.PyJWK]:
    """Signature keys with a kid and an allowed algorithm; anything else in the set is skipped."""
    keys: dict[str, jwt.PyJWK] = {}
    for entry in doc.get("keys", []):
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError):
            continue  # an unsupported or malformed key: unusable, not fatal for the other keys
        if key.algorithm_name in ALLOWED_ALGORITHMS:
            keys[entry["kid"]] = key
    return keys


# -- verification ------------------------------------------------------------------------------
class TokenVerifier:
    def __init__(self, keys: JwksCache, *, issuer: str, audience: str, clock: Callable[[], datetime],
                 leeway_s: int = 30) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._now = clock
        self._leeway = leeway_s

    def verify_header(self, authorization: str | None) -> Principal:
        """`Authorization: Bearer <jwt>` -> Principal."""
        if not authorization:
            raise TokenRejected("TOKEN_MISSING", "a bearer token is required")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenRejected("TOKEN_MALFORMED", "the Authorization header must be 'Bearer <token>'")
        return self.verify(token.strip())

    def verify(self, token: str) -> Principal:
        return principal_from_claims(self.claims(token))

    def claims(self, token: str) -> dict:
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenRejected("TOKEN_MALFORMED", "the token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as e:  # DecodeError, or a header PyJWT refuses (a non-string kid)
            raise TokenRejected("TOKEN_MALFORMED", "the token is not a JWT") from e
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALLOWED_ALGORITHMS:
            raise TokenRejected("TOKEN_ALG_NOT_ALLOWED", "the token's algorithm is not accepted")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("TOKEN_UNKNOWN_KEY", "the token names no key (kid)")
        key = self._keys.key_for(kid)
        if key.algorithm_name != alg:
            raise TokenRejected("TOKEN_ALG_NOT_ALLOWED", "the token's algorithm does not match its key")
        try:
            claims = jwt.decode(
                token, key.key, algorithms=[alg], audience=self._audience, issuer=self._issuer,
                # Time claims are checked below against the injected clock, not PyJWT's.
                options={"require": ["exp", "iat", "iss", "aud", "sub"], "verify_exp": False,
                         "verify_nbf": False, "verify_iat": False})
        except jwt.InvalidSignatureError as e:
            raise TokenRejected("TOKEN_BAD_SIGNATURE", "the token's signature is not valid") from e
        except jwt.InvalidIssuerError as e:
            raise TokenRejected("TOKEN_BAD_ISSUER", "the token comes from another issuer") from e
        except jwt.InvalidAudienceError as e:
            raise TokenRejected("TOKEN_BAD_AUDIENCE", "the token is meant for another audience") from e
        except jwt.MissingRequiredClaimError as e:
            raise TokenRejected("TOKEN_CLAIMS_INVALID", f"the token lacks the {e.claim} claim") from e
        except jwt.InvalidTokenError as e:
            raise TokenRejected("TOKEN_MALFORMED", "the token cannot be decoded") from e
        self._check_times(claims)
        return claims

    def _check_times(self, claims: Mapping) -> None:
        now = self._now().timestamp()
        times = {}
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TokenRejected("TOKEN_CLAIMS_INVALID", f"the {name} claim is not a number")
            times[name] = value
        if times["exp"] <= now - self._leeway:
            raise TokenRejected("TOKEN_EXPIRED", "the token has expired")
        if times.get("nbf", times["iat"]) > now + self._leeway:
            raise TokenRejected("TOKEN_NOT_YET_VALID", "the token is not valid yet")
