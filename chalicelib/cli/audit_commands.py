"""`audit`: check the attestation/revocation hash chain against its KMS-signed S3 checkpoints, and
read the security events the countersign worker kept."""
from __future__ import annotations

import json
import sys

from chalicelib.cli import _types as t
from chalicelib.cli._errors import CliError, about
from chalicelib.cli._util import command, group


def register(sub) -> None:
    g = group(sub, "audit", "the audit log: verify its hash chain and anchor; security events")
    p = command(g, "verify",
                "walk the whole audit chain and check it against the latest KMS-signed checkpoints; print "
                "the head (exit 0) or the first broken entry (exit 1)", _verify)
    p.add_argument("--public-key", type=t.readable_file, metavar="PEM",
                   help="the anchor key's public key kept outside the account (default: read it from KMS)")
    p = command(g, "events", "print the latest security events (refused countersign chunks and entries), "
                             "one JSON line each", _events)
    p.add_argument("--max", type=t.positive_int, default=20, help="how many of the latest events (default 20)")


def _verify(args) -> int:
    from chalicelib.wiring import container

    public_key = None
    if args.public_key is not None:
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        with about("--public-key"):
            data = args.public_key.read_bytes()
        try:
            public_key = load_pem_public_key(data)
        except (ValueError, TypeError) as e:
            raise CliError("--public-key", f"{args.public_key} is not a PEM public key") from e
    check = container().audit.verify(public_key)
    if check.ok:
        head = {"sequence": check.length, "entry_hash": check.head_hash}
        print(json.dumps({"ok": True, "head": head, **{k: v for k, v in check.to_dict().items()
                                                       if k == "anchor"}}))
        return 0
    print(json.dumps(check.to_dict()))
    print(f"audit chain broken at entry {check.first_bad_sequence}: {check.reason}", file=sys.stderr)
    return 1


def _events(args) -> int:
    from chalicelib.wiring import container

    for event in container().security_events.latest(args.max):
        print(json.dumps(event, ensure_ascii=False))
    return 0
