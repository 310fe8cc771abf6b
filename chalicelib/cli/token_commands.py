"""Dev token commands: `token citizen`, `token staff`, `token jwks`.

They mint tokens from the local dev issuer (`chalicelib.auth.dev_issuer`), whose key lives in
`VAXPASS_DEV_JWT_KEY_FILE` (default `.run/dev-issuer/key.pem`, created on first use). Flow:

    vaxpass token jwks --out .run/dev-issuer/jwks.json
    export VAXPASS_JWKS_URL=file://$PWD/.run/dev-issuer/jwks.json     # before starting the app
    TOKEN=$(vaxpass token staff --role facility --facility-id F1 --province 001)
    curl -H "Authorization: Bearer $TOKEN" ...

Tokens carry the issuer and audience of the settings, so the app configured as above accepts them.
"""
from __future__ import annotations

import json

from chalicelib.cli import _types as t
from chalicelib.cli._errors import CliError, about
from chalicelib.cli._util import command, group

MAX_TTL_S = 366 * 86400
ttl_seconds = t.whole_number(1, MAX_TTL_S)


def register(sub) -> None:
    tok = group(sub, "token", "Mint dev bearer tokens from the local dev issuer (and publish its JWKS).")
    p = command(tok, "citizen", "Print a citizen token for CITIZEN_ID.", _citizen)
    p.add_argument("citizen_id", metavar="CITIZEN_ID", help="12-digit citizen id (CCCD)")
    p.add_argument("--ttl", type=ttl_seconds, default=3600, help="lifetime in seconds (default 3600)")

    p = command(tok, "staff", "Print a staff token: facility, province, ministry or operator.", _staff)
    p.add_argument("--role", required=True, choices=("facility", "province", "ministry", "operator"))
    p.add_argument("--facility-id", type=t.facility_id, help="facility id (role facility)")
    p.add_argument("--province", type=t.province, help="province code (role province; optional for facility)")
    p.add_argument("--ttl", type=ttl_seconds, default=3600, help="lifetime in seconds (default 3600)")

    p = command(tok, "jwks", "Write the dev issuer's public JWKS (for VAXPASS_JWKS_URL=file://...).", _jwks)
    p.add_argument("--out", required=True, type=t.output_path,
                   help="file to write the public JWKS to (missing folders are created)")


def _issuer():
    from datetime import datetime, timezone

    from cryptography.exceptions import UnsupportedAlgorithm

    from chalicelib.auth.dev_issuer import DEFAULT_KEY_FILE, DevIssuer
    from chalicelib.wiring import container

    from chalicelib.settings import DEV_STAGES

    s = container().settings
    if s.stage not in DEV_STAGES:
        raise CliError("VAXPASS_STAGE", f"the dev issuer mints tokens only in the {' and '.join(DEV_STAGES)} "
                                        f"stages, not in {s.stage!r}")
    where = "VAXPASS_DEV_JWT_KEY_FILE" if s.dev_jwt_key_file else f"the dev issuer key {DEFAULT_KEY_FILE}"
    try:
        with about(where):
            return DevIssuer.from_file(s.dev_jwt_key_file, issuer=s.jwt_issuer, audience=s.jwt_audience,
                                       clock=lambda: datetime.now(timezone.utc))
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise CliError(where, f"{s.dev_jwt_key_file or DEFAULT_KEY_FILE} does not hold an unencrypted "
                              "P-256 private key (PEM)") from e


def _mint(principal, ttl: int) -> int:
    from chalicelib.auth.dev_issuer import claims_for
    from chalicelib.auth.principal import principal_from_claims
    # The same mapping the app applies: a scope that does not fit the role fails here, not later.
    checked = principal_from_claims(claims_for(principal))
    print(_issuer().mint(checked, ttl_s=ttl))
    return 0


def _citizen(args) -> int:
    from chalicelib.auth import dev_issuer

    with about("CITIZEN_ID"):
        return _mint(dev_issuer.citizen(args.citizen_id), args.ttl)


def _staff(args) -> int:
    from chalicelib.auth import dev_issuer
    from chalicelib.auth.principal import Role

    principal = dev_issuer.staff(Role(args.role), facility_id=args.facility_id, province_code=args.province)
    with about(f"--role {args.role}"):
        return _mint(principal, args.ttl)


def _jwks(args) -> int:
    out = args.out
    jwks = _issuer().jwks()
    with about("--out"):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(jwks, indent=2) + "\n")
    print(f"file://{out.resolve()}")
    return 0
