"""Trust store for verification and the trust-list exports for other verifiers.

Exports: our DSCs as a DCC-style trust list (`trust_list_json`) and as a JWKS (`jwks`) with the
certificate chain in `x5c`. Imports: such a trust list, a JWKS with `x5c`, a PEM/DER certificate
file, or a directory of certificates, including foreign DSCs. Each trusted key is prepared once
(public key, alg, allowed certificate types), so verifying does no certificate parsing.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from chalicelib.dcc import x509_lenient as lenient
from chalicelib.dcc.cose import kid_for_certificate_der
from chalicelib.dcc.pki import key_usage
from chalicelib.dcc.signer import alg_for_public_key
from chalicelib.errors import ValidationError


class TrustListError(ValidationError):
    code = "DCC_BAD_TRUST_LIST"


@dataclass(frozen=True)
class TrustedKey:
    kid: bytes
    certificate: x509.Certificate
    public_key: object
    alg: str
    not_before: datetime
    not_after: datetime
    types: frozenset[str]
    country: str | None
    notes: tuple[str, ...] = ()  # extensions that could not be read (see pki.key_usage)

    @property
    def window_s(self) -> tuple[float, float]:
        """(notBefore, notAfter) as epoch seconds, computed once per key."""
        cached = self.__dict__.get("_window_s")
        if cached is None:
            cached = (self.not_before.timestamp(), self.not_after.timestamp())
            object.__setattr__(self, "_window_s", cached)
        return cached


def certificate_country(cert: x509.Certificate) -> str | None:
    countries = cert.subject.get_attributes_for_oid(x509.NameOID.COUNTRY_NAME)
    return str(countries[0].value) if countries else None


def trusted_key(cert: x509.Certificate, kid: bytes | None = None) -> TrustedKey:
    """The certificate as a trusted DCC signer. Raises UnsupportedAlgorithm for a key no DCC
    algorithm uses; extensions it cannot parse only lift the usage restriction (`notes`)."""
    der = cert.public_bytes(Encoding.DER)
    public_key = cert.public_key()
    types, notes = key_usage(cert)
    return TrustedKey(
        kid=kid if kid is not None else kid_for_certificate_der(der),
        certificate=cert, public_key=public_key, alg=alg_for_public_key(public_key),
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc, types=types,
        country=certificate_country(cert), notes=notes)


class TrustStore:
    """Trusted DSC keys by kid. Several certificates may share a kid; all are tried."""

    def __init__(self, keys: Iterable[TrustedKey] = ()) -> None:
        self._by_kid: dict[bytes, list[TrustedKey]] = {}
        for key in keys:
            self.add(key)

    @classmethod
    def from_certificates(cls, certs: Iterable[x509.Certificate]) -> "TrustStore":
        return cls(trusted_key(c) for c in certs)

    def add(self, key: TrustedKey) -> None:
        self._by_kid.setdefault(key.kid, []).append(key)

    def candidates(self, kid: bytes) -> list[TrustedKey]:
        return self._by_kid.get(kid, [])

    def keys(self) -> list[TrustedKey]:
        return [k for keys in self._by_kid.values() for k in keys]

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_kid.values())


# -- export ------------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64url_uint(n: int, size: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes(size, "big")).decode("ascii").rstrip("=")


def trust_list_json(certs: Iterable[x509.Certificate]) -> list[dict]:
    out = []
    for cert in certs:
        key = trusted_key(cert)
        out.append({
            "country": key.country,
            "kid": _b64(key.kid),
            "certificate": _b64(cert.public_bytes(Encoding.DER)),
            "not_before": key.not_before.isoformat(),
            "not_after": key.not_after.isoformat(),
            "alg": key.alg,
        })
    return out


def jwks(certs: Iterable[x509.Certificate]) -> dict:
    keys = []
    for cert in certs:
        key = trusted_key(cert)
        entry = {"kid": _b64(key.kid), "alg": key.alg, "use": "sig",
                 "x5c": [_b64(cert.public_bytes(Encoding.DER))]}
        public_key = key.public_key  # EC P-256 or RSA: trusted_key refuses any other
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            point = public_key.public_numbers()
            entry.update(kty="EC", crv="P-256", x=_b64url_uint(point.x, 32),
                         y=_b64url_uint(point.y, 32))
        elif isinstance(public_key, rsa.RSAPublicKey):
            numbers = public_key.public_numbers()
            size = (numbers.n.bit_length() + 7) // 8
            entry.update(kty="RSA", n=_b64url_uint(numbers.n, size),
                         e=_b64url_uint(numbers.e, (numbers.e.bit_length() + 7) // 8))
        keys.append(entry)
    return {"keys": keys}


# -- import ------------------------------------------------------------------------------------
def load_certificate_bytes(data: bytes) -> x509.Certificate:
    return load_certificate_bundle(data)[0]


def load_certificate_bundle(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM file (bundles are common for foreign trust lists) or the one
    certificate of a DER file."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(_unarmoured(data))]
    except ValueError as e:
        raise TrustListError("not a PEM or DER X.509 certificate") from e


def _unarmoured(data: bytes) -> bytes:
    """DER, also from bare base64 text (how trust lists and test data such as dgc-testdata's
    TESTCTX.CERTIFICATE carry a certificate)."""
    text = data.strip()
    if text[:1] == b"\x30" or not text:  # DER starts with a SEQUENCE
        return data
    try:
        return base64.b64decode(b"".join(text.split()), validate=True)
    except ValueError:
        return data


def is_ca(cert: x509.Certificate) -> bool:
    """The certificate's CA flag, read leniently (a malformed extension elsewhere does not hide it)."""
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False
    except (ValueError, x509.DuplicateExtension):
        try:
            found = [e for e in lenient.raw_extensions(cert.public_bytes(Encoding.DER))
                     if e.oid == lenient.OID_BASIC_CONSTRAINTS]
            return any(lenient.is_ca_flag(e.value) for e in found)
        except lenient.DerError:
            return False


def document_signer(cert: x509.Certificate, kid: bytes | None = None) -> TrustedKey:
    """A certificate the user names as a trusted signer, used as one whatever its basic
    constraints (some countries sign with a CA-flagged certificate). Which certificates are
    anchors rather than signers is decided where they are loaded (`split_anchors`)."""
    return trusted_key(cert, kid)


def issued(issuer: x509.Certificate, cert: x509.Certificate) -> bool:
    """Whether `issuer`'s key signed `cert` (and names it as issuer)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def split_anchors(certs: list[x509.Certificate]) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """(signers, anchors) of a set of certificates: one that issued another certificate of the
    set is an anchor (a CSCA next to its DSCs, as `keys init` writes them), never a signer."""
    anchors = [c for c in certs if any(o is not c and o != c and issued(c, o) for o in certs)]
    return [c for c in certs if c not in anchors], anchors


def _decode_b64(value, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (TypeError, ValueError) as e:
        raise TrustListError(f"{what} is not base64") from e


def _entries_of(doc) -> list:
    # Ours ({"certificates": [...]}), the gateway form ({"entries": [...]}, signed or not), a
    # bare list of entries, or a JWKS ({"keys": [...]}).
    if isinstance(doc, dict):
        for name in ("entries", "certificates", "keys"):
            if name in doc:
                entries = doc[name]
                break
        else:
            entries = None
    else:
        entries = doc
    if not isinstance(entries, list):
        raise TrustListError("trust list must be a list of entries or a JWKS")
    return entries


def _entry_certificate(entry) -> bytes:
    if not isinstance(entry, dict):
        raise TrustListError("trust list entry is not an object")
    for name in ("rawData", "certificate"):
        if name in entry:
            return _decode_b64(entry[name], name)
    if isinstance(entry.get("x5c"), list) and entry["x5c"]:
        return _decode_b64(entry["x5c"][0], "x5c")
    raise TrustListError("trust list entry has no certificate")


def _keys_from_document(doc, skipped: list[str] | None,
                        anchors: list[x509.Certificate] | None) -> list[TrustedKey]:
    keys = []
    for number, entry in enumerate(_entries_of(doc), start=1):
        der = _entry_certificate(entry)
        kind = entry.get("certificateType", "DSC")
        try:
            cert = load_certificate_bytes(der)
            if kind == "CSCA":  # a trust anchor: checks chains, never signs a DCC itself
                if anchors is not None:
                    anchors.append(cert)
                continue
            if kind != "DSC":
                raise TrustListError(f"certificateType {str(kind)[:20]!r} is neither DSC nor CSCA")
            kid = _decode_b64(entry["kid"], "kid") if "kid" in entry else None
            keys.append(document_signer(cert, kid))
        except ValidationError as e:  # TrustListError, UnsupportedAlgorithm
            # One foreign entry we cannot use (e.g. a P-384 DSC) must not block the others.
            if skipped is not None:
                skipped.append(f"entry {number}: {e}")
    return keys


def trust_store_from_document(doc, skipped: list[str] | None = None,
                              anchors: list[x509.Certificate] | None = None) -> TrustStore:
    """A parsed trust list (ours, the gateway form, or a JWKS with x5c). Entries that cannot be
    DCC signers are left out, with the reason appended to `skipped`; CSCA entries are appended
    to `anchors`."""
    return TrustStore(_keys_from_document(doc, skipped, anchors))


def load_trust_list(path: str | Path, skipped: list[str] | None = None) -> TrustStore:
    """A trust list JSON file; see `trust_store_from_document`."""
    try:
        doc = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise TrustListError(f"cannot read trust list {path}") from e
    return trust_store_from_document(doc, skipped)


CERTIFICATE_SUFFIXES = (".pem", ".crt", ".cer", ".der")


def _read_certificates(path: Path, in_directory: bool, skipped: list[str] | None) -> list[x509.Certificate]:
    try:
        return load_certificate_bundle(path.read_bytes())
    except OSError as e:
        raise TrustListError(f"cannot read {path}") from e
    except TrustListError as e:
        if not in_directory:
            raise TrustListError(f"{path}: {e}") from e
        if skipped is not None and not path.name.endswith(".key.pem"):
            skipped.append(f"{path}: {e}")
        return []


def load_certificates(paths: Iterable[str | Path], skipped: list[str] | None = None,
                      anchors: list[x509.Certificate] | None = None) -> TrustStore:
    """Certificate files (PEM, including bundles, or DER) and directories of them.

    A file named explicitly must be a certificate file, and every certificate in it is a
    trusted signer, whatever its basic constraints. In a directory, files that are not
    certificates are passed over (private keys sit next to certificates in `keys init` output),
    and a certificate that issued another certificate of the directory is an anchor, not a
    signer (appended to `anchors`, noted in `skipped`). Certificates whose key no DCC algorithm
    uses are left out with the reason appended to `skipped`, so one foreign DSC on a curve we do
    not verify does not block a whole directory."""
    named: list[tuple[Path, x509.Certificate]] = []
    for path in map(Path, paths):
        if not path.is_dir():
            named.extend((path, c) for c in _read_certificates(path, False, skipped))
            continue
        found = [(file, c) for file in sorted(p for p in path.iterdir() if p.suffix.lower() in CERTIFICATE_SUFFIXES)
                 for c in _read_certificates(file, True, skipped)]
        _, issuers = split_anchors([c for _, c in found])
        for file, cert in found:
            if cert in issuers:
                if anchors is not None:
                    anchors.append(cert)
                if skipped is not None:
                    skipped.append(f"{file}: {cert.subject.rfc4514_string()}: issued another certificate "
                                   "of the folder: a trust anchor (CSCA), not a signer")
            else:
                named.append((file, cert))
    keys = []
    for file, cert in named:
        try:
            keys.append(document_signer(cert))
        except ValidationError as e:  # UnsupportedAlgorithm
            if skipped is not None:
                skipped.append(f"{file}: {cert.subject.rfc4514_string()}: {e}")
    return TrustStore(keys)


def chained_to(store: TrustStore, anchors: list[x509.Certificate], skipped: list[str] | None = None) -> TrustStore:
    """The keys of `store` whose certificate an anchor issued (or that is an anchor itself);
    the others are noted in `skipped`."""
    kept = []
    for key in store.keys():
        # A CSCA vouches for its own country's signers only: a DE anchor issuing a C=VN signer is
        # no reason to accept Vietnamese passports it signs.
        if any(key.certificate == a or (issued(a, key.certificate)
                                        and certificate_country(a) == certificate_country(key.certificate))
               for a in anchors):
            kept.append(key)
        elif skipped is not None:
            skipped.append(f"{key.certificate.subject.rfc4514_string()}: not issued by any trust anchor "
                           "(CSCA) of its country given")
    return TrustStore(kept)


__all__ = ["TrustStore", "TrustedKey", "TrustListError", "trusted_key", "trust_list_json", "jwks",
           "load_trust_list", "trust_store_from_document", "document_signer", "load_certificates",
           "load_certificate_bytes", "load_certificate_bundle", "is_ca", "issued", "split_anchors",
           "chained_to", "certificate_country"]
