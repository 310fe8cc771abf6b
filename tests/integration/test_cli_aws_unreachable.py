"""Every CLI command that talks to AWS, with AWS out of reach (a closed local port, no
credentials) or its resources unknown (LocalStack, a prefix nobody created): exit 2 and one line
that says AWS is the problem, never a traceback. In process (`main(argv)`), each with a fresh
container built from settings that point where the test says."""
from __future__ import annotations

import json
import socket

import pytest

from tests.unit.cli.conftest import Run, dcc_payload, ok, run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def closed_port() -> int:
    # A port that was free a moment ago and that nobody listens on: connections are refused at
    # once, so botocore's retries (50 ms backoff base for connection errors) stay fast.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("aws-cli")
    ok(["keys", "init", "--out", root / "keys"])
    ok(["facility", "ca", "init", "--out", root / "ca"])
    ok(["facility", "cert", "--ca-dir", root / "ca", "--facility-id", "FAC-1", "--province", "079",
        "--out", root / "fac"])
    ok(["facility", "cert", "--ca-dir", root / "ca", "--facility-id", "CDC", "--province", "079",
        "--focal-agency", "--out", root / "fac"])
    (root / "registry.csv").write_text("citizen_id,full_name,date_of_birth,sex,province_code\n"
                                       "001090123456,Lê Văn A,1990-01-01,M,001\n", encoding="utf-8")
    (root / "facilities.csv").write_text("facility_id,name,province_code\nFAC-1,Trạm 1,079\n", encoding="utf-8")
    (root / "records.csv").write_text("record_id,facility_id\nR1,FAC-1\n", encoding="utf-8")
    _foreign_trust_list(root)
    return root


def _foreign_trust_list(root) -> None:
    """A DE CSCA (onboarded in de-anchors/) and a list with one DSC it issued: importing it writes."""
    import secrets
    from datetime import datetime, timezone

    from cryptography.hazmat.primitives.serialization import Encoding

    from chalicelib.dcc.gateway_trust import LocalAnchor, gateway_entry
    from chalicelib.dcc.pki import generate_key, issue_csca, issue_dsc

    now, key = datetime.now(timezone.utc), generate_key("ES256")
    csca = issue_csca(key, now=now, valid_days=30, random_bytes=secrets.token_bytes, country="DE")
    dsc = issue_dsc(generate_key("ES256").public_key(), csca_cert=csca, csca_key=key, now=now, valid_days=10,
                    random_bytes=secrets.token_bytes, country="DE")
    (root / "de-anchors").mkdir()
    (root / "de-anchors" / "csca.pem").write_bytes(csca.public_bytes(Encoding.PEM))
    (root / "de-list.json").write_text(json.dumps([gateway_entry(dsc, "DSC", now.isoformat(), LocalAnchor(key))]))


def commands(f) -> list[tuple[list, str]]:
    """(argv, stdin) of every command that needs AWS."""
    return [
        (["registry", "import", f / "registry.csv"], ""),
        (["upload", f / "records.csv", "--province", "079", "--timeout", "5"], ""),
        (["dlq", "list", "cleaning"], ""),
        (["dlq", "replay", "cleaning"], ""),
        (["events", "run", "--drain", "--wait", "0"], ""),
        (["reports", "reconcile"], ""),
        (["access-log", "record", "--facility-id", "FAC-1", "--record-id", "R1"], ""),
        (["access-log", "reader", "--role", "ministry", "--subject", "s1"], ""),
        (["audit", "verify"], ""),
        (["audit", "events"], ""),
        (["keys", "register-dsc", "--cert", f / "keys" / "dsc.pem"], ""),
        (["keys", "dsc-from-kms", "--key-id", "alias/x", "--csca-cert", f / "keys" / "csca.pem",
          "--csca-key", f / "keys" / "csca.key.pem", "--out", f / "kms-dsc.pem"], ""),
        (["keys", "provision-kms", "--dir", f / "pki"], ""),
        (["issue", "--kms-key-id", "alias/x", "--cert", f / "keys" / "dsc.pem"], json.dumps(dcc_payload()) + "\n"),
        (["facility", "ca", "register", "--cert", f / "ca" / "ca.pem"], ""),
        (["trust", "export", "--csca", f / "keys" / "csca.pem", "--anchor-key", f / "keys" / "csca.key.pem"], ""),
        (["trust", "import", f / "de-list.json", "--anchors", f / "de-anchors"], ""),
        (["facility", "register", "--facility-id", "FAC-1", "--name", "Trạm 1", "--province", "079", "--head", "H",
          "--cert", f / "fac" / "FAC-1.pem"], ""),
        (["facility", "import", f / "facilities.csv"], ""),
        (["facility", "register-agency", "--agency-id", "CDC", "--name", "CDC", "--province", "079",
          "--cert", f / "fac" / "CDC.pem"], ""),
    ]


def run_with(settings, argv, stdin="") -> Run:
    from chalicelib.wiring import Container, set_container

    set_container(Container(settings))
    try:
        return run(argv, stdin)
    finally:
        set_container(None)


def assert_aws_line(result: Run, argv) -> None:
    assert result.code == 2, (argv, result.err)
    assert "Traceback" not in result.err, (argv, result.err)
    assert len(result.err_lines) == 1, (argv, result.err)
    assert "AWS" in result.err_lines[0], (argv, result.err)


def test_every_aws_command_says_aws_is_unreachable_in_one_line(files, closed_port, tmp_path):
    from chalicelib.settings import Settings

    settings = Settings(endpoint_url=f"http://127.0.0.1:{closed_port}", resource_prefix="vxt-unreachable")
    for argv, stdin in commands(files):
        result = run_with(settings, argv, stdin)
        assert_aws_line(result, argv)
        assert f"cannot connect to http://127.0.0.1:{closed_port}" in result.err, (argv, result.err)
    assert not (files / "kms-dsc.pem").exists()


def test_no_credentials_is_one_line(files, closed_port, monkeypatch, tmp_path):
    from chalicelib.settings import Settings

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    settings = Settings(endpoint_url=f"http://127.0.0.1:{closed_port}", resource_prefix="vxt-nocreds")
    for argv in (["dlq", "list", "cleaning"], ["registry", "import", files / "registry.csv"],
                 ["reports", "reconcile"], ["audit", "events"]):
        result = run_with(settings, argv)
        assert_aws_line(result, argv)
        assert "no AWS credentials found" in result.err, (argv, result.err)


def test_resources_nobody_created_are_one_line(files, aws_endpoint):
    from chalicelib.settings import Settings

    settings = Settings(endpoint_url=aws_endpoint, resource_prefix="vxt-nobody-created-these")
    for argv in (["dlq", "list", "cleaning"], ["registry", "import", files / "registry.csv"],
                 ["reports", "reconcile"], ["audit", "events"], ["facility", "import", files / "facilities.csv"],
                 ["keys", "register-dsc", "--cert", files / "keys" / "dsc.pem"]):
        assert_aws_line(run_with(settings, argv), argv)
