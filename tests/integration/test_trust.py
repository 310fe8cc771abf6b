"""Trust list on LocalStack: DSCs for the stage's KMS keys are published, and a passport signed
with KMS verifies with the verifier CLI against the downloaded trust list. (The revocation list:
test_revocation_batches.py.)"""
from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest

from chalicelib.cli import main as cli

pytestmark = pytest.mark.integration


def run_cli(args, stdin_text=""):
    import sys

    out = io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin_text)
    try:
        with redirect_stdout(out):
            code = cli(args)
    finally:
        sys.stdin = old
    return code, out.getvalue()


def test_kms_dscs_are_published_and_kms_signed_passports_verify_against_them(stack, app_client, tmp_path):
    settings, _ = stack
    assert run_cli(["keys", "provision-kms", "--dir", str(tmp_path / "pki")])[0] == 0

    resp = app_client.http.get("/v1/trust-list")
    assert resp.status_code == 200 and "max-age" in resp.headers["Cache-Control"]
    doc = json.loads(resp.body)
    assert doc["country"] == "VN"
    assert {c["alg"] for c in doc["certificates"]} >= {"ES256", "PS256"}
    (tmp_path / "trust.json").write_text(resp.body.decode())

    jwks = json.loads(app_client.http.get("/v1/trust-list/jwks").body)
    assert {k["kty"] for k in jwks["keys"]} >= {"EC", "RSA"}

    from chalicelib.dcc import build_vaccination_payload, make_uvci
    import secrets

    payload = build_vaccination_payload(
        full_name="Nguyễn Thị Đào", dob="1990-05-17", product="EU/1/21/1529", dose_number=2,
        series_doses=2, vaccination_date="2021-09-01", uvci=make_uvci(secrets.token_bytes),
        issuer="Ministry of Health of Viet Nam")
    for logical in ("dsc-es256", "dsc-ps256"):
        code, hc1 = run_cli(["issue", "--kms-key-id", settings.key_alias(logical), "--cert",
                             str(tmp_path / "pki" / f"{logical}.pem")], json.dumps(payload) + "\n")
        assert code == 0 and hc1.startswith("HC1:")
        code, out = run_cli(["verify", "--trust-list", str(tmp_path / "trust.json")], hc1)
        result = json.loads(out)
        assert code == 0 and result["valid"] is True, result
        assert result["payload"]["nam"]["fnt"] == "NGUYEN" and result["payload"]["nam"]["gnt"] == "THI<DAO"
