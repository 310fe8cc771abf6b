"""DCC commands: `keys init`, `keys dsc-from-kms`, `issue`, `verify`, `qr`.

Line-oriented so they compose in shell pipelines: `issue` reads one payload JSON per line and
writes one HC1 per line in the same order; `verify` reads HC1 lines and writes one JSON result
per line, exiting 1 if any certificate is invalid.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from chalicelib.cli._util import command, group, reports_domain_errors
from chalicelib.cli._util import utc_now as _now
from chalicelib.cli._util import write_file as _write


def register(sub) -> None:
    keys = group(sub, "keys", "Create development CSCA/DSC keys and certificates.")
    p = command(keys, "init", "Write a dev CSCA and DSC (csca.pem, csca.key.pem, dsc.pem, dsc.key.pem).",
                _keys_init)
    p.add_argument("--out", required=True, help="directory to write the PEM files to")
    p.add_argument("--alg", choices=("ES256", "PS256"), default="ES256")
    p.add_argument("--valid-days", type=int, default=365, help="DSC validity (CSCA: 10 years)")

    p = command(keys, "dsc-from-kms", "Issue a DSC certificate for a KMS key, signed by the CSCA.",
                _keys_dsc_from_kms)
    p.add_argument("--key-id", required=True, help="KMS key id, ARN or alias")
    p.add_argument("--csca-cert", required=True)
    p.add_argument("--csca-key", required=True)
    p.add_argument("--out", required=True, help="PEM file to write the DSC to")
    p.add_argument("--valid-days", type=int, default=365)

    p = command(keys, "register-dsc", "Publish a DSC certificate in the trust list (and the key that signs with it).",
                _keys_register_dsc)
    p.add_argument("--cert", required=True, help="DSC certificate (PEM or DER)")
    p.add_argument("--key-id", help="KMS key id or alias that signs with this DSC (omit for foreign DSCs)")

    p = command(keys, "provision-kms", "Dev/ops: CSCA in DIR (created if absent), a DSC for each KMS "
                "signing key of this stage (ES256, PS256), registered in the trust list.", _keys_provision_kms)
    p.add_argument("--dir", required=True, help="directory holding csca.pem/csca.key.pem (kept offline)")
    p.add_argument("--valid-days", type=int, default=365)

    p = command(sub, "issue", "Sign DCC payloads (JSON, one per line on stdin) into HC1 strings.",
                _issue)
    signer = p.add_mutually_exclusive_group(required=True)
    signer.add_argument("--key", help="DSC private key PEM")
    signer.add_argument("--kms-key-id", help="sign with this KMS key instead of a local key")
    p.add_argument("--cert", required=True, help="DSC certificate (PEM or DER)")
    p.add_argument("--valid-days", type=int, default=365)
    p.add_argument("--issuer", default="VN", help="CWT issuer country (claim 1)")

    p = command(sub, "verify", "Verify HC1 strings (one per line on stdin); one JSON result per line.",
                _verify)
    trust = p.add_mutually_exclusive_group(required=True)
    trust.add_argument("--trust-cert", action="extend", nargs="+", metavar="FILE",
                       help="trusted DSC certificates (PEM, PEM bundle or DER) or directories of them; "
                            "CA certificates are not trusted as signers")
    trust.add_argument("--trust-list", help="trust list JSON (ours or a JWKS with x5c)")
    p.add_argument("--at", help="verification time, ISO-8601 (default: now)")
    p.add_argument("--no-expiry-check", action="store_true", help="do not fail expired certificates")
    p.add_argument("--revocation-list", help="revocation list JSON")

    p = command(sub, "qr", "Render the HC1 string read on stdin as a QR code.", _qr)
    p.add_argument("--format", choices=("png", "svg"), required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--scale", type=int, default=4, help="pixels per module")


def _pem_cert(cert) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.PEM)


def _pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load_key(path: str):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return load_pem_private_key(Path(path).read_bytes(), password=None)


def _load_cert(path: str):
    from chalicelib.dcc.trust import load_certificate_bytes

    return load_certificate_bytes(Path(path).read_bytes())


def _kms_client():
    import boto3
    from botocore.config import Config

    from chalicelib.settings import get_settings

    settings = get_settings()
    # KmsSigner retries throttling itself (with jitter); botocore retrying too would multiply.
    return boto3.client("kms", region_name=settings.region, endpoint_url=settings.endpoint_url,
                        config=Config(max_pool_connections=32, retries={"total_max_attempts": 1}))


@reports_domain_errors
def _keys_init(args) -> int:
    import secrets

    from chalicelib.dcc.pki import generate_key, issue_csca, issue_dsc

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    now = _now()
    csca_key = generate_key(args.alg)
    csca = issue_csca(csca_key, now=now, valid_days=3650, random_bytes=secrets.token_bytes)
    dsc_key = generate_key(args.alg)
    dsc = issue_dsc(dsc_key.public_key(), csca_cert=csca, csca_key=csca_key, now=now,
                    valid_days=args.valid_days, random_bytes=secrets.token_bytes)
    _write(out / "csca.pem", _pem_cert(csca))
    _write(out / "csca.key.pem", _pem_key(csca_key), private=True)
    _write(out / "dsc.pem", _pem_cert(dsc))
    _write(out / "dsc.key.pem", _pem_key(dsc_key), private=True)
    print(f"wrote csca.pem, csca.key.pem, dsc.pem, dsc.key.pem to {out}", file=sys.stderr)
    return 0


@reports_domain_errors
def _keys_dsc_from_kms(args) -> int:
    import secrets

    from chalicelib.aws.kms_signer import public_key_of
    from chalicelib.dcc.pki import issue_dsc

    public_key = public_key_of(_kms_client(), args.key_id)
    dsc = issue_dsc(public_key, csca_cert=_load_cert(args.csca_cert), csca_key=_load_key(args.csca_key),
                    now=_now(), valid_days=args.valid_days, random_bytes=secrets.token_bytes)
    _write(Path(args.out), _pem_cert(dsc))
    return 0


@reports_domain_errors
def _keys_register_dsc(args) -> int:
    from chalicelib.wiring import container

    entry = container().trust.register_dsc(Path(args.cert).read_bytes(), key_ref=args.key_id, now=_now())
    print(f"registered DSC kid {entry.kid}", file=sys.stderr)
    return 0


@reports_domain_errors
def _keys_provision_kms(args) -> int:
    import secrets

    from chalicelib.aws.kms_signer import public_key_of
    from chalicelib.dcc.pki import generate_key, issue_csca, issue_dsc
    from chalicelib.wiring import container

    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    now = _now()
    if not (out / "csca.pem").exists():
        csca_key = generate_key("ES256")
        _write(out / "csca.pem", _pem_cert(issue_csca(csca_key, now=now, valid_days=3650,
                                                       random_bytes=secrets.token_bytes)))
        _write(out / "csca.key.pem", _pem_key(csca_key), private=True)
    csca, csca_key = _load_cert(str(out / "csca.pem")), _load_key(str(out / "csca.key.pem"))
    c = container()
    for logical in ("dsc-es256", "dsc-ps256"):
        alias = c.settings.key_alias(logical)
        dsc = issue_dsc(public_key_of(_kms_client(), alias), csca_cert=csca, csca_key=csca_key, now=now,
                        valid_days=args.valid_days, random_bytes=secrets.token_bytes)
        _write(out / f"{logical}.pem", _pem_cert(dsc))
        entry = c.trust.register_dsc(_pem_cert(dsc), key_ref=alias, now=now)
        print(f"{logical}: DSC kid {entry.kid} for {alias}", file=sys.stderr)
    return 0


def _numbered_lines(stream):
    """(line number, stripped text) for every input line; blank lines at the very end (a final
    newline, an editor's trailing empty lines) are not input. Streams: holds back blanks only."""
    held = []
    for number, line in enumerate(stream, start=1):
        text = line.strip()
        if not text:
            held.append((number, text))
            continue
        yield from held
        held.clear()
        yield number, text


@reports_domain_errors
def _issue(args) -> int:
    from chalicelib.dcc.issue import issue_many
    from chalicelib.dcc.schema import is_supported_version, payload_problems
    from chalicelib.dcc.signer import LocalKeySigner

    cert = _load_cert(args.cert)
    if args.kms_key_id:
        from chalicelib.aws.kms_signer import KmsSigner

        signer = KmsSigner(_kms_client(), args.kms_key_id, cert)
    else:
        signer = LocalKeySigner(_load_key(args.key), cert)
    payloads = []
    for number, line in _numbered_lines(sys.stdin):
        if not line:
            print(f"line {number}: empty; every line must hold one DCC payload", file=sys.stderr)
            return 2
        try:
            payload = json.loads(line)
        except ValueError:
            print(f"line {number}: not JSON", file=sys.stderr)
            return 2
        # Nothing is signed unless every line is a schema-valid DCC: a signed certificate cannot
        # be taken back except by revocation, and every verifier would flag it SCHEMA_INVALID.
        problems = payload_problems(payload)
        if not problems and not is_supported_version(payload):
            problems = ["ver: not a supported DCC schema version (1.0.0 to 1.3.x)"]
        if problems:
            print(f"line {number}: not a valid DCC payload: {'; '.join(problems)}", file=sys.stderr)
            return 2
        payloads.append(payload)
    for hc1 in issue_many(payloads, signer, now=_now(), valid_days=args.valid_days, issuer=args.issuer):
        sys.stdout.write(hc1 + "\n")
    return 0


@reports_domain_errors
def _verify(args) -> int:
    from chalicelib.dcc.revocation import RevocationList
    from chalicelib.dcc.trust import load_certificates, load_trust_list
    from chalicelib.dcc.verify import verify_hc1

    now = _now()
    if args.at:
        try:
            now = datetime.fromisoformat(args.at)
        except ValueError:
            print(f"error: --at {args.at!r} is not an ISO-8601 time", file=sys.stderr)
            return 2
        if now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)  # a bare ISO time is read as UTC
    skipped: list[str] = []
    trust = load_trust_list(args.trust_list, skipped) if args.trust_list \
        else load_certificates(args.trust_cert, skipped)
    for reason in skipped:
        print(f"trust: not used: {reason}", file=sys.stderr)
    if not len(trust):
        print("error: no usable document signer certificate to verify against", file=sys.stderr)
        return 2
    revocation = None
    if args.revocation_list:
        try:
            document = json.loads(Path(args.revocation_list).read_text("utf-8"))
        except (OSError, ValueError) as e:
            print(f"error: cannot read revocation list {args.revocation_list}: {e}", file=sys.stderr)
            return 2
        revocation = RevocationList.from_json(document)
    all_valid = True
    for _, line in _numbered_lines(sys.stdin):
        # A blank line between certificates still gets its (BAD_PREFIX) result, so output line
        # N always answers input line N.
        result = verify_hc1(line, trust, now=now, revocation=revocation,
                            check_expiry=not args.no_expiry_check)
        all_valid = all_valid and result.valid
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
    return 0 if all_valid else 1


@reports_domain_errors
def _qr(args) -> int:
    from chalicelib.dcc.qr import render_qr_png, render_qr_svg

    hc1 = sys.stdin.read().strip()
    out = Path(args.out)
    if args.format == "png":
        out.write_bytes(render_qr_png(hc1, scale=args.scale))
    else:
        out.write_text(render_qr_svg(hc1, scale=args.scale), "utf-8")
    return 0


__all__ = ["register"]
