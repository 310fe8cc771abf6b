"""`revocation publish | anchor-key | download`, and the loading of `verify --revocation-list`.

The revocation list verifiers download is a set of signed static objects (README, "Revocation
list"): `publish` builds the new batches since its last run; `anchor-key` writes the national trust
anchor's public key, which is what a verifier checks every batch against; `download` copies the
published list into a folder that `verify --revocation-list` reads offline.

Files of a downloaded list, as `verify` expects them in one folder:
  index.json             the signed root (GET /v1/revocation-list)
  page-<sha256>.json     its index pages (GET /v1/revocation-list?page=N)
  <batch id>.json        the batches (GET /v1/revocation-list/<batch id>)
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

from chalicelib.cli import _types as t
from chalicelib.cli._errors import CliError, about
from chalicelib.cli._util import backup_stamp, command, force_option, group, refuse_to_overwrite, report_backups, \
    write_new

INDEX_FILE = "index.json"


def register(sub) -> None:
    g = group(sub, "revocation", "The revocation list verifiers download: signed batches and their index.")
    p = command(g, "publish", "Publish what was revoked since the last run as new signed batches and "
                "append them to the index (--rebuild: every listed entry, into a new index).", _publish)
    p.add_argument("--rebuild", action="store_true", help="re-publish every entry into a new index")
    p.add_argument("--anchor-key", type=t.readable_file, metavar="PEM",
                   help="sign with this trust anchor key file (EC P-256 PEM, the one `trust export` signs "
                        "the gateway trust list with) instead of the KMS key trust-anchor")
    p.add_argument("--settle-minutes", type=t.whole_number(1, 60), default=5,
                   help="publish entries listed at least this long ago (default 5): an entry is stamped "
                        "before its write commits, so a younger one may still be arriving")
    p = command(g, "anchor-key", "Write the national trust anchor's public key (PEM): verifiers check "
                "the revocation batches against it.", _anchor_key)
    p.add_argument("--out", required=True, type=t.output_file, help="PEM file to write")
    force_option(p, "the key file")
    p = command(g, "download", "Copy the published revocation list (index, pages, batches) into a "
                "folder, for `verify --revocation-list`.", _download)
    p.add_argument("--out", required=True, type=t.output_dir, help="folder to write the files to")


def add_verify_options(p) -> None:
    """The options `verify` takes for revocation."""
    p.add_argument("--revocation-list", type=t.readable_path, metavar="PATH",
                   help="the revocation list: its index.json (pages and batches in the same folder) or a "
                        "folder of batches; every batch must carry the trust anchor's signature")
    p.add_argument("--revocation-anchor", type=t.readable_file, metavar="FILE",
                   help="the national trust anchor's public key or certificate (PEM), "
                        "from `revocation anchor-key`; required with --revocation-list")


def revocation_list_of(args, now: datetime):
    """The RevocationList of `verify --revocation-list` (None without the option); a batch whose
    signature or hash does not check out refuses the whole list, naming it."""
    if not args.revocation_list:
        return None
    from chalicelib.dcc.revocation_batches import load_published, open_batch, revocation_list_from_batches

    if not args.revocation_anchor:
        raise CliError("--revocation-anchor", "is required with --revocation-list: batches are checked "
                                              "against the trust anchor's public key (`revocation anchor-key`)")
    anchor = _public_key(args.revocation_anchor)
    path: Path = args.revocation_list
    folder = path if path.is_dir() else path.parent
    with about("--revocation-list"):
        if path.is_dir() and not (path / INDEX_FILE).exists():
            files = sorted(f for f in path.glob("*.json") if not f.name.startswith("page-"))
            if not files:
                raise CliError("--revocation-list", f"{path} holds no batch files (*.json)")
            batches = [open_batch(_json(f), anchor, what=f"revocation batch {f.name}") for f in files]
            # Each batch is signed, but nothing signed says which batches exist: a batch removed from
            # a mirrored folder goes unnoticed. The index pins them all.
            print(f"revocation: {path} has no {INDEX_FILE}: each batch's signature is checked, not that none is "
                  f"missing; use the index (`revocation download`) for that", file=sys.stderr)
        else:
            root = _json(path / INDEX_FILE if path.is_dir() else path)
            batches = load_published(root, lambda name: _bytes(folder / f"{name}.json"), anchor)
        return revocation_list_from_batches(batches, now=now)


def _bytes(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def _json(path: Path):
    try:
        return json.loads(path.read_bytes())
    except ValueError as e:
        raise CliError("--revocation-list", f"{path} is not JSON") from e


def _public_key(path: Path):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    with about("--revocation-anchor"):
        data = path.read_bytes()
    try:
        if b"CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificate(data).public_key()
        return load_pem_public_key(data)
    except ValueError as e:
        raise CliError("--revocation-anchor", f"{path} is not a PEM public key or certificate") from e


def _publish(args) -> int:
    from chalicelib.cli.trust_commands import anchor_signer
    from chalicelib.wiring import container

    anchor = anchor_signer(args.anchor_key) if args.anchor_key else None
    with about("revocation publish"):
        done = container().revocation_publisher.publish(rebuild=args.rebuild, anchor=anchor,
                                                        settle=timedelta(minutes=args.settle_minutes))
    print(json.dumps(done), file=sys.stdout)
    return 0


def _anchor_key(args) -> int:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from chalicelib.wiring import container

    refuse_to_overwrite("--out", [args.out], args.force)
    pem = container().trust_anchor.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    with about("--out"):
        report_backups([write_new(args.out, pem, stamp=backup_stamp(args.force))])
    return 0


def _download(args) -> int:
    from chalicelib.wiring import container

    publisher = container().revocation_publisher
    with about("revocation download"):
        root = publisher.index()
        files = {INDEX_FILE: root}
        for page in json.loads(root)["payload"]["pages"]:
            body = publisher.index(page["page"])
            files[f"page-{page['hash']}.json"] = body
            for entry in json.loads(body)["payload"]["batches"]:
                files[f"{entry['batchId']}.json"] = publisher.batch(entry["batchId"])
    with about("--out"):
        args.out.mkdir(parents=True, exist_ok=True)
        for name, body in files.items():
            (args.out / name).write_bytes(body)
    print(f"wrote {len(files)} files to {args.out}", file=sys.stderr)
    return 0


__all__ = ["register", "add_verify_options", "revocation_list_of"]
