"""`trust`: gateway-format trust lists. `export` publishes our DSCs and CSCA signed by the national
trust anchor (served by GET /v1/trust-list/gateway, and written to a file for the gateway);
`import` loads another country's list, keeping only DSCs that chain to its onboarded CSCA."""
from __future__ import annotations

import json
import sys

from chalicelib.cli import _types as t
from chalicelib.cli._errors import CliError, about
from chalicelib.cli._util import backup_stamp, command, force_option, group, refuse_to_overwrite, report_backups, \
    write_new
from chalicelib.cli._util import utc_now as _now


def register(sub) -> None:
    g = group(sub, "trust", "Gateway-format trust lists: publish ours (signed), import other countries' DSCs.")
    p = command(g, "export", "Sign our DSCs and CSCA as a gateway-format trust list with the national trust anchor "
                             "and publish it (GET /v1/trust-list/gateway).", _export)
    p.add_argument("--csca", required=True, action="extend", nargs="+", metavar="FILE", type=t.readable_file,
                   help="our CSCA certificate(s); only DSCs they issued are listed")
    p.add_argument("--anchor-key", type=t.readable_file, metavar="PEM",
                   help="sign with this trust anchor key file (EC P-256, unencrypted PEM) instead of the KMS key "
                        "trust-anchor, which also signs the revocation batches")
    p.add_argument("--out", type=t.output_file, help="also write the signed list to this file")
    force_option(p, "the output file")

    p = command(g, "import", "Load another country's trust list: each DSC is stored only if it chains to an "
                             "onboarded CSCA of its country within validity; refused entries are reported "
                             "(exit 1 if any).", _import)
    p.add_argument("file", type=t.readable_file, metavar="FILE",
                   help="trust list JSON: gateway entries (a list, or {\"entries\": [...]}, signed or not)")
    p.add_argument("--anchors", required=True, type=t.readable_path, metavar="DIR",
                   help="folder (or file) of the onboarded CSCA certificates")


def anchor_signer(path):
    from cryptography.hazmat.primitives.asymmetric import ec

    from chalicelib.cli.dcc_commands import load_private_key
    from chalicelib.dcc.gateway_trust import LocalAnchor

    key = load_private_key(path, "--anchor-key")
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise CliError("--anchor-key", f"{path} is not an EC P-256 key (trust lists are signed ES256)")
    return LocalAnchor(key)


def _certificates(paths, option: str) -> list:
    from chalicelib.dcc.trust import CERTIFICATE_SUFFIXES, load_certificate_bundle

    certs = []
    for path in paths:
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in CERTIFICATE_SUFFIXES
                       and not p.name.endswith(".key.pem")) if path.is_dir() else [path]
        for file in files:
            with about(option):
                certs.extend(load_certificate_bundle(file.read_bytes()))
    return certs


def _export(args) -> int:
    from chalicelib.dcc.signed_document import anchor_kid
    from chalicelib.wiring import container

    if args.out is not None:
        refuse_to_overwrite("--out", [args.out], args.force)
    # One national anchor for every list we publish: the KMS key unless an offline key file is named.
    signer = anchor_signer(args.anchor_key) if args.anchor_key else container().trust_anchor
    cscas = _certificates(args.csca, "--csca")
    with about("--csca"):
        document, left_out = container().gateway_trust.publish(cscas, signer, _now())
    for reason in left_out:
        print(f"trust export: not listed: {reason}", file=sys.stderr)
    if args.out is not None:
        with about("--out"):
            report_backups([write_new(args.out, json.dumps(document, indent=1).encode() + b"\n",
                                      stamp=backup_stamp(args.force))])
    kinds = [e["certificateType"] for e in document["payload"]["entries"]]
    print(f"published the gateway trust list: {kinds.count('DSC')} DSC, {kinds.count('CSCA')} CSCA, signed by "
          f"trust anchor kid {anchor_kid(signer.public_key())}", file=sys.stderr)
    return 0


def _import(args) -> int:
    from chalicelib.cli.dcc_commands import _json_file
    from chalicelib.wiring import container

    document = _json_file(args.file, "FILE")
    cscas = _certificates([args.anchors], "--anchors")
    if not cscas:
        raise CliError("--anchors", f"{args.anchors} holds no CSCA certificate")
    with about("FILE"):
        stored, refused = container().gateway_trust.import_list(document, cscas, _now())
    print(json.dumps({"imported": [{"kid": d.kid, "subject": d.certificate.subject.rfc4514_string()} for d in stored],
                      "refused": [{"entry": r.entry, "kid": r.kid, "reason": r.reason} for r in refused]},
                     ensure_ascii=False))
    for r in refused:
        print(f"trust import: entry {r.entry} (kid {r.kid}) refused: {r.reason}", file=sys.stderr)
    return 1 if refused else 0


__all__ = ["register"]
