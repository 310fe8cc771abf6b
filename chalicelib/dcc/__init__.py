"""EU Digital COVID Certificate engine: pure functions, no AWS, no web framework.

The façade the rest of vaxpass uses:
- `build_vaccination_payload(full_name=, dob=, product=, dose_number=, series_doses=,
  vaccination_date=, uvci=, issuer=)` -> DCC payload dict (schema 1.3.x, one `v` entry).
- `make_uvci(random_bytes)` -> "URN:UVCI:01:VN:<26 chars>#<check>".
- `issue_hc1(payload, signer, now=, valid_days=, issuer="VN")` -> "HC1:..." and `issue_many`
  for batches (a KMS signer signs them concurrently). `signer` is any `Signer`
  (`LocalKeySigner` here, `chalicelib.adapters.dcc.kms_signer.KmsSigner` for KMS); `KeyRing` picks the
  newest valid DSC during rotation.
- `verify_hc1(hc1, trust_store, now=, revocation=None)` -> `VerificationResult` (never raises on
  input; `.to_json()` is the CLI/API shape, errors are stable codes listed in verify.py).
- `render_qr_png(hc1)` / `render_qr_svg(hc1)`.
- `trust_list_json(certs)`, `jwks(certs)`, `TrustStore`, `load_trust_list`, `load_certificates`.
- `revocation_entries(...)`, `revocation_list_json(entries)`, `RevocationList`.
- `issue_csca(...)`, `issue_dsc(...)` in `chalicelib.dcc.pki` for the CSCA/DSC chain.
Clock and randomness are always parameters.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Each name is imported on first use (PEP 562): `rules evaluate` and other light commands import
# `chalicelib.dcc.certlogic` without paying for x509, QR and COSE (about 0.3 s per process).
_HOMES = {
    "issue_hc1": "issue", "issue_many": "issue", "build_vaccination_payload": "payload",
    "render_qr_png": "qr", "render_qr_svg": "qr", "RevocationList": "revocation",
    "revocation_entries": "revocation", "revocation_list_json": "revocation", "KeyRing": "signer",
    "LocalKeySigner": "signer", "Signer": "signer", "TrustStore": "trust", "jwks": "trust",
    "load_certificates": "trust", "load_trust_list": "trust", "trust_list_json": "trust",
    "make_uvci": "uvci", "VerificationResult": "verify", "verify_hc1": "verify",
}
__all__ = [
    "build_vaccination_payload", "make_uvci", "issue_hc1", "issue_many", "verify_hc1",
    "VerificationResult", "render_qr_png", "render_qr_svg", "trust_list_json", "jwks",
    "TrustStore", "load_trust_list", "load_certificates", "revocation_entries",
    "revocation_list_json", "RevocationList", "Signer", "LocalKeySigner", "KeyRing",
]

if TYPE_CHECKING:
    from chalicelib.dcc.issue import issue_hc1, issue_many
    from chalicelib.dcc.payload import build_vaccination_payload
    from chalicelib.dcc.qr import render_qr_png, render_qr_svg
    from chalicelib.dcc.revocation import RevocationList, revocation_entries, revocation_list_json
    from chalicelib.dcc.signer import KeyRing, LocalKeySigner, Signer
    from chalicelib.dcc.trust import TrustStore, jwks, load_certificates, load_trust_list, trust_list_json
    from chalicelib.dcc.uvci import make_uvci
    from chalicelib.dcc.verify import VerificationResult, verify_hc1


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
