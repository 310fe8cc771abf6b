"""Issue -> verify round trips, an independent verifier, every verifier error code, and the
property that the verifier never raises."""
from __future__ import annotations

import base64
import hashlib
import zlib
from datetime import timedelta

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import HealthCheck, given, settings, strategies as st

from chalicelib.dcc import (KeyRing, RevocationList, TrustStore, issue_hc1, issue_many,
                            revocation_entries, revocation_list_json, verify_hc1)
from chalicelib.dcc.base45 import b45encode
from chalicelib.dcc.errors import CertificateWindowError
from chalicelib.dcc.trust import trusted_key

from tests.properties import examples

from .conftest import SIGN_AT, T0, VERIFY_AT, Chain, make_payload

# -- an independent verifier: cbor2 + zlib + cryptography and its own base45 ----------------------
_B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def tiny_b45decode(text: str) -> bytes:
    out = bytearray()
    for i in range(0, len(text), 3):
        chunk = [_B45.index(c) for c in text[i:i + 3]]
        n = sum(v * 45 ** k for k, v in enumerate(chunk))
        out += n.to_bytes(2 if len(chunk) == 3 else 1, "big")
    return bytes(out)


def independent_verify(hc1: str, cert) -> dict:
    assert hc1.startswith("HC1:")
    tag = cbor2.loads(zlib.decompress(tiny_b45decode(hc1[4:])))
    assert isinstance(tag, cbor2.CBORTag) and tag.tag == 18
    protected, unprotected, payload, signature = tag.value
    header = cbor2.loads(protected)
    assert unprotected == {}
    assert header[4] == hashlib.sha256(cert.public_bytes(
        __import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.DER)).digest()[:8]
    tbs = cbor2.dumps(["Signature1", protected, b"", payload])
    key = cert.public_key()
    if header[1] == -7:
        assert len(signature) == 64
        key.verify(encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                        int.from_bytes(signature[32:], "big")), tbs, ec.ECDSA(hashes.SHA256()))
    else:
        assert header[1] == -37
        key.verify(signature, tbs, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    return cbor2.loads(payload)


def test_round_trip_verified_independently_and_by_engine(chain, payload):
    hc1 = issue_hc1(payload, chain.signer, now=SIGN_AT, valid_days=365)
    claims = independent_verify(hc1, chain.dsc)
    assert claims[-260][1] == payload and claims[1] == "VN"
    assert claims[6] == int(SIGN_AT.timestamp())
    assert claims[4] == int((SIGN_AT + timedelta(days=365)).timestamp()) or claims[4] == int(
        chain.dsc.not_valid_after_utc.timestamp())
    result = verify_hc1(hc1, chain.trust, now=VERIFY_AT)
    assert result.to_json() == {"valid": True, "signature_valid": True, "expired": False,
                                "schema_valid": True, "alg": chain.alg, "payload": payload,
                                "kid": base64.b64encode(chain.signer.kid).decode(), "errors": []}


def test_exp_is_clamped_to_dsc_not_after_and_early_signing_is_refused(es256, payload):
    hc1 = issue_hc1(payload, es256.signer, now=SIGN_AT, valid_days=10_000)
    assert independent_verify(hc1, es256.dsc)[4] == int(es256.dsc.not_valid_after_utc.timestamp())
    with pytest.raises(CertificateWindowError):
        issue_hc1(payload, es256.signer, now=T0 - timedelta(seconds=1), valid_days=30)
    with pytest.raises(CertificateWindowError):
        issue_hc1(payload, es256.signer, now=T0 + timedelta(days=400), valid_days=30)


def test_issue_many_keeps_order(es256):
    payloads = [make_payload(uvci=f"URN:UVCI:01:VN:{i}#A") for i in range(5)]
    out = issue_many(payloads, es256.signer, now=SIGN_AT, valid_days=30)
    assert [verify_hc1(h, es256.trust, now=VERIFY_AT).uci for h in out] == [
        p["v"][0]["ci"] for p in payloads]


def test_key_ring_rotation(payload):
    old, new = Chain("ES256", start=T0), Chain("ES256", start=T0 + timedelta(days=100))
    ring = KeyRing([old.signer, new.signer])
    assert ring.current(SIGN_AT) is old.signer
    assert ring.current(T0 + timedelta(days=101)) is new.signer
    trust = TrustStore.from_certificates(ring.trusted_certificates())
    old_cert = issue_hc1(payload, ring.current(SIGN_AT), now=SIGN_AT, valid_days=30)
    new_cert = issue_hc1(payload, ring.current(T0 + timedelta(days=101)),
                         now=T0 + timedelta(days=101), valid_days=30)
    assert verify_hc1(old_cert, trust, now=VERIFY_AT).valid
    assert verify_hc1(new_cert, trust, now=T0 + timedelta(days=102)).valid


# -- forging certificates with one defect each -----------------------------------------------------
def forge(chain, *, claims=None, protected=None, unprotected=None, tag=18, corrupt=False, extra=b""):
    kid = chain.signer.kid
    protected = cbor2.dumps(protected if protected is not None else {1: -7 if chain.alg == "ES256" else -37, 4: kid})
    iat = int(SIGN_AT.timestamp())
    payload = cbor2.dumps(claims if claims is not None else
                          {1: "VN", 4: iat + 86400 * 30, 6: iat, -260: {1: make_payload()}}) + extra
    signature = chain.signer.sign(cbor2.dumps(["Signature1", protected, b"", payload]))
    if corrupt:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    body = [protected, unprotected or {}, payload, signature]
    return "HC1:" + b45encode(zlib.compress(cbor2.dumps(cbor2.CBORTag(tag, body) if tag else body)))


def hc1_of(raw: bytes) -> str:
    return "HC1:" + b45encode(zlib.compress(raw))


def errors(hc1, chain, **kwargs):
    return verify_hc1(hc1, chain.trust, now=kwargs.pop("now", VERIFY_AT), **kwargs).errors


def test_forge_helper_produces_valid_certificates(chain):
    assert errors(forge(chain), chain) == []
    assert errors(forge(chain, tag=None), chain) == []  # untagged COSE_Sign1 accepted


def test_kid_in_unprotected_header_and_protected_wins(es256):
    assert errors(forge(es256, protected={1: -7}, unprotected={4: es256.signer.kid}), es256) == []
    wrong = forge(es256, unprotected={4: b"\x00" * 8})  # protected kid still correct
    assert errors(wrong, es256) == []


def test_every_certificate_sharing_the_kid_is_tried(es256):
    impostor = Chain("ES256")
    trust = TrustStore([trusted_key(impostor.dsc, kid=es256.signer.kid), trusted_key(es256.dsc)])
    assert verify_hc1(forge(es256), trust, now=VERIFY_AT).valid


def iat_claims(iat, exp, dcc=None):
    return {1: "VN", 4: exp, 6: iat, -260: {1: dcc or make_payload()}}


IAT = int(SIGN_AT.timestamp())


@pytest.mark.parametrize("make, code", [
    (lambda c: "HC2:" + forge(c)[4:], "BAD_PREFIX"),
    (lambda c: None, "BAD_PREFIX"),
    (lambda c: "HC1:abc", "BAD_BASE45"),
    (lambda c: "HC1:" + b45encode(b"not zlib at all"), "BAD_ZLIB"),
    (lambda c: "HC1:" + b45encode(zlib.compress(b"x" * 100)[:-3]), "BAD_ZLIB"),
    (lambda c: hc1_of(b"\x1c"), "BAD_CBOR"),
    (lambda c: hc1_of(b"\x9f\x01"), "BAD_CBOR"),
    (lambda c: hc1_of(zlib.decompress(tiny_b45decode(forge(c)[4:])) + b"\x00"), "BAD_CBOR"),
    (lambda c: hc1_of(cbor2.dumps([b"\xa1", {}, b"", b""])), "BAD_CBOR"),
    (lambda c: forge(c, extra=b"\x00"), "BAD_CBOR"),  # signed claims with a trailing byte
    (lambda c: hc1_of(cbor2.dumps([1, 2, 3])), "NOT_COSE_SIGN1"),
    (lambda c: hc1_of(cbor2.dumps(cbor2.CBORTag(98, []))), "NOT_COSE_SIGN1"),
    (lambda c: forge(c, protected={1: -8, 4: c.signer.kid}), "UNSUPPORTED_ALG"),
    (lambda c: forge(c, protected={1: -7, 4: b"1234567"}, corrupt=True), "BAD_KID"),
    (lambda c: forge(c, protected={1: -7}, corrupt=True), "BAD_KID"),
    (lambda c: forge(c, protected={1: -7, 4: b"\x00" * 8}), "UNKNOWN_KID"),
    (lambda c: forge(c, corrupt=True), "BAD_SIGNATURE"),
    (lambda c: forge(c, protected={1: -37, 4: c.signer.kid}), "BAD_SIGNATURE"),  # alg/key mismatch
    (lambda c: forge(c, claims={1: "VN", 6: IAT, -260: {1: make_payload()}}), "BAD_CWT"),
    (lambda c: forge(c, claims={1: "VN", 4: IAT + 10, 6: IAT}), "BAD_CWT"),
    (lambda c: forge(c, claims=iat_claims(IAT, IAT + 60)), "EXPIRED"),
    (lambda c: forge(c, claims=iat_claims(int(VERIFY_AT.timestamp()) + 600, IAT + 10**6)), "NOT_YET_VALID"),
    (lambda c: forge(c, claims=iat_claims(IAT, int(c.dsc.not_valid_after_utc.timestamp()) + 1)), "DSC_VALIDITY"),
    (lambda c: forge(c, claims=iat_claims(IAT, IAT + 10**6, {**make_payload(), "dob": "01.05.1990"})),
     "SCHEMA_INVALID"),
    (lambda c: forge(c, claims=iat_claims(IAT, IAT + 10**6, {**make_payload(), "ver": "2.0.0"})), "SCHEMA_INVALID"),
])
def test_error_codes(es256, make, code):
    result = verify_hc1(make(es256), es256.trust, now=VERIFY_AT)
    assert code in result.errors and not result.valid
    assert isinstance(result.to_json(), dict)


@pytest.mark.parametrize("protected", [{1: -7}, {1: -7, 4: b""}, {1: -7, 4: b"1234567"}])
def test_a_genuine_signature_without_a_usable_kid_is_found_among_the_trusted_keys(es256, ps256, protected):
    """GR's test data carries an empty kid: the signature, not the header, decides."""
    from chalicelib.dcc.trust import TrustStore

    trust = TrustStore([*ps256.trust.keys(), *es256.trust.keys()])
    result = verify_hc1(forge(es256, protected=protected), trust, now=VERIFY_AT)
    assert result.valid and result.signer is not None and result.signer.kid == es256.signer.kid, result.errors


def test_iat_before_the_dsc_not_before_is_accepted_like_the_reference_verifiers(es256):
    # PL's dgca test data signs with an iat weeks before its DSC's notBefore; only notAfter binds.
    result = verify_hc1(forge(es256, claims=iat_claims(int(T0.timestamp()) - 1, IAT + 10**6)), es256.trust,
                        now=VERIFY_AT)
    assert result.valid, result.errors


def test_expired_is_reported_but_not_an_error_without_expiry_check(es256):
    hc1 = forge(es256, claims=iat_claims(IAT, IAT + 60))
    result = verify_hc1(hc1, es256.trust, now=VERIFY_AT, check_expiry=False)
    assert result.valid and result.expired is True


def test_dsc_usage_excludes_vaccination(payload):
    tests_only = Chain("ES256", usages=("t",))
    hc1 = issue_hc1(payload, tests_only.signer, now=SIGN_AT, valid_days=30)
    assert verify_hc1(hc1, tests_only.trust, now=VERIFY_AT).errors == ["DSC_USAGE"]


@pytest.mark.parametrize("hash_type", ["UCI", "COUNTRYCODEUCI", "SIGNATURE"])
def test_revocation(chain, payload, hash_type):
    hc1 = issue_hc1(payload, chain.signer, now=SIGN_AT, valid_days=30)
    first = verify_hc1(hc1, chain.trust, now=VERIFY_AT)
    entries = revocation_entries(uci=first.uci, country=first.payload["v"][0]["co"],
                                 signature=first.signature, alg=first.alg, types=[hash_type])
    revoked = RevocationList.from_json(revocation_list_json(entries))
    assert verify_hc1(hc1, chain.trust, now=VERIFY_AT, revocation=revoked).errors == ["REVOKED"]
    other = issue_hc1(make_payload(uvci="URN:UVCI:01:VN:OTHER#A"), chain.signer, now=SIGN_AT, valid_days=30)
    assert verify_hc1(other, chain.trust, now=VERIFY_AT, revocation=revoked).valid


def test_es256_signature_hash_covers_only_r(es256, payload):
    entries = revocation_entries(uci="u", country="VN", signature=b"r" * 32 + b"s" * 32,
                                 alg="ES256", types=["SIGNATURE"])
    assert base64.b64decode(entries[0]["hash"]) == hashlib.sha256(b"r" * 32).digest()[:16]


# -- never raises ---------------------------------------------------------------------------------
cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | st.floats()
    | st.text(max_size=20) | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.integers(-300, 300) | st.text(max_size=3), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=examples(3), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.text(max_size=200),
    st.text(alphabet=_B45, max_size=300).map(lambda t: "HC1:" + t),
    st.binary(max_size=300).map(lambda b: "HC1:" + b45encode(b)),
    st.binary(max_size=300).map(hc1_of),
    cbor_values.map(lambda v: hc1_of(cbor2.dumps(v))),
    st.tuples(cbor_values, cbor_values, cbor_values, st.binary(max_size=70)).map(
        lambda t: hc1_of(cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps(t[0]), t[1] if isinstance(t[1], dict) else {},
                                                        cbor2.dumps(t[2]), t[3]])))),
    st.none(), st.integers(), st.binary(max_size=20),
))
def test_verifier_never_raises(es256, anything):
    result = verify_hc1(anything, es256.trust, now=VERIFY_AT)
    assert not result.valid and result.errors
    __import__("json").dumps(result.to_json())


@pytest.mark.parametrize("size", [0, 23, 24, 255, 256, 65535, 65536])
def test_hand_framed_cose_equals_cbor2_encoding(size):
    from chalicelib.dcc.cose import cose_sign1, sig_structure

    protected, payload, signature = b"\xa2\x01\x26\x04\x48" + b"k" * 8, b"p" * size, b"s" * 64
    assert sig_structure(protected, payload) == cbor2.dumps(["Signature1", protected, b"", payload])
    assert cose_sign1(protected, payload, signature) == cbor2.dumps(
        cbor2.CBORTag(18, [protected, {}, payload, signature]))


def test_hostile_sizes_are_refused_early_and_not_cached(es256):
    from chalicelib.dcc.verify import MAX_HC1_CHARS, _small_protected_header

    assert errors("HC1:" + "0" * MAX_HC1_CHARS, es256) == ["BAD_ZLIB"]  # longer than any DCC
    # A 60 KiB protected header of empty arrays inflates to megabytes of objects: decoded
    # once, never kept in the header cache.
    before = _small_protected_header.cache_info().currsize
    huge = forge(es256, protected=None)
    body = cbor2.loads(zlib.decompress(tiny_b45decode(huge[4:])))
    body.value[0] = b"\x99\x75\x30" + b"\x80" * 30_000  # one array of 30,000 empty arrays
    assert errors(hc1_of(cbor2.dumps(body)), es256) == ["NOT_COSE_SIGN1"]
    assert _small_protected_header.cache_info().currsize == before
