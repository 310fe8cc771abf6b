"""Token verification: tokens signed here with keys made here, checked against a JWKS port."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from chalicelib import errors
from chalicelib.auth.principal import Principal, Role
from chalicelib.adapters.auth.jwks import FileJwksSource, HttpJwksSource, jwks_source_for
from chalicelib.auth.tokens import JwksCache, JwksUnavailable, TokenVerifier
from tests.fakes import FakeJwksSource

ISS, AUD = "https://id.test", "vaxpass"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def jwk_of(private_key, kid: str) -> dict:
    return {**json.loads(jwt.algorithms.get_default_algorithms()[
        "ES256" if isinstance(private_key, ec.EllipticCurvePrivateKey) else "RS256"].to_jwk(
            private_key.public_key())), "kid": kid}


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def source(ec_key, rsa_key):
    return FakeJwksSource(jwk_of(ec_key, "ec1"), jwk_of(rsa_key, "rsa1"))


@pytest.fixture
def verifier(source, clock):
    return TokenVerifier(JwksCache(source, clock, ttl_s=600, min_refetch_s=60), issuer=ISS, audience=AUD,
                         clock=clock, leeway_s=30)


def claims(**over) -> dict:
    base = {"iss": ISS, "aud": AUD, "sub": "u1", "role": "facility", "fid": "F1",
            "iat": int(T0.timestamp()), "exp": int((T0 + timedelta(hours=1)).timestamp())}
    return {k: v for k, v in {**base, **over}.items() if v is not None}


def sign(key, kid="ec1", alg="ES256", **over) -> str:
    return jwt.encode(claims(**over), key, algorithm=alg, headers={"kid": kid})


def rejected(verifier, token) -> str:
    with pytest.raises(errors.Unauthorized) as e:
        verifier.verify(token)
    assert token not in e.value.message and token not in json.dumps(e.value.details)
    return e.value.code


def test_es256_and_rs256_tokens_verify(verifier, ec_key, rsa_key):
    expected = Principal("u1", Role.FACILITY, facility_id="F1")
    assert verifier.verify(sign(ec_key)) == expected
    assert verifier.verify(sign(rsa_key, kid="rsa1", alg="RS256")) == expected
    assert verifier.verify_header("Bearer " + sign(ec_key)) == expected


def test_small_clock_skew_is_tolerated(verifier, ec_key, clock):
    clock.now = T0 + timedelta(hours=1, seconds=20)  # 20 s after exp, leeway 30
    assert verifier.verify(sign(ec_key)).subject == "u1"
    clock.now = T0 - timedelta(seconds=20)  # issued 20 s "in the future"
    assert verifier.verify(sign(ec_key)).subject == "u1"


@pytest.mark.parametrize("case, code", [
    ("expired", "TOKEN_EXPIRED"),
    ("not_yet_valid", "TOKEN_NOT_YET_VALID"),
    ("wrong_issuer", "TOKEN_BAD_ISSUER"),
    ("wrong_audience", "TOKEN_BAD_AUDIENCE"),
    ("unknown_kid", "TOKEN_UNKNOWN_KEY"),
    ("no_kid", "TOKEN_UNKNOWN_KEY"),
    ("bad_signature", "TOKEN_BAD_SIGNATURE"),
    ("other_key_same_kid", "TOKEN_BAD_SIGNATURE"),
    ("alg_none", "TOKEN_ALG_NOT_ALLOWED"),
    ("hs256_with_public_key", "TOKEN_ALG_NOT_ALLOWED"),
    ("rs256_header_on_ec_key", "TOKEN_ALG_NOT_ALLOWED"),
    ("garbage", "TOKEN_MALFORMED"),
    ("kid_not_a_string", "TOKEN_MALFORMED"),
    ("no_exp", "TOKEN_CLAIMS_INVALID"),
    ("string_exp", "TOKEN_CLAIMS_INVALID"),
    ("no_role", "TOKEN_CLAIMS_INVALID"),
    ("too_long", "TOKEN_MALFORMED"),
])
def test_bad_tokens_are_401_with_a_stable_code(verifier, ec_key, rsa_key, clock, case, code):
    hour = timedelta(hours=1)
    if case == "expired":
        token = sign(ec_key, exp=int((T0 - timedelta(minutes=5)).timestamp()))
    elif case == "not_yet_valid":
        token = sign(ec_key, nbf=int((T0 + hour).timestamp()))
    elif case == "wrong_issuer":
        token = sign(ec_key, iss="https://evil.test")
    elif case == "wrong_audience":
        token = sign(ec_key, aud="another-api")
    elif case == "unknown_kid":
        token = sign(ec_key, kid="nope")
    elif case == "no_kid":
        token = jwt.encode(claims(), ec_key, algorithm="ES256")
    elif case == "bad_signature":
        head, body, sig = sign(ec_key).split(".")
        token = ".".join([head, body, sig[:-4] + ("AAAA" if not sig.endswith("AAAA") else "BBBB")])
    elif case == "other_key_same_kid":
        token = sign(ec.generate_private_key(ec.SECP256R1()), kid="ec1")
    elif case == "alg_none":
        token = jwt.encode(claims(), None, algorithm="none", headers={"kid": "ec1"})
    elif case == "hs256_with_public_key":
        def b64(d):
            return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
        token = f"{b64({'alg': 'HS256', 'kid': 'rsa1'})}.{b64(claims())}.c2ln"
    elif case == "rs256_header_on_ec_key":
        token = sign(rsa_key, kid="ec1", alg="RS256")
    elif case == "kid_not_a_string":
        token = jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": "ec1"}).split(".", 1)
        token = base64.urlsafe_b64encode(b'{"alg":"ES256","kid":["ec1"]}').rstrip(b"=").decode() + "." + token[1]
    elif case == "garbage":
        token = "not-a-jwt"
    elif case == "no_exp":
        token = sign(ec_key, exp=None)
    elif case == "string_exp":
        token = sign(ec_key, exp="tomorrow")
    elif case == "no_role":
        token = sign(ec_key, role=None)
    else:
        token = sign(ec_key, pad="x" * 9000)
    assert rejected(verifier, token) == code


@pytest.mark.parametrize("header, code", [
    (None, "TOKEN_MISSING"), ("", "TOKEN_MISSING"), ("Basic dXNlcjpwdw==", "TOKEN_MALFORMED"),
    ("Bearer", "TOKEN_MALFORMED"), ("Bearer ", "TOKEN_MALFORMED")])
def test_authorization_header_shapes(verifier, header, code):
    with pytest.raises(errors.Unauthorized) as e:
        verifier.verify_header(header)
    assert e.value.code == code


def test_keys_are_cached_for_the_ttl_then_refetched(verifier, source, ec_key, clock):
    for _ in range(5):
        verifier.verify(sign(ec_key))
    assert source.fetches == 1
    clock.now = T0 + timedelta(seconds=601)
    verifier.verify(sign(ec_key, iat=int(clock.now.timestamp()),
                         exp=int((clock.now + timedelta(hours=1)).timestamp())))
    assert source.fetches == 2


def test_an_unknown_kid_refetches_once_then_is_rate_limited(verifier, source, ec_key, clock):
    verifier.verify(sign(ec_key))
    rotated = ec.generate_private_key(ec.SECP256R1())
    clock.now = T0 + timedelta(seconds=61)
    # The provider rotates: the new kid appears in the JWKS, one refetch finds it.
    source.keys.append(jwk_of(rotated, "ec2"))
    assert verifier.verify(sign(rotated, kid="ec2")).subject == "u1"
    assert source.fetches == 2
    # A flood of made-up kids within the rate limit window costs no further fetch.
    for i in range(20):
        assert rejected(verifier, sign(ec_key, kid=f"made-up-{i}")) == "TOKEN_UNKNOWN_KEY"
    assert source.fetches == 2


def test_a_provider_outage_keeps_cached_keys_and_without_keys_is_503(source, ec_key, clock):
    cache = JwksCache(source, clock, ttl_s=600)
    verifier = TokenVerifier(cache, issuer=ISS, audience=AUD, clock=clock)
    verifier.verify(sign(ec_key))
    source.fail = True
    clock.now = T0 + timedelta(seconds=700)
    assert verifier.verify(sign(ec_key, exp=int((T0 + timedelta(hours=2)).timestamp()))).subject == "u1"

    cold = TokenVerifier(JwksCache(source, clock), issuer=ISS, audience=AUD, clock=clock)
    with pytest.raises(errors.DependencyUnavailable) as e:
        cold.verify(sign(ec_key, exp=int((T0 + timedelta(hours=2)).timestamp())))
    assert e.value.code == "JWKS_UNAVAILABLE"


def test_unusable_keys_in_the_set_are_skipped(ec_key, clock):
    source = FakeJwksSource({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}, {"kty": "EC", "kid": "broken"},
                        {**jwk_of(ec_key, "enc"), "use": "enc"}, {"kty": "RSA"}, jwk_of(ec_key, "ec1"))
    verifier = TokenVerifier(JwksCache(source, clock), issuer=ISS, audience=AUD, clock=clock)
    assert verifier.verify(sign(ec_key)).subject == "u1"
    assert rejected(verifier, sign(ec_key, kid="enc")) == "TOKEN_UNKNOWN_KEY"


def test_file_source_and_url_schemes(tmp_path, ec_key):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk_of(ec_key, "ec1")]}))
    source = jwks_source_for(path.as_uri())
    assert isinstance(source, FileJwksSource) and source.fetch()["keys"][0]["kid"] == "ec1"
    assert isinstance(jwks_source_for("https://id.example/jwks.json"), HttpJwksSource)
    assert isinstance(jwks_source_for("http://127.0.0.1:9000/jwks.json"), HttpJwksSource)
    for bad in ("http://id.example/jwks.json", "ftp://x/y", "jwks.json"):
        with pytest.raises(ValueError):
            jwks_source_for(bad)
    for content in (b"not json", b'{"no": "keys"}', b"[1]"):
        path.write_bytes(content)
        with pytest.raises(JwksUnavailable):
            source.fetch()
    with pytest.raises(JwksUnavailable):
        FileJwksSource(tmp_path / "missing.json").fetch()


class FakeResponse:
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self._body, self.released = status, body, False

    def read(self, n=None):
        return self._body[:n]

    def release_conn(self):
        self.released = True


class FakePool:
    """Stands in for urllib3.PoolManager: unit tests never open sockets."""

    def __init__(self, response=None, error=None) -> None:
        self.response, self.error, self.calls = response, error, []

    def request(self, method, url, **kw):
        self.calls.append((method, url, kw))
        if self.error:
            raise self.error
        return self.response


def test_http_source_reads_the_jwks_and_maps_failures(ec_key):
    import urllib3

    ok = FakePool(FakeResponse(200, json.dumps({"keys": [jwk_of(ec_key, "ec1")]}).encode()))
    assert HttpJwksSource("https://id.example/jwks", pool=ok).fetch()["keys"][0]["kid"] == "ec1"
    assert ok.calls[0][0:2] == ("GET", "https://id.example/jwks") and ok.response.released
    for pool in (FakePool(FakeResponse(500, b"")), FakePool(FakeResponse(200, b"x" * 300_000)),
                 FakePool(error=urllib3.exceptions.MaxRetryError(None, "https://id.example/jwks"))):
        with pytest.raises(JwksUnavailable):
            HttpJwksSource("https://id.example/jwks", pool=pool).fetch()
