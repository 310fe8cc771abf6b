"""Verifier interoperability (issue 15 section 1): real countries' test certificates from the EU's
dgc-testdata repository (tests/fixtures/dgc-testdata, Apache-2.0), certificates with malformed
extensions or CA flags named as signers, anchors versus signers, and an unusable trust store."""
from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from chalicelib.cli import main
from chalicelib.dcc.issue import issue_hc1
from chalicelib.dcc.pki import EKU_BY_TYPE, LEGACY_EKU_BY_TYPE, issue_csca, issue_dsc, key_usage
from chalicelib.dcc.signer import LocalKeySigner
from tests.unit.cli.conftest import Run, run

from .conftest import T0, make_payload, seeded_bytes

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "dgc-testdata"
CASES = sorted(CORPUS.rglob("*.json"))
# What decides a case: the signature against the TESTCTX certificate and that certificate's use
# (kid, validity, key usage). Schema and issue-time checks are verdicts of their own.
TRUST_ERRORS = {"UNKNOWN_KID", "BAD_SIGNATURE", "NO_TRUSTED_KEY", "DSC_USAGE", "DSC_VALIDITY",
                "UNSUPPORTED_ALG", "BAD_KID"}


def cli(*args, stdin: str = "") -> Run:
    return run(args, stdin)


@pytest.mark.parametrize("case", CASES, ids=[str(c.relative_to(CORPUS)) for c in CASES])
def test_dgc_testdata_case_gets_the_expected_verdict(tmp_path, case):
    data = json.loads(case.read_text("utf-8"))
    cert = tmp_path / "dsc.der"
    cert.write_bytes(base64.b64decode(data["TESTCTX"]["CERTIFICATE"]))
    result = cli("verify", "--trust-cert", str(cert), "--at", data["TESTCTX"]["VALIDATIONCLOCK"],
                 stdin=data["PREFIX"] + "\n")
    assert result.code in (0, 1), result.err
    (line,) = result.out.splitlines()
    answer = json.loads(line)
    expected = data["EXPECTEDRESULTS"]
    if "EXPECTEDVERIFY" in expected:
        trusted = answer["signature_valid"] and not TRUST_ERRORS & set(answer["errors"])
        assert trusted == expected["EXPECTEDVERIFY"], answer["errors"]
    if "EXPECTEDKEYUSAGE" in expected:
        assert ("DSC_USAGE" not in answer["errors"]) is expected["EXPECTEDKEYUSAGE"], answer["errors"]
    if "EXPECTEDSCHEMAVALIDATION" in expected:
        assert answer["schema_valid"] is expected["EXPECTEDSCHEMAVALIDATION"]
    if "EXPECTEDEXPIRATIONCHECK" in expected:  # as the reference app's runner: not expired, not issued later
        in_time = answer["expired"] is False and "NOT_YET_VALID" not in answer["errors"]
        assert in_time is expected["EXPECTEDEXPIRATIONCHECK"]


def test_corpus_holds_the_interoperability_cases():
    names = {str(c.relative_to(CORPUS)).split("/")[0] for c in CASES}
    assert {"FI", "PL", "GR", "AT", "BE", "CZ", "CY", "DE", "DK", "HR", "IT", "LT", "LU", "RO", "SE", "SK"} <= names
    assert "common" in names  # the EU's shared COSE and key-usage cases
    assert any(json.loads(c.read_text())["EXPECTEDRESULTS"].get("EXPECTEDVERIFY") is False for c in CASES)
    assert any(json.loads(c.read_text())["EXPECTEDRESULTS"].get("EXPECTEDKEYUSAGE") is False for c in CASES)


def test_attack_malformed_extension_does_not_disable_the_key(tmp_path):
    """FI's DSC encodes BasicConstraints' default (cA FALSE) and uses the .0.1847 EKU arc:
    `cryptography` refuses every extension, which made the whole country's certificates fail."""
    data = json.loads((CORPUS / "FI/2DCode/raw/6.json").read_text("utf-8"))
    cert = tmp_path / "fi.der"
    cert.write_bytes(base64.b64decode(data["TESTCTX"]["CERTIFICATE"]))
    result = cli("verify", "--trust-cert", str(cert), "--at", data["TESTCTX"]["VALIDATIONCLOCK"],
                 stdin=data["PREFIX"] + "\n")
    assert result.code == 0, result.err
    assert json.loads(result.out)["valid"] is True
    assert "basicConstraints (2.5.29.19)" in result.err  # the note names the extension
    types, notes = key_usage(x509.load_der_x509_certificate(cert.read_bytes()))
    assert types == {"v", "t", "r"} and notes


def _cert(subject_key, issuer_key, *, ca: bool, eku=None, issuer_name=None, name="Signer", country="XA"):
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, country),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name or subject)
               .public_key(subject_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(T0 - timedelta(days=1)).not_valid_after(T0 + timedelta(days=400))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert) -> bytes:
    return cert.public_bytes(Encoding.PEM)


def _issue(key, cert) -> str:
    return issue_hc1(make_payload(), LocalKeySigner(key, cert), now=T0, valid_days=30)


AT = (T0 + timedelta(days=1)).isoformat()


def test_attack_ca_flagged_signer_named_with_trust_cert_is_used(tmp_path):
    """Two countries sign with a CA:TRUE certificate; named explicitly, it is the user's signer."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert(key, key, ca=True)
    (tmp_path / "ca-signer.pem").write_bytes(_pem(cert))
    result = cli("verify", "--trust-cert", str(tmp_path / "ca-signer.pem"), "--at", AT, stdin=_issue(key, cert) + "\n")
    assert result.code == 0, result.out + result.err
    assert json.loads(result.out)["valid"] is True


def test_attack_csca_in_keys_init_folder_is_an_anchor_not_a_signer(tmp_path):
    """`keys init` writes the CSCA beside the DSC: a certificate signed by the CSCA key directly
    must not verify when the folder is trusted, while the DSC's certificates do."""
    assert cli("keys", "init", "--out", str(tmp_path)).code == 0
    from chalicelib.cli.dcc_commands import load_private_key
    from chalicelib.dcc.trust import load_certificate_bytes

    csca = load_certificate_bytes((tmp_path / "csca.pem").read_bytes())
    csca_key = load_private_key(tmp_path / "csca.key.pem", "--key")
    dsc = load_certificate_bytes((tmp_path / "dsc.pem").read_bytes())
    dsc_key = load_private_key(tmp_path / "dsc.key.pem", "--key")
    now = dsc.not_valid_before_utc + timedelta(minutes=1)
    forged = issue_hc1(make_payload(), LocalKeySigner(csca_key, csca), now=now, valid_days=30)
    genuine = issue_hc1(make_payload(), LocalKeySigner(dsc_key, dsc), now=now, valid_days=30)
    result = cli("verify", "--trust-cert", str(tmp_path), "--at", (now + timedelta(hours=1)).isoformat(),
                 stdin=f"{forged}\n{genuine}\n")
    forged_answer, genuine_answer = (json.loads(line) for line in result.out.splitlines())
    assert forged_answer["errors"] == ["UNKNOWN_KID"] and genuine_answer["valid"]
    assert result.code == 1 and "trust anchor" in result.err


@pytest.mark.parametrize("trust", ["empty-folder", "only-unusable"])
def test_attack_unusable_trust_store_still_answers_every_line(tmp_path, trust):
    folder = tmp_path / "trust"
    folder.mkdir()
    if trust == "only-unusable":
        p384 = ec.generate_private_key(ec.SECP384R1())
        (folder / "p384.pem").write_bytes(_pem(_cert(p384, p384, ca=False)))
    key = ec.generate_private_key(ec.SECP256R1())
    hc1 = _issue(key, _cert(key, key, ca=False))
    result = cli("verify", "--trust-cert", str(folder), "--at", AT, stdin=f"{hc1}\nnot a certificate\n{hc1}\n")
    answers = [json.loads(line) for line in result.out.splitlines()]
    assert [a["errors"] for a in answers] == [["NO_TRUSTED_KEY"], ["BAD_PREFIX"], ["NO_TRUSTED_KEY"]]
    assert result.code == 1 and "NO_TRUSTED_KEY" in result.err


def test_exit_codes_are_documented_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "0 every line valid" in text and "2 usage errors only" in text


def test_attack_trust_anchor_refuses_a_signer_it_did_not_issue(tmp_path):
    anchor_key, signer_key, rogue_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    anchor = _cert(anchor_key, anchor_key, ca=True, name="CSCA")
    issued = _cert(signer_key, anchor_key, ca=False, issuer_name=anchor.subject)
    rogue = _cert(rogue_key, rogue_key, ca=False, name="Rogue")
    for name, cert in (("csca.pem", anchor), ("dsc.pem", issued), ("rogue.pem", rogue)):
        (tmp_path / name).write_bytes(_pem(cert))
    lines = f"{_issue(signer_key, issued)}\n{_issue(rogue_key, rogue)}\n"
    result = cli("verify", "--trust-cert", str(tmp_path / "dsc.pem"), str(tmp_path / "rogue.pem"),
                 "--trust-anchor", str(tmp_path / "csca.pem"), "--at", AT, stdin=lines)
    good, bad = (json.loads(line) for line in result.out.splitlines())
    assert good["valid"] and bad["errors"] == ["UNKNOWN_KID"]
    assert "not issued by any trust anchor (CSCA) of its country given" in result.err


@pytest.mark.parametrize("eku, types", [
    ([EKU_BY_TYPE["t"]], {"t"}),
    ([LEGACY_EKU_BY_TYPE["v"], LEGACY_EKU_BY_TYPE["r"]], {"v", "r"}),
    ([ExtendedKeyUsageOID.CLIENT_AUTH], {"v", "t", "r"}),  # no DCC purpose: no restriction
    ([x509.ObjectIdentifier("1.3.6.1.4.1.1847.2021.1.9")], {"v", "t", "r"}),
    (None, {"v", "t", "r"}),
])
def test_only_the_three_dcc_ekus_restrict_usage(eku, types):
    key = ec.generate_private_key(ec.SECP256R1())
    assert key_usage(_cert(key, key, ca=False, eku=eku)) == (types, ())


def test_dsc_of_issue_dsc_still_restricts_to_its_usages():
    key = ec.generate_private_key(ec.SECP256R1())
    csca = issue_csca(key, now=T0, valid_days=10, random_bytes=seeded_bytes(1))
    dsc = issue_dsc(key.public_key(), csca_cert=csca, csca_key=key, now=T0, valid_days=5,
                    random_bytes=seeded_bytes(2), usages=("t",))
    assert key_usage(dsc) == ({"t"}, ())


def test_a_certificate_file_of_bare_base64_is_read(tmp_path):
    """dgc-testdata's TESTCTX.CERTIFICATE, and trust lists' rawData, are base64 DER without armour."""
    data = json.loads((CORPUS / "AT/2DCode/raw/1.json").read_text("utf-8"))
    (tmp_path / "at.txt").write_text(data["TESTCTX"]["CERTIFICATE"] + "\n")
    result = cli("verify", "--trust-cert", str(tmp_path / "at.txt"), "--at", data["TESTCTX"]["VALIDATIONCLOCK"],
                 stdin=data["PREFIX"] + "\n")
    assert result.code == 0 and json.loads(result.out)["valid"], result.err
    (tmp_path / "junk.txt").write_text("not base64 at all!\n")
    assert cli("verify", "--trust-cert", str(tmp_path / "junk.txt"), stdin=data["PREFIX"] + "\n").code == 2


def test_empty_groups_neither_fail_the_schema_nor_ask_for_their_usage():
    """DK's early certificates carry `"t": [], "r": []` beside `v`: nothing is claimed by them."""
    from chalicelib.dcc.trust import TrustStore, trusted_key
    from chalicelib.dcc.verify import verify_hc1

    key = ec.generate_private_key(ec.SECP256R1())
    vaccination_only = _cert(key, key, ca=False, eku=[EKU_BY_TYPE["v"]])
    hc1 = issue_hc1({**make_payload(), "t": [], "r": []}, LocalKeySigner(key, vaccination_only), now=T0,
                    valid_days=30)
    result = verify_hc1(hc1, TrustStore([trusted_key(vaccination_only)]), now=T0 + timedelta(days=1))
    assert result.valid, result.errors
    only_tests = _cert(key, key, ca=False, eku=[EKU_BY_TYPE["t"]])
    hc1 = issue_hc1({**make_payload(), "t": []}, LocalKeySigner(key, only_tests), now=T0, valid_days=30)
    assert verify_hc1(hc1, TrustStore([trusted_key(only_tests)]), now=T0 + timedelta(days=1)).errors == ["DSC_USAGE"]


def _entry(cert, kind: str) -> dict:
    return {"certificateType": kind, "rawData": base64.b64encode(cert.public_bytes(Encoding.DER)).decode()}


def test_attack_trust_list_dsc_entry_with_ca_flag_is_a_signer_and_csca_entries_anchor_chains(tmp_path):
    """A list's DSC entry signs whatever its basic constraints; its CSCA entries are anchors, so a
    DSC entry no listed CSCA issued is not used."""
    anchor_key, signer_key, rogue_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    csca = _cert(anchor_key, anchor_key, ca=True, name="CSCA")
    ca_flagged_dsc = _cert(signer_key, anchor_key, ca=True, issuer_name=csca.subject)
    rogue = _cert(rogue_key, rogue_key, ca=False, name="Rogue")
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps({"entries": [_entry(csca, "CSCA"), _entry(ca_flagged_dsc, "DSC"),
                                              _entry(rogue, "DSC")]}))
    lines = [_issue(signer_key, ca_flagged_dsc), _issue(rogue_key, rogue), _issue(anchor_key, csca)]
    result = cli("verify", "--trust-list", str(listed), "--at", AT, stdin="\n".join(lines) + "\n")
    good, bad, by_csca = (json.loads(line) for line in result.out.splitlines())
    assert good["valid"], good["errors"]
    assert bad["errors"] == ["UNKNOWN_KID"] and by_csca["errors"] == ["UNKNOWN_KID"]
    assert result.code == 1 and "not issued by any trust anchor (CSCA) of its country given" in result.err


def test_attack_unsigned_list_brings_its_own_root_past_the_pinned_anchor(tmp_path):
    """With --trust-anchor pinned, an unsigned list's CSCA entries are no anchors: its own root
    cannot vouch for a forged signer of the pinned country."""
    vn_key, evil_root_key, evil_signer_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    vn_csca = _cert(vn_key, vn_key, ca=True, name="VN CSCA", country="VN")
    evil_root = _cert(evil_root_key, evil_root_key, ca=True, name="VN CSCA", country="VN")
    forged = _cert(evil_signer_key, evil_root_key, ca=False, issuer_name=evil_root.subject, country="VN")
    (tmp_path / "vn.pem").write_bytes(_pem(vn_csca))
    (tmp_path / "evil.json").write_text(json.dumps({"entries": [_entry(evil_root, "CSCA"), _entry(forged, "DSC")]}))
    result = cli("verify", "--trust-list", str(tmp_path / "evil.json"), "--trust-anchor", str(tmp_path / "vn.pem"),
                 "--at", AT, stdin=_issue(evil_signer_key, forged) + "\n")
    assert result.code == 1 and not json.loads(result.out)["valid"]
    assert "not anchors (only --trust-anchor is)" in result.err


def test_attack_a_foreign_anchor_vouches_for_a_signer_of_another_country(tmp_path):
    """A DE CSCA that issued a C=VN signer does not make that signer one of Viet Nam's."""
    de_key, signer_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    de_csca = _cert(de_key, de_key, ca=True, name="DE CSCA", country="DE")
    vn_signer = _cert(signer_key, de_key, ca=False, issuer_name=de_csca.subject, country="VN")
    (tmp_path / "de.pem").write_bytes(_pem(de_csca))
    (tmp_path / "dsc.pem").write_bytes(_pem(vn_signer))
    result = cli("verify", "--trust-cert", str(tmp_path / "dsc.pem"), "--trust-anchor", str(tmp_path / "de.pem"),
                 "--at", AT, stdin=_issue(signer_key, vn_signer) + "\n")
    assert result.code == 1 and not json.loads(result.out)["valid"]
    assert "of its country given" in result.err
