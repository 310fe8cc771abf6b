"""Gateway-format trust lists on LocalStack, through the CLI and the real routes: the DSCs of the
stage's KMS keys exported signed by the national trust anchor, served by /v1/trust-list/gateway
and checked offline by `verify` (a KMS-signed passport verifies; a tampered copy is refused), and
a foreign list imported into the verifier bundle while our own list stays ours."""
from __future__ import annotations

import json
import secrets
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from tests.integration.test_trust import run_cli

pytestmark = pytest.mark.integration


def test_exported_gateway_list_verifies_kms_passports_offline_and_a_foreign_list_imports(stack, app_client,
                                                                                           tmp_path):
    from chalicelib.dcc import build_vaccination_payload, make_uvci
    from chalicelib.dcc.gateway_trust import LocalAnchor, gateway_entry
    from chalicelib.dcc.pki import generate_key, issue_csca, issue_dsc
    from chalicelib.cli._util import utc_now

    settings, _ = stack
    pki = tmp_path / "pki"
    assert run_cli(["keys", "provision-kms", "--dir", str(pki)])[0] == 0
    assert run_cli(["trust", "export", "--csca", str(pki / "csca.pem"), "--anchor-key", str(pki / "csca.key.pem"),
                    "--out", str(tmp_path / "exported.json")])[0] == 0

    resp = app_client.http.get("/v1/trust-list/gateway")
    assert resp.status_code == 200
    served = json.loads(resp.body)
    assert served == json.loads((tmp_path / "exported.json").read_text())
    kinds = sorted(e["certificateType"] for e in served["payload"]["entries"])
    assert kinds.count("CSCA") == 1 and kinds.count("DSC") >= 2
    (tmp_path / "gateway.json").write_text(resp.body.decode())

    payload = build_vaccination_payload(
        full_name="Nguyễn Thị Đào", dob="1990-05-17", product="EU/1/21/1529", dose_number=2, series_doses=2,
        vaccination_date="2021-09-01", uvci=make_uvci(secrets.token_bytes), issuer="Ministry of Health of Viet Nam")
    code, hc1 = run_cli(["issue", "--kms-key-id", settings.key_alias("dsc-es256"), "--cert",
                         str(pki / "dsc-es256.pem")], json.dumps(payload) + "\n")
    assert code == 0
    code, out = run_cli(["verify", "--trust-list", str(tmp_path / "gateway.json"), "--trust-anchor",
                         str(pki / "csca.pem")], hc1)
    assert code == 0 and json.loads(out)["valid"] is True

    served["payload"]["entries"][-1]["timestamp"] = "1999-01-01T00:00:00+00:00"
    (tmp_path / "tampered.json").write_text(json.dumps(served))
    code, out = run_cli(["verify", "--trust-list", str(tmp_path / "tampered.json"), "--trust-anchor",
                         str(pki / "csca.pem")], hc1)
    assert code == 2 and out == ""

    # A foreign country's list: its DSC chains to its onboarded CSCA, a stray one does not.
    now = utc_now() - timedelta(days=1)
    de_key, stray_key = generate_key("ES256"), generate_key("ES256")
    de_csca = issue_csca(de_key, now=now, valid_days=3650, random_bytes=secrets.token_bytes, country="DE")
    stray_csca = issue_csca(stray_key, now=now, valid_days=3650, random_bytes=secrets.token_bytes, country="DE")
    de_dsc, stray_dsc = (issue_dsc(generate_key("ES256").public_key(), csca_cert=ca, csca_key=key, now=now,
                                   valid_days=365, random_bytes=secrets.token_bytes, country="DE")
                         for ca, key in ((de_csca, de_key), (stray_csca, stray_key)))
    foreign = [gateway_entry(c, "DSC", now.isoformat(), LocalAnchor(de_key)) for c in (de_dsc, stray_dsc)]
    (tmp_path / "de.json").write_text(json.dumps(foreign))
    (tmp_path / "anchors").mkdir()
    (tmp_path / "anchors" / "de.pem").write_bytes(de_csca.public_bytes(Encoding.PEM))
    code, out = run_cli(["trust", "import", str(tmp_path / "de.json"), "--anchors", str(tmp_path / "anchors")])
    report = json.loads(out)
    assert code == 1 and len(report["imported"]) == 1
    assert [r["reason"] for r in report["refused"]] == ["does not chain to an onboarded CSCA of DE"]

    def countries(query=""):
        doc = json.loads(app_client.http.get(f"/v1/trust-list{query}").body)
        return sorted(e["country"] for e in doc["certificates"])

    assert "DE" not in countries() and countries("?scope=all").count("DE") == 1


def test_gateway_list_and_revocation_batches_share_the_kms_trust_anchor(stack, tmp_path):
    """Without --anchor-key the gateway list is signed by the KMS key trust-anchor, the key the
    revocation batches are signed with: a verifier holds one anchor for both."""
    pki = tmp_path / "pki"
    assert run_cli(["keys", "provision-kms", "--dir", str(pki)])[0] == 0
    assert run_cli(["trust", "export", "--csca", str(pki / "csca.pem"),
                    "--out", str(tmp_path / "exported.json")])[0] == 0
    assert run_cli(["revocation", "anchor-key", "--out", str(tmp_path / "anchor.pem")])[0] == 0

    code, out = run_cli(["verify", "--trust-list", str(tmp_path / "exported.json"), "--trust-anchor",
                         str(tmp_path / "anchor.pem")], "HC1:NOT-A-PASSPORT\n")
    assert code == 1 and json.loads(out)["valid"] is False  # the list opened; the line is merely invalid
    code, out = run_cli(["verify", "--trust-list", str(tmp_path / "exported.json"), "--trust-anchor",
                         str(pki / "csca.pem")], "HC1:NOT-A-PASSPORT\n")
    assert code == 2 and out == ""  # the offline CSCA key did not sign it
