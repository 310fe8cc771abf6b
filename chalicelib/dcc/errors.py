"""Errors the certificate engine raises while *issuing*.

Verification never raises: it reports stable codes in a result object (see verify.py). Issuing is
different: a caller handing us an impossible request (unknown vaccine, certificate window that does
not cover the signing time) must hear about it at once, as a domain error with a stable code.
"""
from __future__ import annotations

from chalicelib.errors import ValidationError


class DccInputError(ValidationError):
    """Plain inputs (name, date of birth, product, doses) cannot form a valid DCC payload."""

    code = "DCC_INVALID_INPUT"


class CertificateWindowError(ValidationError):
    """The signing time is outside the Document Signer Certificate's validity period."""

    code = "DCC_DSC_NOT_VALID_AT_SIGNING_TIME"


class UnsupportedAlgorithm(ValidationError):
    """The key is neither an EC P-256 key (ES256) nor an RSA key (PS256)."""

    code = "DCC_UNSUPPORTED_ALGORITHM"


class KeyCertificateMismatch(ValidationError):
    """The private key is not the one whose public half the certificate carries."""

    code = "DCC_KEY_CERTIFICATE_MISMATCH"
