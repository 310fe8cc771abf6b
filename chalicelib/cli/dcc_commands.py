"""DCC commands: `keys init`, `keys dsc-from-kms`, `issue`, `verify`, `qr`.

Line-oriented so they compose in shell pipelines: `issue` reads one payload JSON per line and
writes one HC1 per line in the same order; `verify` reads HC1 lines and writes one JSON result
per line, exiting 1 if any certificate is invalid.
"""
from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

from chalicelib.cli import _types as t
from chalicelib.cli._errors import CliError, about
from chalicelib.cli._util import (backup_stamp, command, force_option, group, refuse_to_overwrite, report_backups,
                                  write_new)
from chalicelib.cli._util import utc_now as _now
from chalicelib.cli.revocation_commands import add_verify_options as add_revocation_options
from chalicelib.cli.revocation_commands import revocation_list_of
from chalicelib.cli.rules_commands import apply_rules, load_rules_dir

KEYS_INIT_FILES = ("csca.pem", "csca.key.pem", "dsc.pem", "dsc.key.pem")
MAX_QR_SCALE = 32


def register(sub) -> None:
    keys = group(sub, "keys", "Create development CSCA/DSC keys and certificates.")
    p = command(keys, "init", "Write a dev CSCA and DSC (csca.pem, csca.key.pem, dsc.pem, dsc.key.pem); "
                "refuses to replace existing ones unless --force.", _keys_init)
    p.add_argument("--out", required=True, type=t.output_dir, help="directory to write the PEM files to")
    p.add_argument("--alg", choices=("ES256", "PS256"), default="ES256")
    p.add_argument("--valid-days", type=t.days, default=365, help="DSC validity (CSCA: 10 years)")
    force_option(p, "keys and certificates")

    p = command(keys, "dsc-from-kms", "Issue a DSC certificate for a KMS key, signed by the CSCA.",
                _keys_dsc_from_kms)
    p.add_argument("--key-id", required=True, help="KMS key id, ARN or alias")
    p.add_argument("--csca-cert", required=True, type=t.readable_file)
    p.add_argument("--csca-key", required=True, type=t.readable_file)
    p.add_argument("--out", required=True, type=t.output_file, help="PEM file to write the DSC to")
    p.add_argument("--valid-days", type=t.days, default=365)
    force_option(p, "the certificate")

    p = command(keys, "register-dsc", "Publish a DSC certificate in the trust list (and the key that signs with it).",
                _keys_register_dsc)
    p.add_argument("--cert", required=True, type=t.readable_file, help="DSC certificate (PEM or DER)")
    p.add_argument("--key-id", help="KMS key id or alias that signs with this DSC (omit for foreign DSCs)")

    p = command(keys, "provision-kms", "Dev/ops: CSCA in DIR (created if absent), a DSC for each KMS "
                "signing key of this stage (ES256, PS256), registered in the trust list.", _keys_provision_kms)
    p.add_argument("--dir", required=True, type=t.output_dir,
                   help="directory holding csca.pem/csca.key.pem (kept offline)")
    p.add_argument("--valid-days", type=t.days, default=365)

    p = command(sub, "issue", "Sign DCC payloads (JSON, one per line on stdin) into HC1 strings "
                "(format: README, examples/dcc-payload.jsonl).", _issue)
    signer = p.add_mutually_exclusive_group(required=True)
    signer.add_argument("--key", type=t.readable_file, help="DSC private key PEM (dsc.key.pem)")
    signer.add_argument("--kms-key-id", help="sign with this KMS key instead of a local key")
    p.add_argument("--cert", required=True, type=t.readable_file, help="DSC certificate (PEM or DER), not the CSCA")
    p.add_argument("--valid-days", type=t.days, default=365)
    p.add_argument("--issuer", type=t.country, default="VN", help="CWT issuer country (claim 1)")

    p = command(sub, "verify", "Verify HC1 strings (one per line on stdin); one JSON result per line.",
                _verify)
    p.epilog = ("Output line N answers input line N, also when no trusted key is usable (error "
                "NO_TRUSTED_KEY). Exit status: 0 every line valid, 1 some line invalid, 2 usage errors "
                "only (bad options, unreadable files).")
    trust = p.add_mutually_exclusive_group(required=True)
    trust.add_argument("--trust-cert", action="extend", nargs="+", metavar="FILE", type=t.readable_path,
                       help="trusted DSC certificates (PEM, PEM bundle or DER) or folders of them; a file "
                            "named here is a signer whatever its basic constraints, while in a folder a "
                            "certificate that issued another one of the folder is an anchor, not a signer")
    trust.add_argument("--trust-list", type=t.readable_file,
                       help="trust list JSON (gateway form, ours, or a JWKS with x5c); DSC entries sign, "
                            "CSCA entries are anchors")
    p.add_argument("--trust-anchor", action="extend", nargs="+", metavar="FILE", type=t.readable_path,
                   help="CSCA certificates (trust anchors): only signers they issued are used, and a "
                        "signed trust list must be signed by one of them")
    p.add_argument("--at", type=t.iso_time, help="verification time, ISO-8601 (default: now; UTC if no offset)")
    p.add_argument("--no-expiry-check", action="store_true", help="do not fail expired certificates")
    add_revocation_options(p)
    p.add_argument("--rules", type=t.readable_path, metavar="DIR",
                   help="business rules (gateway-format JSON files) to apply after the signature checks")
    p.add_argument("--country", type=t.country, help="arrival country whose acceptance rules apply (with --rules)")

    p = command(sub, "qr", "Render the HC1 string read on stdin as a QR code.", _qr)
    p.add_argument("--format", choices=("png", "svg"), required=True)
    p.add_argument("--out", required=True, type=t.output_file)
    p.add_argument("--scale", type=t.whole_number(1, MAX_QR_SCALE), default=4,
                   help=f"pixels per module (1 to {MAX_QR_SCALE})")
    p.add_argument("--raw", action="store_true", help="encode any text, not only an HC1: string")


def _pem_cert(cert) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.PEM)


def _pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_private_key(path: Path, option: str):
    """An unencrypted PEM private key; a certificate or anything else given instead is named."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    with about(option):
        data = path.read_bytes()
    try:
        return load_pem_private_key(data, password=None)
    except TypeError as e:  # encrypted
        raise CliError(option, f"{path} is a password-protected key; give an unencrypted PEM key") from e
    except (ValueError, UnsupportedAlgorithm) as e:
        what = "a certificate, not a private key" if b"CERTIFICATE-----" in data else "not a PEM private key"
        raise CliError(option, f"{path} is {what}") from e


def load_certificate(path: Path, option: str):
    from chalicelib.dcc.trust import load_certificate_bytes

    with about(option):
        return load_certificate_bytes(path.read_bytes())


def _is_ca(cert) -> bool:
    from cryptography import x509

    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def load_csca(cert_path: Path, key_path: Path, cert_option: str, key_option: str):
    """The CSCA certificate and its key, checked to be a CA and a pair."""
    from chalicelib.dcc.signer import same_public_key

    csca, key = load_certificate(cert_path, cert_option), load_private_key(key_path, key_option)
    if not _is_ca(csca):
        raise CliError(cert_option, f"{cert_path} is not a CA certificate (give csca.pem)")
    if not same_public_key(key.public_key(), csca.public_key()):
        raise CliError(key_option, f"{key_path} is not the key of {cert_path}")
    return csca, key


def _kms_client():
    from chalicelib.wiring import container

    # KmsSigner retries throttling itself (with jitter); botocore retrying too would multiply.
    return container().client("kms", botocore_retries=False)


def _keys_init(args) -> int:
    import secrets

    from chalicelib.dcc.pki import generate_key, issue_csca, issue_dsc

    out = args.out
    refuse_to_overwrite("--out", [out / n for n in KEYS_INIT_FILES], args.force)
    now = _now()
    csca_key = generate_key(args.alg)
    csca = issue_csca(csca_key, now=now, valid_days=3650, random_bytes=secrets.token_bytes)
    dsc_key = generate_key(args.alg)
    dsc = issue_dsc(dsc_key.public_key(), csca_cert=csca, csca_key=csca_key, now=now,
                    valid_days=args.valid_days, random_bytes=secrets.token_bytes)
    with about("--out"):
        out.mkdir(parents=True, exist_ok=True)
        stamp = backup_stamp(args.force)
        saved = [write_new(out / "csca.pem", _pem_cert(csca), stamp=stamp),
                 write_new(out / "csca.key.pem", _pem_key(csca_key), private=True, stamp=stamp),
                 write_new(out / "dsc.pem", _pem_cert(dsc), stamp=stamp),
                 write_new(out / "dsc.key.pem", _pem_key(dsc_key), private=True, stamp=stamp)]
    report_backups(saved)
    print(f"wrote {', '.join(KEYS_INIT_FILES)} to {out}", file=sys.stderr)
    return 0


def _keys_dsc_from_kms(args) -> int:
    import secrets

    from chalicelib.adapters.dcc.kms_signer import public_key_of
    from chalicelib.dcc.pki import issue_dsc

    refuse_to_overwrite("--out", [args.out], args.force)
    csca, csca_key = load_csca(args.csca_cert, args.csca_key, "--csca-cert", "--csca-key")
    public_key = public_key_of(_kms_client(), args.key_id)
    dsc = issue_dsc(public_key, csca_cert=csca, csca_key=csca_key,
                    now=_now(), valid_days=args.valid_days, random_bytes=secrets.token_bytes)
    with about("--out"):
        report_backups([write_new(args.out, _pem_cert(dsc), stamp=backup_stamp(args.force))])
    return 0


def _keys_register_dsc(args) -> int:
    from chalicelib.wiring import container

    with about("--cert"):
        data = args.cert.read_bytes()
        entry = container().trust.register_dsc(data, key_ref=args.key_id, now=_now())
    print(f"registered DSC kid {entry.kid}", file=sys.stderr)
    return 0


def _keys_provision_kms(args) -> int:
    import secrets

    from chalicelib.adapters.dcc.kms_signer import public_key_of
    from chalicelib.dcc.pki import generate_key, issue_csca, issue_dsc
    from chalicelib.wiring import container

    out = args.dir
    now = _now()
    cert_path, key_path = out / "csca.pem", out / "csca.key.pem"
    present = [p.exists() for p in (cert_path, key_path)]
    if any(present) and not all(present):
        # Creating a new CSCA here would replace half of a pair: the other half may be the only copy.
        raise CliError("--dir", f"{out} holds only one of csca.pem and csca.key.pem; restore the other")
    if not any(present):
        csca_key = generate_key("ES256")
        with about("--dir"):
            out.mkdir(parents=True, exist_ok=True)
            write_new(cert_path, _pem_cert(issue_csca(csca_key, now=now, valid_days=3650,
                                                       random_bytes=secrets.token_bytes)))
            write_new(key_path, _pem_key(csca_key), private=True)
    csca, csca_key = load_csca(cert_path, key_path, "--dir", "--dir")
    c = container()
    for logical in ("dsc-es256", "dsc-ps256"):
        alias = c.settings.key_alias(logical)
        dsc = issue_dsc(public_key_of(_kms_client(), alias), csca_cert=csca, csca_key=csca_key, now=now,
                        valid_days=args.valid_days, random_bytes=secrets.token_bytes)
        # A DSC certificate is public and re-issued for the stage's current KMS keys on each run
        # (the trust list keeps every registered one), so replacing the file loses nothing.
        with about("--dir"):
            (out / f"{logical}.pem").write_bytes(_pem_cert(dsc))
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


def _signer(args, cert):
    """The signer for `issue`: a DSC (never the CSCA) and the key that belongs to it."""
    from chalicelib.dcc.signer import LocalKeySigner, same_public_key

    if _is_ca(cert):
        raise CliError("--cert", f"{args.cert} is a CA certificate (CSCA); issue signs with a document "
                                 "signer certificate (DSC), e.g. dsc.pem of `vaxpass keys init`")
    if args.kms_key_id:
        from chalicelib.adapters.dcc.kms_signer import KmsSigner, public_key_of

        client = _kms_client()
        with about("--cert"):
            signer = KmsSigner(client, args.kms_key_id, cert)
        if not same_public_key(public_key_of(client, args.kms_key_id), cert.public_key()):
            raise CliError("--kms-key-id", f"the KMS key {args.kms_key_id} does not belong to the certificate "
                                           f"{args.cert}", code="DCC_KEY_CERTIFICATE_MISMATCH")
        return signer
    key = load_private_key(args.key, "--key")
    with about("--key"):
        return LocalKeySigner(key, cert)


def _issue(args) -> int:
    from chalicelib.dcc.issue import calendar_problems, issue_many
    from chalicelib.dcc.pki import allowed_types
    from chalicelib.dcc.schema import is_supported_version, payload_problems

    cert = load_certificate(args.cert, "--cert")
    signer = _signer(args, cert)
    now = _now()
    allowed = allowed_types(cert)
    # A day of slack: a vaccination given today in UTC+7 is still "yesterday" in UTC.
    latest_day = (now + timedelta(days=1)).date()
    payloads = []
    with about("stdin"):
        lines = list(_numbered_lines(sys.stdin))
    for number, line in lines:
        where = f"stdin line {number}"
        if not line:
            raise CliError(where, "empty; every line must hold one DCC payload")
        try:
            payload = json.loads(line)
        except ValueError:
            raise CliError(where, "not JSON (one DCC payload object per line)") from None
        # Nothing is signed unless every line is a schema-valid DCC: a signed certificate cannot
        # be taken back except by revocation, and every verifier would flag it SCHEMA_INVALID.
        problems = payload_problems(payload)
        if not problems and not is_supported_version(payload):
            problems = ["ver: not a supported DCC schema version (1.0.0 to 1.3.x)"]
        if not problems:
            problems = calendar_problems(payload, today=latest_day)
        if not problems and not any(g in allowed for g in ("v", "t", "r") if g in payload):
            problems = [f"the DSC {args.cert} may not sign this certificate type"]
        if problems:
            raise CliError(where, f"not a valid DCC payload: {'; '.join(problems)}")
        payloads.append(payload)
    with about("--cert"):
        issued = issue_many(payloads, signer, now=now, valid_days=args.valid_days, issuer=args.issuer)
    for hc1 in issued:
        sys.stdout.write(hc1 + "\n")
    return 0


def _json_file(path: Path, option: str):
    with about(option):
        text = path.read_text("utf-8")
    try:
        return json.loads(text)
    except ValueError as e:
        where = f" (line {e.lineno}: {e.msg})" if isinstance(e, json.JSONDecodeError) else ""
        raise CliError(option, f"{path} is not valid JSON{where}") from e


def _trust_anchors(args) -> tuple[list, list]:
    """(CSCA certificates, public keys) given with --trust-anchor. A trust list is signed by one
    of the keys: those of the certificates, and bare public keys (the national trust anchor's
    key need not have a certificate)."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from chalicelib.dcc.trust import CERTIFICATE_SUFFIXES, load_certificate_bundle

    certs, keys = [], []
    for path in args.trust_anchor or ():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in CERTIFICATE_SUFFIXES
                       and not p.name.endswith(".key.pem")) if path.is_dir() else [path]
        for file in files:
            with about("--trust-anchor"):
                data = file.read_bytes()
            if b"-----BEGIN PUBLIC KEY-----" in data:
                try:
                    keys.append(load_pem_public_key(data))
                except ValueError as e:
                    raise CliError("--trust-anchor", f"{file} is not a PEM public key") from e
                continue
            with about("--trust-anchor"):
                found = load_certificate_bundle(data)
            certs.extend(found)
            keys.extend(c.public_key() for c in found)
    return certs, keys


def _trust_list_document(args, anchor_keys: list):
    """The trust list's entries; a signed list only if one of the anchors signed it (a copy
    changed on the way is refused, never half used)."""
    from chalicelib.dcc.gateway_trust import is_signed, open_trust_list
    from chalicelib.dcc.signed_document import SignedDocumentError

    document = _json_file(args.trust_list, "--trust-list")
    if not is_signed(document):
        return document
    if not anchor_keys:
        raise CliError("--trust-list", f"{args.trust_list} is signed: give the key or certificate of the trust "
                                       "anchor that signed it with --trust-anchor")
    try:
        return open_trust_list(document, anchor_keys)
    except SignedDocumentError as e:
        raise CliError("--trust-list", f"{args.trust_list}: {e}", code=e.code) from e


def _trust_store(args):
    """The signers to verify against. An empty or unusable store is no usage error: every input
    line still gets its answer (NO_TRUSTED_KEY), so output line N answers input line N."""
    from chalicelib.dcc.trust import chained_to, load_certificates, trust_store_from_document

    from chalicelib.dcc.gateway_trust import is_signed

    skipped: list[str] = []
    anchors, anchor_keys = _trust_anchors(args)
    if args.trust_list:
        option = "--trust-list"
        document = _trust_list_document(args, anchor_keys)
        signed = is_signed(_json_file(args.trust_list, option))
        listed: list = []
        with about(option):
            trust = trust_store_from_document(document, skipped, listed)
        # The list's CSCA entries restrict its DSCs to those they issued. They add to the anchors
        # the user pinned only when one of those anchors signed the list: an unsigned list could
        # otherwise bring its own root along to vouch for a forged signer.
        if not (anchors or anchor_keys) or signed:
            anchors = anchors + listed
        elif listed:
            skipped.append(f"{len(listed)} CSCA entr{'y' if len(listed) == 1 else 'ies'} of the unsigned list: "
                           "not anchors (only --trust-anchor is)")
    else:
        option = "--trust-cert"
        with about(option):
            trust = load_certificates(args.trust_cert, skipped)
    if anchors:
        trust = chained_to(trust, anchors, skipped)
    for reason in skipped:
        print(f"trust: not used: {reason}", file=sys.stderr)
    for key in trust.keys():
        for note in key.notes:
            print(f"trust: {key.certificate.subject.rfc4514_string()}: {note}", file=sys.stderr)
    if not len(trust):
        print(f"trust: {option}: no usable document signer certificate; every line answers NO_TRUSTED_KEY",
              file=sys.stderr)
    return trust


def _business_rules(args) -> list | None:
    if args.rules is None:
        if args.country:
            raise CliError("--country", "is only used with --rules DIR")
        return None
    if not args.country:
        raise CliError("--rules", "needs --country CC, the arrival country whose acceptance rules apply")
    return load_rules_dir(args.rules)


def _verify(args) -> int:
    from chalicelib.dcc.verify import verify_hc1

    now = args.at or _now()
    trust = _trust_store(args)
    revocation = revocation_list_of(args, now)
    rules = _business_rules(args)
    all_valid = True
    with about("stdin"):
        for _, line in _numbered_lines(sys.stdin):
            # A blank line between certificates still gets its (BAD_PREFIX) result, so output line
            # N always answers input line N.
            result = verify_hc1(line, trust, now=now, revocation=revocation,
                                check_expiry=not args.no_expiry_check)
            answer = result.to_json()
            if rules is not None:
                apply_rules(result, answer, rules, country=args.country, at=now)
            all_valid = all_valid and answer["valid"]
            sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
    return 0 if all_valid else 1


def _qr(args) -> int:
    from chalicelib.dcc.qr import render_qr_png, render_qr_svg

    with about("stdin"):
        text = sys.stdin.read().strip()
    if not text:
        raise CliError("stdin", "nothing to encode: qr reads one HC1: string on stdin")
    if not args.raw:
        if not text.startswith("HC1:"):
            raise CliError("stdin", "is not an HC1: string (a DCC from `vaxpass issue`); give --raw to "
                                    "encode other text")
        if "\n" in text:  # base45 has spaces, but never a line break
            raise CliError("stdin", "holds more than one line; qr renders one HC1: string")
    with about("stdin"):
        image = render_qr_png(text, scale=args.scale) if args.format == "png" else \
            render_qr_svg(text, scale=args.scale).encode("utf-8")
    with about("--out"):
        args.out.write_bytes(image)
    return 0


__all__ = ["register"]
