"""`facility`: dev government CA, facility certificates, registration, and offline batch signing.

`facility sign` is what a facility head runs on the facility's own machine: the private key never
leaves it. It re-hashes every manifest entry and the Merkle root before signing, so a manifest
altered on its way to the facility is refused rather than signed.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from chalicelib.cli import _types as t
from chalicelib.cli._errors import CliError, about
from chalicelib.cli._util import (backup_stamp, command, force_option, group, refuse_to_overwrite, report_backups,
                                  write_new)
from chalicelib.cli._util import utc_now as _now


def register(sub) -> None:
    fac = group(sub, "facility", "Facility signing: dev CA, certificates, registration, batch signing.")

    ca = group(fac, "ca", "Development government CA for facility signing certificates.")
    p = command(ca, "init", "Write a dev government CA (ca.pem, ca.key.pem) to DIR; refuses to replace an "
                "existing CA unless --force.", _ca_init)
    p.add_argument("--out", required=True, type=t.output_dir, help="directory to write ca.pem and ca.key.pem to")
    p.add_argument("--kind", choices=("EC", "RSA"), default="EC", help="key type (EC P-256 or RSA-2048)")
    p.add_argument("--valid-days", type=t.days, default=3650)
    force_option(p, "the CA (every certificate it issued is then orphaned)")
    p = command(ca, "register", "Trust a government CA for signer certificates (DynamoDB facilities table).",
                _ca_register)
    p.add_argument("--cert", required=True, type=t.readable_file, help="CA certificate (PEM or DER)")

    p = command(fac, "cert", "Issue a facility (or province focal agency) signing key and certificate: "
                "writes ID.key.pem, ID.pem and ID.p12 to --out (never over existing ones unless --force).", _cert)
    p.add_argument("--ca-dir", required=True, type=t.ca_directory, help="directory holding ca.pem and ca.key.pem")
    p.add_argument("--facility-id", required=True, type=t.facility_id,
                   help=f"facility id (or the agency id with --focal-agency): {t.FACILITY_ID_FORM}")
    p.add_argument("--province", type=t.province, help="province code (required with --focal-agency)")
    p.add_argument("--focal-agency", action="store_true",
                   help="a province focal agency certificate: may sign for every facility of --province")
    p.add_argument("--name", type=t.text, help="name in the certificate (default: the id)")
    p.add_argument("--kind", choices=("EC", "RSA"), default="EC")
    p.add_argument("--valid-days", type=t.days, default=730)
    p.add_argument("--out", required=True, type=t.output_dir,
                   help="directory to write the key, certificate and PKCS#12 to")
    p.add_argument("--p12-password", help="password of the .p12 file (default: none)")
    force_option(p, "the key and certificate")

    p = command(fac, "register", "Register a facility and its signing certificate (DynamoDB).", _register)
    p.add_argument("--facility-id", required=True, type=t.facility_id)
    p.add_argument("--name", required=True, type=t.text)
    p.add_argument("--province", required=True, type=t.province, help="province code, e.g. 079")
    p.add_argument("--head", required=True, type=t.text, help="name of the facility head")
    p.add_argument("--cert", type=t.readable_file, help="the facility's signing certificate (PEM or DER)")

    p = command(fac, "import", "Register facilities in bulk from a CSV (facility_id, name, province_code, "
                "head): intake accepts records only of registered facilities, under their province.", _import)
    p.add_argument("csv", type=t.readable_file, help="CSV with a header line; `synth` writes one as facilities.csv")

    p = command(fac, "register-agency", "Register a province focal agency (health department or CDC) and "
                "its certificate; it may sign for every facility of the province.", _register_agency)
    p.add_argument("--agency-id", required=True, type=t.facility_id)
    p.add_argument("--name", required=True, type=t.text)
    p.add_argument("--province", required=True, type=t.province)
    p.add_argument("--cert", required=True, type=t.readable_file)

    p = command(fac, "sign", "Sign a signing-batch manifest offline; prints (or writes) the JSON to post to "
                "/v1/signing-batches/{id}/signature.", _sign)
    p.add_argument("--key", required=True, type=t.readable_file,
                   help="private key: PEM (optionally followed by the certificate) or .p12")
    p.add_argument("--password", help="password of the key file")
    p.add_argument("--cert", type=t.readable_file,
                   help="certificate PEM (default: from the .p12, the PEM file, or ID.pem next to ID.key.pem)")
    p.add_argument("--batch", required=True, type=t.readable_file,
                   help="the manifest JSON returned when the batch was created")
    p.add_argument("--algorithm", choices=("ES256", "RS256", "PS256"),
                   help="default: ES256 for EC keys, PS256 for RSA keys")
    p.add_argument("--out", type=t.output_file, help="write the signature JSON here instead of stdout")


def _ca_init(args) -> int:
    import secrets

    from chalicelib.signing import facility_pki as pki

    out = args.out
    refuse_to_overwrite("--out", [out / "ca.pem", out / "ca.key.pem"], args.force)
    key = pki.generate_key(args.kind)
    ca = pki.issue_government_ca(key, now=_now(), valid_days=args.valid_days, random_bytes=secrets.token_bytes)
    with about("--out"):
        out.mkdir(parents=True, exist_ok=True)
        stamp = backup_stamp(args.force)
        saved = [write_new(out / "ca.pem", pki.pem(ca).encode("ascii"), stamp=stamp),
                 write_new(out / "ca.key.pem", pki.private_pem(key), private=True, stamp=stamp)]
    report_backups(saved)
    print(f"wrote ca.pem, ca.key.pem to {out} (fingerprint {pki.fingerprint(ca)})", file=sys.stderr)
    return 0


def _ca_register(args) -> int:
    from chalicelib.wiring import container

    with about("--cert"):
        fp = container().facilities.register_ca(_cert_pem(args.cert), now=_now())
    print(json.dumps({"registered_ca": fp}))
    return 0


def _cert_pem(path: Path) -> str:
    """The certificate file as PEM text (DER files are converted); raises domain errors."""
    from chalicelib.signing import facility_pki as pki

    return pki.pem(pki.load_certificate(path.read_bytes()))


def _load_ca(ca_dir: Path):
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from chalicelib.signing import facility_pki as pki

    with about("--ca-dir"):
        ca = pki.load_certificate((ca_dir / "ca.pem").read_bytes())
        pki.validate_ca_certificate(ca)
        data = (ca_dir / "ca.key.pem").read_bytes()
    try:
        ca_key = load_pem_private_key(data, password=None)
    except (TypeError, ValueError, UnsupportedAlgorithm) as e:
        raise CliError("--ca-dir", f"{ca_dir / 'ca.key.pem'} is not an unencrypted PEM private key") from e
    if not pki.same_public_key(ca_key, ca):
        raise CliError("--ca-dir", f"{ca_dir / 'ca.key.pem'} is not the key of {ca_dir / 'ca.pem'}")
    return ca, ca_key


def _cert(args) -> int:
    import secrets

    from chalicelib.signing import facility_pki as pki

    if args.focal_agency and not args.province:
        raise CliError("--province", "a focal agency certificate needs the province it signs for")
    out = args.out
    stem = args.facility_id  # its form (t.facility_id) has no path separator: files stay in --out
    paths = {kind: out / f"{stem}{suffix}" for kind, suffix in
             (("key", ".key.pem"), ("certificate", ".pem"), ("pkcs12", ".p12"))}
    refuse_to_overwrite("--out", list(paths.values()), args.force)
    ca, ca_key = _load_ca(args.ca_dir)
    key = pki.generate_key(args.kind)
    cert = pki.issue_signer_certificate(key.public_key(), ca_cert=ca, ca_key=ca_key, subject_id=args.facility_id,
                                        name=args.name or args.facility_id, now=_now(), valid_days=args.valid_days,
                                        random_bytes=secrets.token_bytes, province=args.province,
                                        focal_agency=args.focal_agency)
    password = args.p12_password.encode("utf-8") if args.p12_password else None
    p12 = pki.to_pkcs12(key, cert, password=password, friendly_name=stem, ca_cert=ca)
    with about("--out"):
        out.mkdir(parents=True, exist_ok=True)
        stamp = backup_stamp(args.force)
        saved = [write_new(paths["key"], pki.private_pem(key), private=True, stamp=stamp),
                 write_new(paths["certificate"], pki.pem(cert).encode("ascii"), stamp=stamp),
                 write_new(paths["pkcs12"], p12, private=True, stamp=stamp)]
    report_backups(saved)
    print(json.dumps({**{k: str(v) for k, v in paths.items()}, "fingerprint": pki.fingerprint(cert)}))
    return 0


def _register(args) -> int:
    from chalicelib.wiring import container

    with about("--cert"):
        pem = _cert_pem(args.cert) if args.cert else None
        facility = container().facilities.register_facility(
            facility_id=args.facility_id, name=args.name, province=args.province, head=args.head,
            certificate_pem=pem, now=_now())
    print(json.dumps({"facility_id": facility.facility_id, "certificates": len(facility.certificates)}))
    return 0


def read_facilities_csv(path: str) -> list[dict[str, str]]:
    """The rows of a facilities CSV, every one checked before anything is registered."""
    import csv

    from chalicelib.errors import ValidationError
    from chalicelib.identity import normalise_province_code

    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = {"facility_id", "name", "province_code"} - set(reader.fieldnames or ())
            if missing:
                raise ValidationError(f"{path}: missing columns {', '.join(sorted(missing))}")
            rows = []
            for n, row in enumerate(reader, start=2):
                fid, name = (row.get("facility_id") or "").strip(), (row.get("name") or "").strip()
                province = normalise_province_code(row.get("province_code") or "")
                if not fid or not name:
                    raise ValidationError(f"{path} line {n}: facility_id and name are required")
                if not t.FACILITY_ID.match(fid):
                    raise ValidationError(f"{path} line {n}: facility_id is not {t.FACILITY_ID_FORM}")
                if province is None:
                    raise ValidationError(f"{path} line {n}: province_code is not a province code")
                rows.append({"facility_id": fid, "name": name, "province": province,
                             "head": (row.get("head") or "").strip()})
    except OSError as e:
        raise ValidationError(f"cannot read {path}: {e.strerror}") from e
    except (UnicodeDecodeError, csv.Error) as e:
        raise ValidationError(f"{path} is not a UTF-8 CSV file") from e
    return rows


def _import(args) -> int:
    from chalicelib.wiring import container

    rows = read_facilities_csv(args.csv)  # its errors name the file and line
    facilities = container().facilities
    now = _now()
    for row in rows:
        facilities.register_facility(**row, certificate_pem=None, now=now)
    print(json.dumps({"registered": len(rows)}))
    return 0


def _register_agency(args) -> int:
    from chalicelib.wiring import container

    with about("--cert"):
        agency = container().facilities.register_focal_agency(
            agency_id=args.agency_id, name=args.name, province=args.province,
            certificate_pem=_cert_pem(args.cert), now=_now())
    print(json.dumps({"agency_id": agency.agency_id, "province": agency.province}))
    return 0


def _signing_certificate(args, key_path: Path, cert_from_key):
    from chalicelib.signing import facility_pki as pki

    if args.cert:
        with about("--cert"):
            return pki.load_certificate(args.cert.read_bytes())
    if cert_from_key is not None:
        return cert_from_key
    # `facility cert` writes ID.key.pem next to ID.pem.
    if key_path.name.endswith(".key.pem"):
        sibling = key_path.with_name(key_path.name[:-len(".key.pem")] + ".pem")
        if sibling.exists():
            with about(str(sibling)):
                return pki.load_certificate(sibling.read_bytes())
    raise CliError("--cert", "no certificate: give --cert, a .p12, or a PEM holding the certificate")


def _manifest(path: Path) -> dict:
    """The manifest file, with the fields signing needs, of the types it needs. The file comes
    from the network: anything else is refused before the key is used."""
    try:
        with about("--batch"):
            manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CliError("--batch", f"manifest is not JSON: {e.msg} at line {e.lineno}") from e
    if not isinstance(manifest, dict):
        raise CliError("--batch", "manifest is not a JSON object")
    for name in ("batch_id", "facility_id", "merkle_root"):
        if not isinstance(manifest.get(name), str) or not manifest[name]:
            raise CliError("--batch", f"manifest has no {name} (not a manifest returned by the API?)")
    count, entries = manifest.get("count"), manifest.get("entries")
    if not isinstance(entries, list) or isinstance(count, bool) or not isinstance(count, int):
        raise CliError("--batch", "manifest has no entries list and count")
    if not entries or count == 0:
        raise CliError("--batch", "manifest has no entries: there is nobody to sign for")
    return manifest


def _check_signer_for(manifest: dict, cert) -> None:
    """A facility's key signs its own facility's batches only (the server checks again); a
    focal agency's may sign for any facility of its province, which only the server can tell."""
    from chalicelib.signing import facility_pki as pki

    with about("--cert"):
        who = pki.signer_identity(cert)
    facility = manifest["facility_id"]
    if who.role == pki.ROLE_FACILITY and who.subject_id != facility:
        raise CliError("--batch", f"manifest is for facility {facility!r} but the certificate is of facility "
                                  f"{who.subject_id!r}; refusing to sign another facility's batch")
    for i, entry in enumerate(manifest["entries"]):
        doses = entry.get("doses") if isinstance(entry, dict) else None
        if isinstance(doses, list) and any(not isinstance(d, dict) or d.get("facility_id") != facility
                                           for d in doses):
            raise CliError("--batch", f"manifest entry {i} lists a dose of another facility than {facility!r}")


def _sign(args) -> int:
    import base64

    from chalicelib.signing import facility_pki as pki
    from chalicelib.signing.manifest import manifest_message

    key_path = args.key
    password = args.password.encode("utf-8") if args.password else None
    with about("--key"):
        data = key_path.read_bytes()
    if b"CERTIFICATE-----" in data and b"PRIVATE KEY-----" not in data:
        raise CliError("--key", f"{key_path} is a certificate, not a private key")
    with about("--key"):
        key, cert_from_key = pki.load_signing_key(data, password)
    cert = _signing_certificate(args, key_path, cert_from_key)
    if not pki.same_public_key(key, cert):
        raise CliError("--key", "the certificate does not belong to this key", code="KEY_CERTIFICATE_MISMATCH")
    manifest = _manifest(args.batch)
    _check_signer_for(manifest, cert)
    with about("--batch"):
        message = manifest_message(manifest)  # raises ManifestInvalid if any entry or the root differs
    with about("--key"):
        signature, alg = pki.sign(key, message, args.algorithm)
    who = pki.signer_identity(cert)
    doc = {"batch_id": manifest["batch_id"], "facility_id": manifest["facility_id"], "signer_id": who.subject_id,
           "merkle_root": manifest["merkle_root"], "count": manifest["count"], "algorithm": alg,
           "signature": base64.b64encode(signature).decode("ascii"), "certificate": pki.pem(cert),
           "certificate_fingerprint": pki.fingerprint(cert)}
    text = json.dumps(doc, indent=2)
    if args.out:
        with about("--out"):
            args.out.write_text(text + "\n", encoding="utf-8")
        print(f"signed batch {manifest['batch_id']} ({manifest['count']} people) -> {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0
