"""The dev issuer and `vaxpass token ...`, run in process (`chalicelib.cli.main`) with the key file
the settings name (VAXPASS_DEV_JWT_KEY_FILE); one subprocess per command group is the smoke test
of tests/unit/cli/test_install.py."""
from __future__ import annotations

import json
import stat
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest

from chalicelib.auth.principal import Principal, Role
from chalicelib.adapters.auth.jwks import jwks_source_for
from chalicelib.auth.tokens import JwksCache, TokenVerifier
from chalicelib.settings import Settings
from chalicelib.wiring import Container, set_container
from tests.unit.cli.conftest import Run, run

CID = "001090123456"


@contextmanager
def issuer_key(key_file: Path | None):
    """The settings of a process started with VAXPASS_DEV_JWT_KEY_FILE=key_file (unset: None)."""
    set_container(Container(Settings(dev_jwt_key_file=str(key_file) if key_file else None)))
    try:
        yield
    finally:
        set_container(None)


def cli(*args, key_file: Path | None) -> Run:
    with issuer_key(key_file):
        return run(["token", *args])


def verifier_for(jwks_uri: str) -> TokenVerifier:
    now = lambda: datetime.now(timezone.utc)  # noqa: E731 - the CLI mints with the real clock
    return TokenVerifier(JwksCache(jwks_source_for(jwks_uri), now), issuer="https://id.vaxpass.local",
                         audience="vaxpass", clock=now)


def test_minted_tokens_verify_against_the_written_jwks(tmp_path):
    key_file = tmp_path / "issuer" / "key.pem"
    jwks = cli("jwks", "--out", str(tmp_path / "jwks.json"), key_file=key_file)
    assert jwks.code == 0, jwks.err
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    verifier = verifier_for(jwks.out.strip())

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
        assert out.code == 0, out.err
        got = verifier.verify(out.out.strip())
        assert (got.role, got.citizen_id, got.facility_id, got.province_code) == (
            expected.role, expected.citizen_id, expected.facility_id, expected.province_code)
        assert got.subject and got.subject != CID  # the subject never is the citizen id


@pytest.mark.parametrize("args", [
    ("citizen", "123"), ("staff", "--role", "province"), ("staff", "--role", "facility"),
    ("staff", "--role", "ministry", "--province", "001"), ("staff", "--role", "operator", "--ttl", "0")])
def test_scopes_that_do_not_fit_the_role_are_refused(tmp_path, args):
    out = cli(*args, key_file=tmp_path / "key.pem")
    assert out.code == 2 and out.out == "" and "error" in out.err
    assert len(out.err_lines) == 1 and "Traceback" not in out.err


def test_the_default_key_file_is_under_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = cli("staff", "--role", "ministry", key_file=None)
    assert out.code == 0, out.err
    assert (tmp_path / ".run" / "dev-issuer" / "key.pem").exists()


def test_the_key_survives_and_is_reused(tmp_path):
    key_file = tmp_path / "key.pem"
    for name in ("a.json", "b.json"):
        assert cli("jwks", "--out", str(tmp_path / name), key_file=key_file).code == 0
    assert json.loads((tmp_path / "a.json").read_text()) == json.loads((tmp_path / "b.json").read_text())
