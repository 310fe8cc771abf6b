"""`facility`: dev government CA, facility certificates, registration, and offline batch signing.

`facility sign` is what a facility head runs on the facility's own machine: the private key never
leaves it. It re-hashes every manifest entry and the Merkle root before signing, so a manifest
altered on its way to the facility is refused rather than signed.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from chalicelib.cli._util import command, group, reports_domain_errors
from chalicelib.cli._util import utc_now as _now
from chalicelib.cli._util import write_file as _write


def register(sub) -> None:
    fac = group(sub, "facility", "Facility signing: dev CA, certificates, registration, batch signing.")

    ca = group(fac, "ca", "Development government CA for facility signing certificates.")
    p = command(ca, "init", "Write a dev government CA (ca.pem, ca.key.pem) to DIR.", _ca_init)
    p.add_argument("--out", required=True, help="directory to write ca.pem and ca.key.pem to")
    p.add_argument("--kind", choices=("EC", "RSA"), default="EC", help="key type (EC P-256 or RSA-2048)")
    p.add_argument("--valid-days", type=int, default=3650)
    p = command(ca, "register", "Trust a government CA for signer certificates (DynamoDB facilities table).",
                _ca_register)
    p.add_argument("--cert", required=True, help="CA certificate (PEM or DER)")

    p = command(fac, "cert", "Issue a facility (or province focal agency) signing key and certificate: "
                "writes ID.key.pem, ID.pem and ID.p12 to --out.", _cert)
    p.add_argument("--ca-dir", required=True, help="directory holding ca.pem and ca.key.pem")
    p.add_argument("--facility-id", required=True, help="facility id (or the agency id with --focal-agency)")
    p.add_argument("--province", help="province code (required with --focal-agency)")
    p.add_argument("--focal-agency", action="store_true",
                   help="a province focal agency certificate: may sign for every facility of --province")
    p.add_argument("--name", help="name in the certificate (default: the id)")
    p.add_argument("--kind", choices=("EC", "RSA"), default="EC")
    p.add_argument("--valid-days", type=int, default=730)
    p.add_argument("--out", required=True, help="directory to write the key, certificate and PKCS#12 to")
    p.add_argument("--p12-password", help="password of the .p12 file (default: none)")

    p = command(fac, "register", "Register a facility and its signing certificate (DynamoDB).", _register)
    p.add_argument("--facility-id", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--province", required=True, help="province code, e.g. 079")
    p.add_argument("--head", required=True, help="name of the facility head")
    p.add_argument("--cert", help="the facility's signing certificate (PEM or DER)")

    p = command(fac, "import", "Register facilities in bulk from a CSV (facility_id, name, province_code, "
                "head): intake accepts records only of registered facilities, under their province.", _import)
    p.add_argument("csv", help="CSV with a header line; `synth` writes one as facilities.csv")

    p = command(fac, "register-agency", "Register a province focal agency (health department or CDC) and "
                "its certificate; it may sign for every facility of the province.", _register_agency)
    p.add_argument("--agency-id", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--province", required=True)
    p.add_argument("--cert", required=True)

    p = command(fac, "sign", "Sign a signing-batch manifest offline; prints (or writes) the JSON to post to "
                "/v1/signing-batches/{id}/signature.", _sign)
    p.add_argument("--key", required=True, help="private key: PEM (optionally followed by the certificate) or .p12")
    p.add_argument("--password", help="password of the key file")
    p.add_argument("--cert", help="certificate PEM (default: from the .p12, the PEM file, or ID.pem next to ID.key.pem)")
    p.add_argument("--batch", required=True, help="the manifest JSON returned when the batch was created")
    p.add_argument("--algorithm", choices=("ES256", "RS256", "PS256"),
                   help="default: ES256 for EC keys, PS256 for RSA keys")
    p.add_argument("--out", help="write the signature JSON here instead of stdout")


@reports_domain_errors
def _ca_init(args) -> int:
    import secrets

    from chalicelib.signing import facility_pki as pki

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    key = pki.generate_key(args.kind)
    ca = pki.issue_government_ca(key, now=_now(), valid_days=args.valid_days, random_bytes=secrets.token_bytes)
    _write(out / "ca.pem", pki.pem(ca).encode("ascii"))
    _write(out / "ca.key.pem", pki.private_pem(key), private=True)
    print(f"wrote ca.pem, ca.key.pem to {out} (fingerprint {pki.fingerprint(ca)})", file=sys.stderr)
    return 0


@reports_domain_errors
def _ca_register(args) -> int:
    from chalicelib.wiring import container

    fp = container().facilities.register_ca(_cert_pem(args.cert), now=_now())
    print(json.dumps({"registered_ca": fp}))
    return 0


def _is_pem(path: str) -> bool:
    return Path(path).read_bytes().lstrip().startswith(b"-----BEGIN")


def _der_to_pem(path: str) -> str:
    from chalicelib.signing import facility_pki as pki

    return pki.pem(pki.load_certificate(Path(path).read_bytes()))


def _cert_pem(path: str) -> str:
    return Path(path).read_text(encoding="ascii") if _is_pem(path) else _der_to_pem(path)


@reports_domain_errors
def _cert(args) -> int:
    import secrets

    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from chalicelib.signing import facility_pki as pki

    ca_dir = Path(args.ca_dir)
    ca = pki.load_certificate((ca_dir / "ca.pem").read_bytes())
    ca_key = load_pem_private_key((ca_dir / "ca.key.pem").read_bytes(), password=None)
    key = pki.generate_key(args.kind)
    cert = pki.issue_signer_certificate(key.public_key(), ca_cert=ca, ca_key=ca_key, subject_id=args.facility_id,
                                        name=args.name or args.facility_id, now=_now(), valid_days=args.valid_days,
                                        random_bytes=secrets.token_bytes, province=args.province,
                                        focal_agency=args.focal_agency)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.facility_id
    _write(out / f"{stem}.key.pem", pki.private_pem(key), private=True)
    _write(out / f"{stem}.pem", pki.pem(cert).encode("ascii"))
    password = args.p12_password.encode("utf-8") if args.p12_password else None
    _write(out / f"{stem}.p12", pki.to_pkcs12(key, cert, password=password, friendly_name=stem, ca_cert=ca),
           private=True)
    print(json.dumps({"certificate": str(out / f"{stem}.pem"), "key": str(out / f"{stem}.key.pem"),
                      "pkcs12": str(out / f"{stem}.p12"), "fingerprint": pki.fingerprint(cert)}))
    return 0


@reports_domain_errors
def _register(args) -> int:
    from chalicelib.wiring import container

    facility = container().facilities.register_facility(
        facility_id=args.facility_id, name=args.name, province=args.province, head=args.head,
        certificate_pem=_cert_pem(args.cert) if args.cert else None, now=_now())
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
                if province is None:
                    raise ValidationError(f"{path} line {n}: province_code is not a province code")
                rows.append({"facility_id": fid, "name": name, "province": province,
                             "head": (row.get("head") or "").strip()})
    except OSError as e:
        raise ValidationError(f"cannot read {path}: {e.strerror}") from e
    except (UnicodeDecodeError, csv.Error) as e:
        raise ValidationError(f"{path} is not a UTF-8 CSV file") from e
    return rows


@reports_domain_errors
def _import(args) -> int:
    from chalicelib.wiring import container

    rows = read_facilities_csv(args.csv)
    facilities = container().facilities
    now = _now()
    for row in rows:
        facilities.register_facility(**row, certificate_pem=None, now=now)
    print(json.dumps({"registered": len(rows)}))
    return 0


@reports_domain_errors
def _register_agency(args) -> int:
    from chalicelib.wiring import container

    agency = container().facilities.register_focal_agency(
        agency_id=args.agency_id, name=args.name, province=args.province, certificate_pem=_cert_pem(args.cert),
        now=_now())
    print(json.dumps({"agency_id": agency.agency_id, "province": agency.province}))
    return 0


def _signing_certificate(args, key_path: Path, cert_from_key):
    from chalicelib.errors import ValidationError
    from chalicelib.signing import facility_pki as pki

    if args.cert:
        return pki.load_certificate(Path(args.cert).read_bytes())
    if cert_from_key is not None:
        return cert_from_key
    # `facility cert` writes ID.key.pem next to ID.pem.
    if key_path.name.endswith(".key.pem"):
        sibling = key_path.with_name(key_path.name[:-len(".key.pem")] + ".pem")
        if sibling.exists():
            return pki.load_certificate(sibling.read_bytes())
    raise ValidationError("no certificate: give --cert, a .p12, or a PEM holding the certificate")


@reports_domain_errors
def _sign(args) -> int:
    import base64

    from chalicelib.errors import ValidationError
    from chalicelib.signing import facility_pki as pki
    from chalicelib.signing.manifest import manifest_message

    key_path = Path(args.key)
    password = args.password.encode("utf-8") if args.password else None
    key, cert_from_key = pki.load_signing_key(key_path.read_bytes(), password)
    cert = _signing_certificate(args, key_path, cert_from_key)
    if not pki.same_public_key(key, cert):
        raise ValidationError("the certificate does not belong to this key")
    try:
        manifest = json.loads(Path(args.batch).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValidationError(f"manifest is not JSON: {e.msg} at line {e.lineno}") from e
    message = manifest_message(manifest)  # raises ManifestInvalid if any entry or the root differs
    signature, alg = pki.sign(key, message, args.algorithm)
    who = pki.signer_identity(cert)
    doc = {"batch_id": manifest["batch_id"], "facility_id": manifest["facility_id"], "signer_id": who.subject_id,
           "merkle_root": manifest["merkle_root"], "count": manifest["count"], "algorithm": alg,
           "signature": base64.b64encode(signature).decode("ascii"), "certificate": pki.pem(cert),
           "certificate_fingerprint": pki.fingerprint(cert)}
    text = json.dumps(doc, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        print(f"signed batch {manifest['batch_id']} ({manifest['count']} people) -> {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0
