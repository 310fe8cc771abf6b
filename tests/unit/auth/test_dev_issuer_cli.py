"""The dev issuer and `python -m chalicelib.cli token ...`, run the way developers run them."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from chalicelib.auth.principal import Principal, Role
from chalicelib.adapters.auth.jwks import jwks_source_for
from chalicelib.auth.tokens import JwksCache, TokenVerifier

ROOT = Path(__file__).resolve().parents[3]
CID = "001090123456"


def cli(*args, key_file: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "VAXPASS_DEV_JWT_KEY_FILE": str(key_file), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "chalicelib.cli", "token", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=60)


def verifier_for(jwks_uri: str) -> TokenVerifier:
    now = lambda: datetime.now(timezone.utc)  # noqa: E731 - the CLI mints with the real clock
    return TokenVerifier(JwksCache(jwks_source_for(jwks_uri), now), issuer="https://id.vaxpass.local",
                         audience="vaxpass", clock=now)


def test_minted_tokens_verify_against_the_written_jwks(tmp_path):
    key_file = tmp_path / "issuer" / "key.pem"
    jwks = cli("jwks", "--out", str(tmp_path / "jwks.json"), key_file=key_file)
    assert jwks.returncode == 0, jwks.stderr
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    verifier = verifier_for(jwks.stdout.strip())

    cases = {
        ("citizen", CID): Principal("", Role.CITIZEN, citizen_id=CID),
        ("staff", "--role", "facility", "--facility-id", "F1", "--province", "1"):
            Principal("", Role.FACILITY, facility_id="F1", province_code="001"),
        ("staff", "--role", "province", "--province", "079"): Principal("", Role.PROVINCE, province_code="079"),
        ("staff", "--role", "ministry"): Principal("", Role.MINISTRY),
        ("staff", "--role", "operator", "--ttl", "60"): Principal("", Role.OPERATOR),
    }
    for args, expected in cases.items():
        out = cli(*args, key_file=key_file)
        assert out.returncode == 0, out.stderr
        got = verifier.verify(out.stdout.strip())
        assert (got.role, got.citizen_id, got.facility_id, got.province_code) == (
            expected.role, expected.citizen_id, expected.facility_id, expected.province_code)
        assert got.subject and got.subject != CID  # the subject never is the citizen id


@pytest.mark.parametrize("args", [
    ("citizen", "123"), ("staff", "--role", "province"), ("staff", "--role", "facility"),
    ("staff", "--role", "ministry", "--province", "001"), ("staff", "--role", "operator", "--ttl", "0")])
def test_scopes_that_do_not_fit_the_role_are_refused(tmp_path, args):
    out = cli(*args, key_file=tmp_path / "key.pem")
    assert out.returncode == 2 and out.stdout == "" and "error" in out.stderr
    assert len(out.stderr.splitlines()) == 1 and "Traceback" not in out.stderr


def test_the_default_key_file_is_under_the_working_directory(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "VAXPASS_DEV_JWT_KEY_FILE"}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-m", "chalicelib.cli", "token", "staff", "--role", "ministry"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / ".run" / "dev-issuer" / "key.pem").exists()


def test_the_key_survives_and_is_reused(tmp_path):
    key_file = tmp_path / "key.pem"
    for name in ("a.json", "b.json"):
        assert cli("jwks", "--out", str(tmp_path / name), key_file=key_file).returncode == 0
    assert json.loads((tmp_path / "a.json").read_text()) == json.loads((tmp_path / "b.json").read_text())
