"""Reading a certificate's extensions the way the reference verifier apps do: leniently.

`cryptography` parses all extensions of a certificate at once and refuses them all when one is
not strict DER (real national DSCs encode BasicConstraints' default `cA FALSE`, for example), so
a strict verifier would throw away a key whose signatures are perfectly good. This module walks
the certificate's DER itself: it lists the extensions, finds which ones `cryptography` refuses
(each tried alone in a copy of the certificate; the copy's signature is never checked, only its
parsing), and reads the two extensions a DCC verifier needs (extended key usage, the CA flag)
without caring about DER strictness. Pure: bytes in, values out.
"""
from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509

_SEQUENCE, _BOOLEAN, _OID, _OCTET_STRING, _EXPLICIT_3 = 0x30, 0x01, 0x06, 0x04, 0xA3
OID_BASIC_CONSTRAINTS = "2.5.29.19"
OID_EXTENDED_KEY_USAGE = "2.5.29.37"


class DerError(ValueError):
    """The bytes are not the BER/DER structure expected here."""


@dataclass(frozen=True)
class RawExtension:
    oid: str
    critical: bool
    value: bytes  # the extnValue OCTET STRING's content
    der: bytes  # the whole Extension SEQUENCE


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the element at `pos` (definite lengths only)."""
    if pos + 2 > len(data):
        raise DerError("truncated element")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise DerError("unsupported length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise DerError("element runs past its container")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, content start, content end) of each element in data[start:end]."""
    out = []
    while start < end:
        tag, content, stop = _tlv(data, start)
        out.append((tag, start, content, stop))
        start = stop
    return out


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _element(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def _decode_oid(content: bytes) -> str:
    if not content:
        raise DerError("empty object identifier")
    arcs, value = [], 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


def _tbs_extensions(cert_der: bytes):
    """(tbs content range, index of the [3] element among the tbs children, its children)."""
    _, cert_start, cert_end = _tlv(cert_der, 0)
    parts = _children(cert_der, cert_start, cert_end)
    if len(parts) != 3 or parts[0][0] != _SEQUENCE:
        raise DerError("not an X.509 certificate")
    tbs = parts[0]
    fields = _children(cert_der, tbs[2], tbs[3])
    for index, (tag, _, content, _stop) in enumerate(fields):
        if tag == _EXPLICIT_3:
            _, seq_start, seq_end = _tlv(cert_der, content)
            return parts, fields, index, _children(cert_der, seq_start, seq_end)
    return parts, fields, None, []


def raw_extensions(cert_der: bytes) -> list[RawExtension]:
    """Every extension of the certificate, without interpreting any of them."""
    _, _, _, extensions = _tbs_extensions(cert_der)
    out = []
    for _, start, content, stop in extensions:
        items = _children(cert_der, content, stop)
        if not items or items[0][0] != _OID or items[-1][0] != _OCTET_STRING:
            raise DerError("extension is not {oid, critical?, value}")
        critical = len(items) == 3 and items[1][0] == _BOOLEAN and cert_der[items[1][2]:items[1][3]] != b"\x00"
        out.append(RawExtension(_decode_oid(cert_der[items[0][2]:items[0][3]]), critical,
                                cert_der[items[-1][2]:items[-1][3]], cert_der[start:stop]))
    return out


def _with_only(cert_der: bytes, extension_der: bytes) -> bytes:
    """A copy of the certificate whose extensions are just this one (its signature is left as
    is, so the copy only serves to ask the parser about that one extension)."""
    parts, fields, index, _ = _tbs_extensions(cert_der)
    if index is None:
        return cert_der
    new_fields = b"".join(
        _element(_EXPLICIT_3, _element(_SEQUENCE, extension_der)) if i == index else cert_der[f[1]:f[3]]
        for i, f in enumerate(fields))
    tbs = _element(_SEQUENCE, new_fields)
    rest = b"".join(cert_der[p[1]:p[3]] for p in parts[1:])
    return _element(_SEQUENCE, tbs + rest)


def unparseable_extensions(cert_der: bytes) -> list[RawExtension]:
    """The extensions `cryptography` refuses, each found by parsing it alone."""
    bad = []
    for extension in raw_extensions(cert_der):
        try:
            _ = x509.load_der_x509_certificate(_with_only(cert_der, extension.der)).extensions
        except (ValueError, x509.DuplicateExtension):
            bad.append(extension)
    return bad


def eku_oids(value: bytes) -> list[str]:
    """The key purposes of an extendedKeyUsage extension value (SEQUENCE OF OID)."""
    tag, start, end = _tlv(value, 0)
    if tag != _SEQUENCE:
        raise DerError("extendedKeyUsage is not a SEQUENCE")
    oids = []
    for item_tag, _, content, stop in _children(value, start, end):
        if item_tag != _OID:
            raise DerError("extendedKeyUsage holds a non-OID")
        oids.append(_decode_oid(value[content:stop]))
    return oids


def is_ca_flag(value: bytes) -> bool:
    """The cA boolean of a basicConstraints value, whether or not its default is encoded."""
    tag, start, end = _tlv(value, 0)
    if tag != _SEQUENCE:
        raise DerError("basicConstraints is not a SEQUENCE")
    items = _children(value, start, end)
    return bool(items) and items[0][0] == _BOOLEAN and value[items[0][2]:items[0][3]] != b"\x00"


def extension_name(oid: str) -> str:
    """`name (dotted)` for notes, e.g. `basicConstraints (2.5.29.19)`."""
    name = getattr(x509.ObjectIdentifier(oid), "_name", "Unknown OID")
    return oid if name == "Unknown OID" else f"{name} ({oid})"


__all__ = ["RawExtension", "DerError", "raw_extensions", "unparseable_extensions", "eku_oids",
           "is_ca_flag", "extension_name", "OID_BASIC_CONSTRAINTS", "OID_EXTENDED_KEY_USAGE"]
