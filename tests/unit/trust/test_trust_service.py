"""TrustService: the real service, built by the composition root over the fakes. What verifiers
download: the document signer certificates registered (never a CA, never a key no DCC algorithm
uses) as the trust list and as a JWKS, and the revocation list the passport store keeps."""
from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from chalicelib import errors
from chalicelib.dcc.pki import generate_key, issue_csca, issue_dsc
from chalicelib.dcc.uvci import make_uvci
from tests.fakes import fake_container

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def pki():
    csca_key = generate_key("ES256")
    csca = issue_csca(csca_key, now=NOW, valid_days=3650, random_bytes=secrets.token_bytes)
    dsc = issue_dsc(generate_key("ES256").public_key(), csca_cert=csca, csca_key=csca_key, now=NOW, valid_days=365,
                    random_bytes=secrets.token_bytes)
    p384 = issue_dsc(ec.generate_private_key(ec.SECP384R1()).public_key(), csca_cert=csca, csca_key=csca_key, now=NOW,
                     valid_days=365, random_bytes=secrets.token_bytes)
    return csca, dsc, p384


def test_a_registered_dsc_is_published_in_the_trust_list_and_the_jwks(pki):
    _, dsc, _ = pki
    c = fake_container()
    entry = c.trust.register_dsc(dsc.public_bytes(Encoding.DER), key_ref="alias/dsc-es256", now=NOW)
    kid = base64.b64encode(hashlib.sha256(dsc.public_bytes(Encoding.DER)).digest()[:8]).decode()
    assert (entry.kid, entry.key_ref, entry.registered_at) == (kid, "alias/dsc-es256", "2026-01-05T08:00:00+00:00")
    c.trust.register_dsc(dsc.public_bytes(Encoding.PEM), key_ref="alias/dsc-es256", now=NOW)  # again: one entry
    listed = c.trust.trust_list()
    assert listed["country"] == "VN" and [e["kid"] for e in listed["certificates"]] == [kid]
    assert base64.b64decode(listed["certificates"][0]["certificate"]) == dsc.public_bytes(Encoding.DER)
    [key] = c.trust.jwks()["keys"]
    assert key["kid"] == kid and base64.b64decode(key["x5c"][0]) == dsc.public_bytes(Encoding.DER)


@pytest.mark.parametrize("which", ["csca", "p384", "garbage"])
def test_attack_a_ca_a_key_no_dcc_algorithm_uses_or_no_certificate_is_never_published(pki, which):
    csca, _, p384 = pki
    data = {"csca": csca.public_bytes(Encoding.PEM), "p384": p384.public_bytes(Encoding.PEM),
            "garbage": b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}[which]
    c = fake_container()
    with pytest.raises(errors.ValidationError):
        c.trust.register_dsc(data, key_ref=None, now=NOW)
    assert c.trust.trust_list()["certificates"] == [] and c.dscs.all() == []


def test_a_revocation_lists_its_three_hashes_for_the_publisher():
    from chalicelib.issuance.revocation import Actor

    c = fake_container(clock=lambda: NOW)
    uvci = make_uvci(lambda n: bytes([1] * n))
    c.passports.issue("001090012345", 1, uvci)
    assert list(c.passports.listed_between("", "9999")) == []
    c.revocations.revoke({"uvci": uvci, "reason": "forged"}, Actor("ministry", "m-1"))
    listed = list(c.passports.listed_between("", "9999"))
    assert sorted(e.hash_type for e in listed) == ["COUNTRYCODEUCI", "SIGNATURE", "UCI"]
