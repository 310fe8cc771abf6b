"""Facility signing certificates: a government CA, the certificates it issues, and their checks.

A facility head signs a batch manifest with a key that never leaves the facility; the server only
ever sees the certificate and the signature. Who a certificate speaks for is read from standard
subject attributes, so certificates from a real government CA (not only our dev CA) can carry it
without a private extension:

    OU            "vaxpass-facility" or "vaxpass-province-focal-agency" (the signer's role)
    serialNumber  the facility id, or the focal agency's id
    ST            the province code (required for a focal agency: the province it signs for)

KeyUsage must allow digitalSignature and nonRepudiation (contentCommitment): the signature is an
attestation by the facility, which it must not be able to disown later.

Supported signatures (the `algorithm` names travel with each signature):
    ES256  ECDSA P-256 with SHA-256, DER-encoded (r, s)
    RS256  RSA PKCS#1 v1.5 with SHA-256
    PS256  RSA-PSS with SHA-256, MGF1-SHA-256 (signing uses a 32-byte salt; any salt verifies)
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from chalicelib.errors import ValidationError

ROLE_FACILITY = "vaxpass-facility"
ROLE_FOCAL_AGENCY = "vaxpass-province-focal-agency"
ALGORITHMS = ("ES256", "RS256", "PS256")


class CertificateRejected(ValidationError):
    """The presented certificate may not sign batches; `details["reason"]` says why (stable)."""

    code = "SIGNER_CERTIFICATE_REJECTED"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, details={"reason": reason})
        self.reason = reason


class SignatureInvalid(ValidationError):
    code = "SIGNATURE_INVALID"


class KeyMaterialError(ValidationError):
    """A key or certificate file could not be read (wrong format, wrong password)."""

    code = "KEY_MATERIAL_INVALID"


@dataclass(frozen=True)
class SignerIdentity:
    role: str  # ROLE_FACILITY or ROLE_FOCAL_AGENCY
    subject_id: str  # facility id or agency id
    province: str | None


# -- keys and certificates ----------------------------------------------------------------------
def generate_key(kind: str = "EC"):
    if kind == "EC":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValidationError(f"key kind must be EC or RSA, not {kind!r}")


def _serial(random_bytes) -> int:
    # Positive, at most 20 octets (RFC 5280), from injected randomness so tests are deterministic.
    return int.from_bytes(random_bytes(20), "big") >> 1 or 1


def _key_usage(*, signer: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=signer, content_commitment=signer, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=not signer,
                         crl_sign=not signer, encipher_only=False, decipher_only=False)


def issue_government_ca(private_key, *, now: datetime, valid_days: int, random_bytes,
                        common_name: str = "Viet Nam Health Facility Signing CA (dev)",
                        country: str = "VN") -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, country),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ministry of Health"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    public_key = private_key.public_key()
    return (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(public_key)
            .serial_number(_serial(random_bytes))
            .not_valid_before(now).not_valid_after(now + timedelta(days=valid_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(signer=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .sign(private_key, hashes.SHA256()))


def issue_signer_certificate(public_key, *, ca_cert: x509.Certificate, ca_key, subject_id: str,
                             name: str, now: datetime, valid_days: int, random_bytes,
                             province: str | None = None, focal_agency: bool = False,
                             key_usage: x509.KeyUsage | None = None, country: str = "VN") -> x509.Certificate:
    """A facility certificate, or (`focal_agency=True`) a province focal agency's one.
    `key_usage` overrides the usual one; only tests need that (to build a bad certificate)."""
    if focal_agency and not province:
        raise ValidationError("a focal agency certificate needs the province it signs for")
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, country)]
    if province:
        attrs.append(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, province))
    attrs += [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME,
                                 ROLE_FOCAL_AGENCY if focal_agency else ROLE_FACILITY),
              x509.NameAttribute(NameOID.SERIAL_NUMBER, subject_id),
              x509.NameAttribute(NameOID.COMMON_NAME, name[:64])]
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (x509.CertificateBuilder()
            .subject_name(x509.Name(attrs)).issuer_name(ca_cert.subject).public_key(public_key)
            .serial_number(_serial(random_bytes))
            .not_valid_before(now)
            .not_valid_after(min(now + timedelta(days=valid_days), ca_cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(key_usage or _key_usage(signer=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(ca_key, hashes.SHA256()))


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 over the DER certificate, lower-case hex: how registered certificates are named."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def load_certificate(data: bytes | str) -> x509.Certificate:
    raw = data.encode("ascii") if isinstance(data, str) else data
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(raw)
        return x509.load_der_x509_certificate(raw)
    except ValueError as e:
        raise KeyMaterialError("not an X.509 certificate (PEM or DER)") from e


def load_signing_key(data: bytes, password: bytes | None = None):
    """(private key, certificate or None) from a PEM file (key, optionally followed by its
    certificate) or a PKCS#12 bundle (key and certificate)."""
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError, UnsupportedAlgorithm) as e:
            raise KeyMaterialError("cannot read the PEM private key (wrong password or not a key)") from e
        certs = x509.load_pem_x509_certificates(data) if b"CERTIFICATE-----" in data else []
        return key, (certs[0] if certs else None)
    try:
        p12_key, cert, _chain = pkcs12.load_key_and_certificates(data, password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise KeyMaterialError("cannot read the PKCS#12 file (wrong password or not PKCS#12)") from e
    if p12_key is None:
        raise KeyMaterialError("the PKCS#12 file holds no private key")
    return p12_key, cert


def to_pkcs12(key, cert: x509.Certificate, *, password: bytes | None, friendly_name: str,
              ca_cert: x509.Certificate | None = None) -> bytes:
    enc = (serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption())
    return pkcs12.serialize_key_and_certificates(friendly_name.encode("utf-8"), key, cert,
                                                 [ca_cert] if ca_cert is not None else None, enc)


def private_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def same_public_key(key, cert: x509.Certificate) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key.public_key().public_bytes(*fmt) == cert.public_key().public_bytes(*fmt)


# -- validation ---------------------------------------------------------------------------------
def signer_identity(cert: x509.Certificate) -> SignerIdentity:
    def one(oid) -> str | None:
        values = cert.subject.get_attributes_for_oid(oid)
        return str(values[0].value) if len(values) == 1 else None

    role, subject_id = one(NameOID.ORGANIZATIONAL_UNIT_NAME), one(NameOID.SERIAL_NUMBER)
    if role not in (ROLE_FACILITY, ROLE_FOCAL_AGENCY) or not subject_id:
        raise CertificateRejected("NOT_A_SIGNER_CERTIFICATE",
                                  "certificate does not name a facility or focal agency")
    province = one(NameOID.STATE_OR_PROVINCE_NAME)
    if role == ROLE_FOCAL_AGENCY and not province:
        raise CertificateRejected("NOT_A_SIGNER_CERTIFICATE", "focal agency certificate names no province")
    return SignerIdentity(role, subject_id, province)


def _within(cert: x509.Certificate, at: datetime) -> bool:
    return cert.not_valid_before_utc <= at <= cert.not_valid_after_utc


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        # Name mismatch, unsupported key type or bad signature: all mean "not this issuer".
        return False
    return True


def validate_signer_certificate(cert: x509.Certificate, *, ca_certs: list[x509.Certificate],
                                at: datetime) -> SignerIdentity:
    """Checks the certificate may sign batches at `at`; returns whom it speaks for."""
    issuer = next((ca for ca in ca_certs if _issued_by(cert, ca)), None)
    if issuer is None:
        raise CertificateRejected("UNTRUSTED_ISSUER", "certificate is not issued by a registered government CA")
    if not _within(issuer, at):
        raise CertificateRejected("ISSUER_NOT_VALID_NOW", "the issuing CA certificate is not valid at this time")
    if not _within(cert, at):
        raise CertificateRejected("NOT_VALID_NOW", "certificate is not valid at this time")
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if bc.ca:
            raise CertificateRejected("KEY_USAGE", "a CA certificate cannot sign batches")
    except x509.ExtensionNotFound:
        pass  # an end-entity certificate may omit BasicConstraints (RFC 5280 4.2.1.9)
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as e:
        raise CertificateRejected("KEY_USAGE", "certificate has no key usage") from e
    if not (ku.digital_signature and ku.content_commitment):
        raise CertificateRejected("KEY_USAGE", "key usage must allow digitalSignature and nonRepudiation")
    return signer_identity(cert)


def validate_ca_certificate(cert: x509.Certificate) -> None:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound as e:
        raise CertificateRejected("NOT_A_CA", "certificate is not a CA certificate") from e
    if not bc.ca:
        raise CertificateRejected("NOT_A_CA", "certificate is not a CA certificate")


# -- signatures ---------------------------------------------------------------------------------
def default_algorithm(key) -> str:
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "ES256"
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "PS256"
    raise ValidationError("only EC P-256 and RSA keys can sign batches")


def sign(private_key, message: bytes, algorithm: str | None = None) -> tuple[bytes, str]:
    alg = algorithm or default_algorithm(private_key)
    _check_key_fits(private_key.public_key(), alg)
    if alg == "ES256":
        return private_key.sign(message, ec.ECDSA(hashes.SHA256())), alg
    if alg == "RS256":
        return private_key.sign(message, padding.PKCS1v15(), hashes.SHA256()), alg
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    return private_key.sign(message, pss, hashes.SHA256()), alg


def _check_key_fits(public_key, alg: str) -> None:
    if alg not in ALGORITHMS:
        raise SignatureInvalid(f"algorithm must be one of {', '.join(ALGORITHMS)}")
    if alg == "ES256":
        if not (isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1)):
            raise SignatureInvalid("ES256 needs an EC P-256 key")
    elif not (isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size >= 2048):
        raise SignatureInvalid(f"{alg} needs an RSA key of at least 2048 bits")


def verify_signature(cert: x509.Certificate, message: bytes, signature: bytes, algorithm: str) -> None:
    """Raises SignatureInvalid unless `signature` is the certificate key's signature of `message`."""
    key = cert.public_key()
    _check_key_fits(key, algorithm)
    try:
        # _check_key_fits allows an EC P-256 key for ES256 only and an RSA key for RS256/PS256 only.
        if algorithm == "ES256" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif algorithm == "RS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        elif algorithm == "PS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                       salt_length=padding.PSS.AUTO), hashes.SHA256())
        else:
            raise SignatureInvalid(f"{algorithm} cannot be verified with this certificate's key")
    except InvalidSignature as e:
        raise SignatureInvalid("signature does not verify with the certificate's key") from e
