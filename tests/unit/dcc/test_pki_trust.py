"""PKI shape (CSCA, DSC extensions) and loading trust from files, directories and documents."""
from __future__ import annotations

import base64
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from chalicelib.dcc import issue_hc1, verify_hc1
from chalicelib.dcc.cose import kid_for_certificate_der
from chalicelib.dcc.errors import UnsupportedAlgorithm
from chalicelib.dcc.pki import issue_csca, issue_dsc
from chalicelib.dcc.signer import LocalKeySigner
from chalicelib.dcc.trust import (TrustListError, document_signer, jwks, load_certificates,
                                  load_trust_list, trust_list_json)

from .conftest import SIGN_AT, T0, VERIFY_AT, Chain, make_payload, seeded_bytes

VACCINATION_EKU = x509.ObjectIdentifier("1.3.6.1.4.1.1847.2021.1.2")


def pem(cert) -> bytes:
    return cert.public_bytes(Encoding.PEM)


def test_csca_is_self_signed_ca_and_dsc_carries_eku_and_aki(chain):
    csca, dsc = chain.csca, chain.dsc
    assert csca.issuer == csca.subject
    assert csca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    csca.verify_directly_issued_by(csca)
    dsc.verify_directly_issued_by(csca)
    assert VACCINATION_EKU in dsc.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    aki = dsc.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    ski = csca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert aki == ski


def foreign_p384_dsc():
    key = ec.generate_private_key(ec.SECP384R1())
    csca = issue_csca(key, now=T0, valid_days=3650, random_bytes=seeded_bytes(5), country="DE",
                      common_name="Foreign CSCA")
    return issue_dsc(key.public_key(), csca_cert=csca, csca_key=key, now=T0, valid_days=365,
                     random_bytes=seeded_bytes(6), country="DE", common_name="Foreign P-384 DSC")


def test_a_directory_trusts_its_dscs_not_the_csca_that_issued_them_nor_unusable_foreign_keys(tmp_path, es256, ps256):
    (tmp_path / "csca.pem").write_bytes(pem(es256.csca))
    (tmp_path / "csca.key.pem").write_bytes(es256.csca_key.private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    (tmp_path / "dsc.pem").write_bytes(pem(es256.dsc))
    (tmp_path / "foreign-ps256.der").write_bytes(ps256.dsc.public_bytes(Encoding.DER))
    (tmp_path / "foreign-p384.pem").write_bytes(pem(foreign_p384_dsc()))
    (tmp_path / "notes.crt").write_text("not a certificate")
    skipped: list[str] = []
    store = load_certificates([tmp_path], skipped)

    assert {k.kid for k in store.keys()} == {es256.signer.kid, ps256.signer.kid}
    assert any("csca.pem" in s and "trust anchor" in s for s in skipped)
    assert any("foreign-p384.pem" in s for s in skipped)
    assert any("notes.crt" in s for s in skipped)
    assert not any("csca.key.pem" in s for s in skipped)  # keys beside certificates are expected

    # What the CA exclusion protects against: a certificate signed by the CSCA key directly.
    csca_signed = issue_hc1(make_payload(), CsCaAsSigner(es256), now=SIGN_AT, valid_days=30)
    assert verify_hc1(csca_signed, store, now=VERIFY_AT).errors == ["UNKNOWN_KID"]
    assert verify_hc1(issue_hc1(make_payload(), es256.signer, now=SIGN_AT, valid_days=30), store,
                      now=VERIFY_AT).valid


class CsCaAsSigner(LocalKeySigner):
    def __init__(self, chain: Chain) -> None:
        super().__init__(chain.csca_key, chain.csca)


def test_a_pem_bundle_loads_every_certificate_and_a_named_bad_file_is_an_error(tmp_path, es256, ps256):
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pem(es256.dsc) + pem(ps256.dsc))
    assert len(load_certificates([bundle])) == 2
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(TrustListError, match="bad.pem"):
        load_certificates([bad])


@pytest.mark.parametrize("export", [lambda certs: {"country": "VN", "certificates": trust_list_json(certs)},
                                    jwks])
def test_trust_documents_round_trip_and_skip_unusable_entries(tmp_path, export, es256, ps256):
    doc = export([es256.dsc, ps256.dsc])
    doc_entries = doc["certificates"] if "certificates" in doc else doc["keys"]
    doc_entries.append({"certificate": base64.b64encode(foreign_p384_dsc().public_bytes(Encoding.DER)).decode()})
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(doc))
    skipped: list[str] = []
    store = load_trust_list(path, skipped)
    assert {k.kid for k in store.keys()} == {es256.signer.kid, ps256.signer.kid}
    assert skipped and "entry 3" in skipped[0]


def test_kid_is_the_first_8_bytes_of_the_dsc_der_sha256(es256):
    digest = hashes.Hash(hashes.SHA256())
    digest.update(es256.dsc.public_bytes(Encoding.DER))
    assert es256.signer.kid == digest.finalize()[:8] == kid_for_certificate_der(es256.dsc.public_bytes(Encoding.DER))


def test_rsa_keys_below_2048_bits_are_refused_for_signing_and_trust():
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    csca = issue_csca(weak, now=T0, valid_days=10, random_bytes=seeded_bytes(1))
    dsc = issue_dsc(weak.public_key(), csca_cert=csca, csca_key=weak, now=T0, valid_days=5,
                    random_bytes=seeded_bytes(2))
    with pytest.raises(UnsupportedAlgorithm):
        document_signer(dsc)
    with pytest.raises(UnsupportedAlgorithm):
        LocalKeySigner(weak, dsc)
