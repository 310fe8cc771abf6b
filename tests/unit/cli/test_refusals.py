"""What the CLI refuses to do even when asked: replace a key or a CA, write outside --out, issue
with a CSCA or an impossible date, sign another facility's batch, render anything as a passport."""
from __future__ import annotations

import json
import os
import stat

import pytest

from .conftest import dcc_payload, manifest, ok, run


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("argv, files", [
    (["facility", "ca", "init"], ("ca.pem", "ca.key.pem")),
    (["keys", "init"], ("csca.pem", "csca.key.pem", "dsc.pem", "dsc.key.pem")),
])
def test_attack_an_existing_ca_is_not_overwritten(tmp_path, argv, files):
    ok([*argv, "--out", tmp_path])
    before = snapshot(tmp_path)
    result = run([*argv, "--out", tmp_path])
    assert result.code == 2 and "refusing to overwrite" in result.err and "--force" in result.err
    assert snapshot(tmp_path) == before
    # Even one file of the set present stops the whole set: no half-replaced chain.
    (tmp_path / files[0]).unlink()
    assert run([*argv, "--out", tmp_path]).code == 2
    assert snapshot(tmp_path) == {k: v for k, v in before.items() if k != files[0]}


def test_force_replaces_a_ca_and_keeps_every_old_file_as_a_backup_never_overwritten(tmp_path):
    ok(["facility", "ca", "init", "--out", tmp_path])
    first = snapshot(tmp_path)
    ok(["facility", "ca", "init", "--out", tmp_path, "--force"])
    second = {n: b for n, b in snapshot(tmp_path).items() if not n.endswith(".bak")}
    ok(["facility", "ca", "init", "--out", tmp_path, "--force"])  # same second, most likely
    after = snapshot(tmp_path)
    backups = {n: b for n, b in after.items() if n.endswith(".bak")}
    assert len(backups) == 4  # two generations of ca.pem and ca.key.pem, none lost
    for name in ("ca.pem", "ca.key.pem"):
        kept = [b for n, b in backups.items() if n.startswith(name + ".")]
        assert sorted(kept) == sorted([first[name], second[name]])
        assert after[name] not in (first[name], second[name])
    key_backups = [n for n in backups if n.startswith("ca.key.pem.")]
    assert all(stat.S_IMODE((tmp_path / n).stat().st_mode) == 0o600 for n in key_backups)


def test_keys_are_private_from_their_first_byte(tmp_path):
    ok(["keys", "init", "--out", tmp_path])
    ok(["facility", "ca", "init", "--out", tmp_path / "ca"])
    ok(["facility", "cert", "--ca-dir", tmp_path / "ca", "--facility-id", "F1", "--out", tmp_path / "f"])
    for key in ("csca.key.pem", "dsc.key.pem", "ca/ca.key.pem", "f/F1.key.pem", "f/F1.p12"):
        assert stat.S_IMODE((tmp_path / key).stat().st_mode) == 0o600, key


def test_attack_a_symlink_planted_as_a_key_file_is_neither_followed_nor_overwritten(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "ca.key.pem").symlink_to(victim)
    assert run(["facility", "ca", "init", "--out", out]).code == 2
    ok(["facility", "ca", "init", "--out", out, "--force"])
    assert victim.read_text() == "precious"
    assert not (out / "ca.key.pem").is_symlink() and b"PRIVATE KEY" in (out / "ca.key.pem").read_bytes()


def test_attack_facility_id_path_traversal_writes_nothing_outside_out(ws, tmp_path):
    out = tmp_path / "a" / "out"
    for evil in ("../evil", "../../evil", "/tmp/evil", "..", "x/../../evil", "evil\\..\\x"):
        result = run(["facility", "cert", "--ca-dir", ws / "ca", "--facility-id", evil, "--out", out])
        assert result.code == 2 and "not a facility id" in result.err, evil
    assert list(tmp_path.rglob("*")) == []


def test_attack_a_facility_cert_never_replaces_another_facilitys_key(ws, tmp_path):
    ok(["facility", "cert", "--ca-dir", ws / "ca", "--facility-id", "F1", "--out", tmp_path])
    before = snapshot(tmp_path)
    assert run(["facility", "cert", "--ca-dir", ws / "ca", "--facility-id", "F1", "--out", tmp_path]).code == 2
    assert snapshot(tmp_path) == before


def test_attack_the_csca_cannot_issue(ws):
    result = run(["issue", "--key", ws / "keys" / "csca.key.pem", "--cert", ws / "keys" / "csca.pem"],
                 json.dumps(dcc_payload()) + "\n")
    assert (result.code, result.out) == (2, "")
    assert "CA certificate (CSCA)" in result.err and "DSC" in result.err


def test_a_key_of_another_certificate_is_named_as_such_not_as_an_unsupported_algorithm(ws):
    result = run(["issue", "--key", ws / "other-keys" / "dsc.key.pem", "--cert", ws / "keys" / "dsc.pem"],
                 json.dumps(dcc_payload()) + "\n")
    assert (result.code, result.out) == (2, "")
    assert "DCC_KEY_CERTIFICATE_MISMATCH" in result.err and "UNSUPPORTED_ALGORITHM" not in result.err


@pytest.mark.parametrize("dob", ["1988-13-45", "1988-02-30", "1988-00", "2099-01-01"])
def test_attack_an_impossible_date_of_birth_is_refused_and_nothing_is_signed(ws, dob):
    good = json.dumps(dcc_payload())
    result = run(["issue", "--key", ws / "keys" / "dsc.key.pem", "--cert", ws / "keys" / "dsc.pem"],
                 f"{good}\n{json.dumps(dcc_payload(dob=dob))}\n")
    assert (result.code, result.out) == (2, "")
    assert result.err_lines[0].startswith("vaxpass issue: error: stdin line 2: not a valid DCC payload: dob:")
    assert dob not in result.err  # the message names the field, never the personal data


def test_issue_still_signs_real_dates(ws):
    lines = [json.dumps(dcc_payload(dob=d)) for d in ("1988-12-31", "1988-02", "1988", "2000-02-29")]
    result = ok(["issue", "--key", ws / "keys" / "dsc.key.pem", "--cert", ws / "keys" / "dsc.pem"],
                "\n".join(lines) + "\n")
    assert len(result.out.splitlines()) == 4


def test_attack_another_facilitys_manifest_is_refused(ws, tmp_path):
    sig = tmp_path / "sig.json"
    result = run(["facility", "sign", "--key", ws / "fac" / "FAC-1.key.pem", "--batch", ws / "batch-fac2.json",
                  "--out", sig])
    assert result.code == 2 and "another facility" in result.err and not sig.exists()
    # The facility's own manifest still signs; a focal agency of the province may sign for it too.
    ok(["facility", "sign", "--key", ws / "fac" / "FAC-1.key.pem", "--batch", ws / "batch.json", "--out", sig])
    ok(["facility", "sign", "--key", ws / "fac" / "HCM-CDC.p12", "--password", "s3cret",
        "--batch", ws / "batch-fac2.json"])


def test_attack_an_empty_manifest_is_not_signed(ws, tmp_path):
    batch = tmp_path / "empty.json"
    batch.write_text(json.dumps(manifest(people=0)))
    result = run(["facility", "sign", "--key", ws / "fac" / "FAC-1.key.pem", "--batch", batch])
    assert (result.code, result.out) == (2, "") and "no entries" in result.err


@pytest.mark.parametrize("text", ["HELLO WORLD", "", "   \n", "hc1:abc", "NCFOXN%TS3DH0YOJ58S"])
def test_attack_qr_renders_only_a_passport(tmp_path, text):
    out = tmp_path / "q.png"
    result = run(["qr", "--format", "png", "--out", out], text)
    assert result.code == 2 and not out.exists()
    if text.strip():
        ok(["qr", "--format", "png", "--out", out, "--raw"], text.upper())
        assert out.exists()


def test_verify_tells_a_malformed_trust_list_from_a_missing_one(ws, tmp_path):
    missing = run(["verify", "--trust-list", tmp_path / "trust.json"], "HC1:X\n")
    (tmp_path / "trust.json").write_text('{"certificates": [')
    malformed = run(["verify", "--trust-list", tmp_path / "trust.json"], "HC1:X\n")
    assert missing.code == malformed.code == 2
    assert "no such file" in missing.err and "not valid JSON" in malformed.err
    assert missing.err != malformed.err


def test_a_garbage_dev_issuer_key_file_is_one_line(tmp_path):
    from chalicelib.settings import Settings
    from chalicelib.wiring import Container, set_container

    garbage = tmp_path / "key.pem"
    garbage.write_text("not a key")
    for key_file, expect in ((garbage, "does not hold an unencrypted P-256 private key"),
                             (tmp_path, "VAXPASS_DEV_JWT_KEY_FILE: ")):
        set_container(Container(Settings(dev_jwt_key_file=str(key_file))))
        try:
            result = run(["token", "staff", "--role", "ministry"])
        finally:
            set_container(None)
        assert result.code == 2 and "Traceback" not in result.err and len(result.err_lines) == 1
        assert expect in result.err and result.err.startswith("vaxpass token staff: error: VAXPASS_DEV_JWT_KEY_FILE")
    assert garbage.read_text() == "not a key"  # never replaced by a fresh key


def test_token_jwks_never_replaces_the_issuer_key(tmp_path):
    from chalicelib.settings import Settings
    from chalicelib.wiring import Container, set_container

    key_file = tmp_path / "issuer" / "key.pem"
    set_container(Container(Settings(dev_jwt_key_file=str(key_file))))
    try:
        ok(["token", "jwks", "--out", tmp_path / "a" / "jwks.json"])
        key = key_file.read_bytes()
        ok(["token", "jwks", "--out", tmp_path / "a" / "jwks.json"])
    finally:
        set_container(None)
    assert key_file.read_bytes() == key and stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_the_readme_example_payloads_issue_and_verify(ws):
    from pathlib import Path

    example = (Path(__file__).resolve().parents[3] / "examples" / "dcc-payloads.jsonl").read_text(encoding="utf-8")
    issued = ok(["issue", "--key", ws / "keys" / "dsc.key.pem", "--cert", ws / "keys" / "dsc.pem"], example)
    assert len(issued.out.splitlines()) == len(example.splitlines()) == 2
    verified = ok(["verify", "--trust-cert", ws / "keys" / "dsc.pem"], issued.out)
    assert [json.loads(line)["payload"] for line in verified.out.splitlines()] == \
        [json.loads(line) for line in example.splitlines()]
