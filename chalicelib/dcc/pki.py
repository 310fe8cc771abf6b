"""Country Signing CA (CSCA) and Document Signer Certificates (DSC) for the DCC trust chain.

The CSCA is a self-signed root kept offline; DSCs are signed by it and carry the key that signs
passports. A DSC's key may live in KMS, so `issue_dsc` takes the DSC *public* key object, never a
private key. DSCs carry the DCC extended key usages (eHN "DCC certificate governance"), which
verifiers use to limit a DSC to vaccination, test or recovery certificates.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from chalicelib.dcc import x509_lenient as lenient
from chalicelib.dcc.errors import DccInputError

EKU_TEST = x509.ObjectIdentifier("1.3.6.1.4.1.1847.2021.1.1")
EKU_VACCINATION = x509.ObjectIdentifier("1.3.6.1.4.1.1847.2021.1.2")
EKU_RECOVERY = x509.ObjectIdentifier("1.3.6.1.4.1.1847.2021.1.3")
EKU_BY_TYPE = {"t": EKU_TEST, "v": EKU_VACCINATION, "r": EKU_RECOVERY}
# Some early national DSCs used this mis-registered arc; verifiers treat it as equivalent.
LEGACY_EKU_BY_TYPE = {k: x509.ObjectIdentifier(v.dotted_string.replace("1.3.6.1.4.1.1847",
                                                                       "1.3.6.1.4.1.0.1847"))
                      for k, v in EKU_BY_TYPE.items()}


def generate_key(alg: str):
    """A fresh dev key: EC P-256 for ES256, RSA-2048 for PS256."""
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "PS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise DccInputError(f"unsupported algorithm {alg!r}")


def _name(country: str, common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, country),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _serial_from(random_bytes) -> int:
    # Positive 159-bit serial from injected randomness (RFC 5280 allows up to 20 octets).
    return int.from_bytes(random_bytes(20), "big") >> 1 or 1


def issue_csca(private_key, *, now: datetime, valid_days: int, random_bytes,
               country: str = "VN", common_name: str = "Viet Nam CSCA") -> x509.Certificate:
    public_key = private_key.public_key()
    name = _name(country, common_name)
    return (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(public_key)
        .serial_number(_serial_from(random_bytes))
        .not_valid_before(now).not_valid_after(now + timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(private_key, hashes.SHA256())
    )


def issue_dsc(dsc_public_key, *, csca_cert: x509.Certificate, csca_key, now: datetime,
              valid_days: int, random_bytes, usages: tuple[str, ...] = ("v",),
              country: str = "VN", common_name: str = "Viet Nam DSC") -> x509.Certificate:
    """A DSC for `dsc_public_key` (a local or KMS key's public half), signed by the CSCA."""
    unknown = set(usages) - set(EKU_BY_TYPE)
    if not usages or unknown:
        raise DccInputError("usages must be a non-empty subset of 'v', 't', 'r'")
    ski = csca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    not_after = min(now + timedelta(days=valid_days), csca_cert.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(country, common_name)).issuer_name(csca_cert.subject)
        .public_key(dsc_public_key)
        .serial_number(_serial_from(random_bytes))
        .not_valid_before(now).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([EKU_BY_TYPE[u] for u in usages]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(dsc_public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                       critical=False)
        .sign(csca_key, hashes.SHA256())
    )


def allowed_types(cert: x509.Certificate) -> frozenset[str]:
    """Certificate types ('v', 't', 'r') a DSC may sign; see `key_usage`."""
    return key_usage(cert)[0]


def _types_from_eku(oids) -> frozenset[str]:
    # Only the DCC purposes restrict; a DSC whose EKU names none of them (e.g. only clientAuth)
    # is unrestricted, as in the reference verifier apps.
    found = frozenset(t for t in EKU_BY_TYPE if EKU_BY_TYPE[t] in oids or LEGACY_EKU_BY_TYPE[t] in oids)
    return found or frozenset(EKU_BY_TYPE)


def key_usage(cert: x509.Certificate) -> tuple[frozenset[str], tuple[str, ...]]:
    """(certificate types the DSC may sign, notes on extensions that could not be read).

    No DCC usage at all means all types. Extensions `cryptography` cannot parse (real national
    DSCs carry non-DER encodings) never make the key unusable: the extended key usage is then
    read leniently, and if it is itself unreadable the usage restriction is treated as absent.
    The notes name each such extension, for the verifier to show."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return frozenset(EKU_BY_TYPE), ()
    except (ValueError, x509.DuplicateExtension):
        return _lenient_key_usage(cert)
    return _types_from_eku(set(eku)), ()


def _lenient_key_usage(cert: x509.Certificate) -> tuple[frozenset[str], tuple[str, ...]]:
    der = cert.public_bytes(Encoding.DER)
    everything = frozenset(EKU_BY_TYPE)
    try:
        bad = lenient.unparseable_extensions(der)
        extensions = lenient.raw_extensions(der)
    except lenient.DerError:
        return everything, ("extensions unreadable; usage restriction ignored",)
    notes = tuple(f"extension {lenient.extension_name(e.oid)} is malformed; ignored" for e in bad)
    ekus = [e for e in extensions if e.oid == lenient.OID_EXTENDED_KEY_USAGE]
    if len(ekus) != 1 or any(e.oid == lenient.OID_EXTENDED_KEY_USAGE for e in bad):
        return everything, notes + ("usage restriction treated as absent",) if ekus else notes
    try:
        oids = {x509.ObjectIdentifier(o) for o in lenient.eku_oids(ekus[0].value)}
    except (lenient.DerError, ValueError):
        return everything, notes + ("extendedKeyUsage unreadable; usage restriction treated as absent",)
    return _types_from_eku(oids), notes
