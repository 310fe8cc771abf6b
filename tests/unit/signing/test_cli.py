"""`vaxpass facility` without AWS: CA, certificates, and offline signing of manifests, run in process
(`chalicelib.cli.main`); one subprocess per command group is tests/unit/cli/test_install.py's."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import pytest

from chalicelib.signing import facility_pki as pki
from chalicelib.signing.manifest import DoseRecord, build_entries, build_manifest, manifest_message
from tests.unit.cli.conftest import run as run_cli


def run(args) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of one command."""
    done = run_cli(args)
    return done.code, done.out, done.err


@pytest.fixture
def pki_dir(tmp_path):
    assert run(["facility", "ca", "init", "--out", str(tmp_path / "ca")])[0] == 0
    return tmp_path


def manifest_file(tmp_path, facility="FAC-1"):
    entries = build_entries({
        "079200000001": [DoseRecord(facility, "R1", 1, "d" * 64, 1, "2021-08-01", "EU/1/20/1528")],
        "079200000002": [DoseRecord(facility, "R2", 3, "e" * 64, 2, "2021-09-01", "EU/1/20/1528")]})
    m = build_manifest(batch_id="SB1", facility_id=facility, created_at="2024-03-01T08:00:00+00:00",
                       expires_at="2024-03-04T08:00:00+00:00", entries=entries)
    path = tmp_path / "batch.json"
    path.write_text(json.dumps(m, ensure_ascii=False), encoding="utf-8")
    return m, path


@pytest.mark.parametrize("argv", [["facility"], ["facility", "ca"], ["facility", "ca", "init"],
                                  ["facility", "ca", "register"], ["facility", "cert"], ["facility", "register"],
                                  ["facility", "register-agency"], ["facility", "sign"]])
def test_every_command_has_help(argv):
    with pytest.raises(SystemExit) as e:
        run(argv + ["--help"])
    assert e.value.code == 0


@pytest.mark.parametrize("kind", ["EC", "RSA"])
def test_cert_then_sign_with_the_pem_key_verifies(pki_dir, kind):
    code, out, _ = run(["facility", "cert", "--ca-dir", str(pki_dir / "ca"), "--facility-id", "FAC-1",
                        "--province", "079", "--kind", kind, "--out", str(pki_dir / "fac")])
    assert code == 0
    files = json.loads(out)
    cert = pki.load_certificate(open(files["certificate"], "rb").read())
    ca = pki.load_certificate((pki_dir / "ca" / "ca.pem").read_bytes())
    now = datetime.now(timezone.utc)
    assert pki.validate_signer_certificate(cert, ca_certs=[ca], at=now).subject_id == "FAC-1"

    m, batch = manifest_file(pki_dir)
    code, out, _ = run(["facility", "sign", "--key", files["key"], "--batch", str(batch)])
    assert code == 0
    sig = json.loads(out)
    assert sig["batch_id"] == "SB1" and sig["algorithm"] == ("ES256" if kind == "EC" else "PS256")
    assert sig["certificate_fingerprint"] == files["fingerprint"] and sig["signer_id"] == "FAC-1"
    pki.verify_signature(pki.load_certificate(sig["certificate"]), manifest_message(m),
                         base64.b64decode(sig["signature"]), sig["algorithm"])


def test_sign_from_a_password_protected_p12_into_a_file(pki_dir):
    run(["facility", "cert", "--ca-dir", str(pki_dir / "ca"), "--facility-id", "HCM-CDC", "--province", "079",
         "--focal-agency", "--kind", "RSA", "--out", str(pki_dir / "a"), "--p12-password", "s3cret"])
    m, batch = manifest_file(pki_dir)
    p12 = str(pki_dir / "a" / "HCM-CDC.p12")
    code, _, err = run(["facility", "sign", "--key", p12, "--password", "wrong", "--batch", str(batch)])
    assert code == 2 and "KEY_MATERIAL_INVALID" in err
    out_file = pki_dir / "sig.json"
    code, _, _ = run(["facility", "sign", "--key", p12, "--password", "s3cret", "--batch", str(batch),
                      "--algorithm", "RS256", "--out", str(out_file)])
    assert code == 0
    sig = json.loads(out_file.read_text())
    cert = pki.load_certificate(sig["certificate"])
    assert pki.signer_identity(cert) == pki.SignerIdentity(pki.ROLE_FOCAL_AGENCY, "HCM-CDC", "079")
    pki.verify_signature(cert, manifest_message(m), base64.b64decode(sig["signature"]), "RS256")


def test_sign_refuses_a_changed_manifest_and_a_foreign_certificate(pki_dir):
    run(["facility", "cert", "--ca-dir", str(pki_dir / "ca"), "--facility-id", "FAC-1", "--out", str(pki_dir / "f")])
    run(["facility", "cert", "--ca-dir", str(pki_dir / "ca"), "--facility-id", "FAC-2", "--out", str(pki_dir / "f")])
    m, batch = manifest_file(pki_dir)
    m["entries"][0]["doses"][0]["dose_number"] = 3  # edited after the server built it
    batch.write_text(json.dumps(m))
    code, out, err = run(["facility", "sign", "--key", str(pki_dir / "f" / "FAC-1.key.pem"), "--batch", str(batch)])
    assert code == 2 and "MANIFEST_INVALID" in err and out == ""
    m, batch = manifest_file(pki_dir)
    code, _, err = run(["facility", "sign", "--key", str(pki_dir / "f" / "FAC-1.key.pem"),
                        "--cert", str(pki_dir / "f" / "FAC-2.pem"), "--batch", str(batch)])
    assert code == 2 and "does not belong" in err


def test_focal_agency_certificate_needs_a_province(pki_dir):
    code, _, err = run(["facility", "cert", "--ca-dir", str(pki_dir / "ca"), "--facility-id", "CDC",
                        "--focal-agency", "--out", str(pki_dir / "x")])
    assert code == 2 and "province" in err


@pytest.mark.parametrize("text, message", [
    ("facility_id,name\nF1,x\n", "missing columns province_code"),
    ("facility_id,name,province_code\nF1,x,999\n", "line 2: province_code is not a province code"),
    ("facility_id,name,province_code\n,x,001\n", "line 2: facility_id and name are required"),
])
def test_facility_import_refuses_a_bad_file_before_registering_anything(tmp_path, text, message):
    path = tmp_path / "facilities.csv"
    path.write_text(text, encoding="utf-8")
    code, out, err = run(["facility", "import", str(path)])
    assert (code, out) == (2, "") and message in err and "Traceback" not in err
    code, _, err = run(["facility", "import", str(tmp_path / "absent.csv")])
    assert code == 2 and "cannot read" in err
