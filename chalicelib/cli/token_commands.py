"""Dev token commands: `token citizen`, `token staff`, `token jwks`.

They mint tokens from the local dev issuer (`chalicelib.auth.dev_issuer`), whose key lives in
`VAXPASS_DEV_JWT_KEY_FILE` (default `.run/dev-issuer/key.pem`, created on first use). Flow:

    python -m chalicelib.cli token jwks --out .run/dev-issuer/jwks.json
    export VAXPASS_JWKS_URL=file://$PWD/.run/dev-issuer/jwks.json     # before starting the app
    TOKEN=$(python -m chalicelib.cli token staff --role facility --facility-id F1 --province 001)
    curl -H "Authorization: Bearer $TOKEN" ...

Tokens carry the issuer and audience of the settings, so the app configured as above accepts them.
"""
from __future__ import annotations

import json
from pathlib import Path

from chalicelib.cli._util import command, group, reports_domain_errors


def register(sub) -> None:
    tok = group(sub, "token", "Mint dev bearer tokens from the local dev issuer (and publish its JWKS).")
    p = command(tok, "citizen", "Print a citizen token for CITIZEN_ID.", _citizen)
    p.add_argument("citizen_id", metavar="CITIZEN_ID", help="12-digit citizen id (CCCD)")
    p.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")

    p = command(tok, "staff", "Print a staff token: facility, province, ministry or operator.", _staff)
    p.add_argument("--role", required=True, choices=("facility", "province", "ministry", "operator"))
    p.add_argument("--facility-id", help="facility id (role facility)")
    p.add_argument("--province", help="3-digit province code (role province; optional for facility)")
    p.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")

    p = command(tok, "jwks", "Write the dev issuer's public JWKS (for VAXPASS_JWKS_URL=file://...).", _jwks)
    p.add_argument("--out", required=True, help="file to write the JWKS to")


def _issuer():
    from datetime import datetime, timezone

    from chalicelib.auth.dev_issuer import DevIssuer
    from chalicelib.settings import get_settings

    s = get_settings()
    return DevIssuer.from_file(s.dev_jwt_key_file, issuer=s.jwt_issuer, audience=s.jwt_audience,
                               clock=lambda: datetime.now(timezone.utc))


def _mint(principal, ttl: int) -> int:
    from chalicelib.auth.dev_issuer import claims_for
    from chalicelib.auth.principal import principal_from_claims
    from chalicelib.errors import ValidationError

    if ttl <= 0:
        raise ValidationError("--ttl must be a positive number of seconds")
    # The same mapping the app applies: a scope that does not fit the role fails here, not later.
    checked = principal_from_claims(claims_for(principal))
    print(_issuer().mint(checked, ttl_s=ttl))
    return 0


@reports_domain_errors
def _citizen(args) -> int:
    from chalicelib.auth import dev_issuer

    return _mint(dev_issuer.citizen(args.citizen_id), args.ttl)


@reports_domain_errors
def _staff(args) -> int:
    from chalicelib.auth import dev_issuer
    from chalicelib.auth.principal import Role

    principal = dev_issuer.staff(Role(args.role), facility_id=args.facility_id, province_code=args.province)
    return _mint(principal, args.ttl)


def _jwks(args) -> int:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_issuer().jwks(), indent=2) + "\n")
    print(f"file://{out.resolve()}")
    return 0
