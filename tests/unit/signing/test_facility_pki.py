"""Facility certificate validation, signatures (EC, RSA PKCS#1 v1.5, RSA-PSS), key loading."""
from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from chalicelib.signing import facility_pki as pki
from tests.unit.signing.conftest import T0


def test_facility_certificate_validates_and_names_its_facility(gov, later):
    _, cert = gov.signer("FAC-001", province="079")
    who = pki.validate_signer_certificate(cert, ca_certs=[gov.ca], at=later)
    assert who == pki.SignerIdentity(pki.ROLE_FACILITY, "FAC-001", "079")
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.content_commitment and not ku.key_cert_sign


def test_focal_agency_certificate_names_its_province(gov, later):
    _, cert = gov.signer("HCMC-CDC", province="079", focal_agency=True)
    who = pki.validate_signer_certificate(cert, ca_certs=[gov.ca], at=later)
    assert who.role == pki.ROLE_FOCAL_AGENCY and who.province == "079"


@pytest.mark.parametrize("at", [T0 + timedelta(days=30 + 366), T0 + timedelta(days=29)],
                         ids=["expired", "not-yet-valid"])
def test_certificate_outside_its_validity_is_rejected(gov, at):
    _, cert = gov.signer("FAC-001", days=365, start=T0 + timedelta(days=30))
    with pytest.raises(pki.CertificateRejected) as e:
        pki.validate_signer_certificate(cert, ca_certs=[gov.ca], at=at)
    assert e.value.reason == "NOT_VALID_NOW"


def test_certificate_under_an_expired_ca_is_rejected(gov):
    _, cert = gov.signer("FAC-001", days=365)
    with pytest.raises(pki.CertificateRejected) as e:
        pki.validate_signer_certificate(cert, ca_certs=[gov.ca], at=T0 - timedelta(seconds=1))
    assert e.value.reason == "ISSUER_NOT_VALID_NOW"


def test_certificate_of_another_ca_is_rejected(gov, other_gov, later):
    _, cert = other_gov.signer("FAC-001")
    with pytest.raises(pki.CertificateRejected) as e:
        pki.validate_signer_certificate(cert, ca_certs=[gov.ca], at=later)
    assert e.value.reason == "UNTRUSTED_ISSUER"
    # Trusting both CAs accepts it.
    assert pki.validate_signer_certificate(cert, ca_certs=[gov.ca, other_gov.ca], at=later).subject_id == "FAC-001"


def test_certificate_with_the_same_issuer_name_but_a_forged_signature_is_rejected(gov, later):
    impostor = pki.generate_key()
    fake_ca = pki.issue_government_ca(impostor, now=T0, valid_days=3650, random_bytes=gov.rnd)  # same name
    cert = pki.issue_signer_certificate(pki.generate_key().public_key(), ca_cert=fake_ca, ca_key=impostor,
                                        subject_id="FAC-001", name="x", now=T0, valid_days=30,
                                        random_bytes=gov.rnd)
    assert cert.issuer == gov.ca.subject
    with pytest.raises(pki.CertificateRejected):
        pki.validate_signer_certificate(cert, ca_certs=[gov.ca], at=later)


def test_certificate_without_non_repudiation_is_rejected(gov, later):
    ku = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                       data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                       encipher_only=False, decipher_only=False)
    _, cert = gov.signer("FAC-001", key_usage=ku)
    with pytest.raises(pki.CertificateRejected) as e:
        pki.validate_signer_certificate(cert, ca_certs=[gov.ca], at=later)
    assert e.value.reason == "KEY_USAGE"


def test_ca_certificate_itself_cannot_sign(gov, later):
    with pytest.raises(pki.CertificateRejected):
        pki.validate_signer_certificate(gov.ca, ca_certs=[gov.ca], at=later)


def test_focal_agency_needs_a_province(gov):
    with pytest.raises(pki.ValidationError):
        gov.signer("CDC", focal_agency=True)


@pytest.mark.parametrize("kind, alg", [("EC", "ES256"), ("RSA", "RS256"), ("RSA", "PS256")])
def test_signatures_round_trip_and_verify_independently(gov, kind, alg):
    key, cert = gov.signer("FAC-001", kind=kind)
    msg = b"vaxpass-signing-batch-v1\x00message"
    sig, used = pki.sign(key, msg, alg)
    assert used == alg
    pki.verify_signature(cert, msg, sig, alg)
    # Independent check with the primitive the algorithm names.
    pub = cert.public_key()
    if alg == "ES256":
        pub.verify(sig, msg, ec.ECDSA(hashes.SHA256()))
    elif alg == "RS256":
        pub.verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())
    else:
        pub.verify(sig, msg, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    with pytest.raises(pki.SignatureInvalid):
        pki.verify_signature(cert, msg + b"!", sig, alg)


def test_default_algorithms_and_mismatched_ones(gov):
    ec_key, ec_cert = gov.signer("F", kind="EC")
    rsa_key, rsa_cert = gov.signer("F", kind="RSA")
    assert pki.sign(ec_key, b"m")[1] == "ES256" and pki.sign(rsa_key, b"m")[1] == "PS256"
    sig, _ = pki.sign(rsa_key, b"m", "RS256")
    with pytest.raises(pki.SignatureInvalid):
        pki.verify_signature(rsa_cert, b"m", sig, "PS256")  # right key, wrong padding
    with pytest.raises(pki.SignatureInvalid):
        pki.verify_signature(ec_cert, b"m", sig, "RS256")  # algorithm does not fit the key
    with pytest.raises(pki.SignatureInvalid):
        pki.verify_signature(ec_cert, b"m", sig, "HS256")


def test_pss_from_other_tools_with_other_salt_lengths_verifies(gov):
    key, cert = gov.signer("F", kind="RSA")
    sig = key.sign(b"m", padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH),
                   hashes.SHA256())
    pki.verify_signature(cert, b"m", sig, "PS256")


def test_keys_load_from_pem_and_pkcs12(gov):
    key, cert = gov.signer("F")
    pem_key = pki.private_pem(key)
    loaded, c = pki.load_signing_key(pem_key)
    assert pki.same_public_key(loaded, cert) and c is None
    loaded, c = pki.load_signing_key(pem_key + cert.public_bytes(serialization.Encoding.PEM))
    assert c == cert
    p12 = pki.to_pkcs12(key, cert, password=b"secret", friendly_name="F", ca_cert=gov.ca)
    loaded, c = pki.load_signing_key(p12, b"secret")
    assert pki.same_public_key(loaded, cert) and c == cert
    with pytest.raises(pki.KeyMaterialError):
        pki.load_signing_key(p12, b"wrong")
    with pytest.raises(pki.KeyMaterialError):
        pki.load_signing_key(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    other, _ = gov.signer("G")
    assert not pki.same_public_key(other, cert)


def test_fingerprint_is_sha256_of_der(gov):
    import hashlib

    _, cert = gov.signer("F")
    assert pki.fingerprint(cert) == hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert pki.load_certificate(pki.pem(cert)) == cert
    with pytest.raises(pki.KeyMaterialError):
        pki.load_certificate(b"garbage")
