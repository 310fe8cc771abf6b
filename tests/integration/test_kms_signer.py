"""KMS adapter against real KMS behaviour (LocalStack): ECC_NIST_P256 and RSA_2048 keys created
here, signatures verified independently with `cryptography` using GetPublicKey, and a full
issue -> verify round trip with a DSC issued for the KMS key."""
from __future__ import annotations

import hashlib
import random
import uuid
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.config import Config
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key

from chalicelib.adapters.dcc.kms_signer import KmsSigner, public_key_of
from chalicelib.dcc import TrustStore, build_vaccination_payload, issue_many, verify_hc1
from chalicelib.dcc.pki import generate_key, issue_csca, issue_dsc

pytestmark = pytest.mark.integration

KEY_SPECS = {"ES256": "ECC_NIST_P256", "PS256": "RSA_2048"}


@pytest.fixture(scope="module")
def kms(aws_endpoint):
    return boto3.client("kms", endpoint_url=aws_endpoint,
                        config=Config(max_pool_connections=32, retries={"total_max_attempts": 1}))


@pytest.fixture(scope="module", params=["ES256", "PS256"])
def kms_key(request, kms):
    key = kms.create_key(KeySpec=KEY_SPECS[request.param], KeyUsage="SIGN_VERIFY",
                         Description=f"vaxpass test DSC {uuid.uuid4()}")
    key_id = key["KeyMetadata"]["KeyId"]
    yield request.param, key_id
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)


@pytest.fixture(scope="module")
def dsc_for(kms, kms_key):
    alg, key_id = kms_key
    now = datetime.now(timezone.utc) - timedelta(minutes=5)
    rnd = random.Random(5).randbytes
    csca_key = generate_key(alg)
    csca = issue_csca(csca_key, now=now, valid_days=3650, random_bytes=rnd)
    dsc = issue_dsc(public_key_of(kms, key_id), csca_cert=csca, csca_key=csca_key, now=now,
                    valid_days=365, random_bytes=rnd)
    return alg, key_id, dsc


def independently_verify(public_key, alg, message: bytes, signature: bytes) -> None:
    if alg == "ES256":
        assert len(signature) == 64
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        public_key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    else:
        public_key.verify(signature, message, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())


def test_kms_signatures_verify_with_the_kms_public_key(kms, dsc_for):
    alg, key_id, dsc = dsc_for
    public_key = load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    signer = KmsSigner(kms, key_id, dsc)
    assert signer.alg == alg
    message = b"Signature1 structure " * 10
    independently_verify(public_key, alg, message, signer.sign(message))
    independently_verify(public_key, alg, message, signer.sign_digest(hashlib.sha256(message).digest()))


def test_fifty_concurrent_signatures(kms, dsc_for):
    alg, key_id, dsc = dsc_for
    public_key = dsc.public_key()
    signer = KmsSigner(kms, key_id, dsc, max_workers=16)
    messages = [f"message {i}".encode() for i in range(50)]
    signatures = signer.sign_many(messages)
    assert len(signatures) == 50
    for message, signature in zip(messages, signatures):
        independently_verify(public_key, alg, message, signature)


def test_issue_and_verify_round_trip_with_kms_dsc(kms, dsc_for):
    alg, key_id, dsc = dsc_for
    signer = KmsSigner(kms, key_id, dsc)
    payloads = [build_vaccination_payload(full_name="Trần Văn Đức", dob="1985", product="Vaxzevria",
                                          dose_number=1, series_doses=2, vaccination_date="2021-08-01",
                                          uvci=f"URN:UVCI:01:VN:KMS{i}#A", issuer="MoH VN")
                for i in range(5)]
    now = datetime.now(timezone.utc)
    hc1s = issue_many(payloads, signer, now=now, valid_days=30)
    trust = TrustStore.from_certificates([dsc])
    results = [verify_hc1(h, trust, now=now + timedelta(minutes=1)) for h in hc1s]
    assert [r.errors for r in results] == [[]] * 5
    assert [r.payload for r in results] == payloads and results[0].alg == alg


def test_cli_dsc_from_kms_then_issue_with_kms_and_verify(tmp_path, kms, kms_key, aws_endpoint):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    alg, key_id = kms_key
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "AWS_ENDPOINT_URL": aws_endpoint}

    def cli(*args, stdin=""):
        done = subprocess.run([sys.executable, "-m", "chalicelib.cli", *args], input=stdin, text=True,
                              capture_output=True, cwd=root, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    cli("keys", "init", "--out", str(tmp_path), "--alg", alg)
    cli("keys", "dsc-from-kms", "--key-id", key_id, "--csca-cert", str(tmp_path / "csca.pem"),
        "--csca-key", str(tmp_path / "csca.key.pem"), "--out", str(tmp_path / "kms-dsc.pem"))
    payload = build_vaccination_payload(full_name="Lê Thị Hồng", dob="1970-02", product="Covishield",
                                        dose_number=2, series_doses=2, vaccination_date="2021-10-01",
                                        uvci="URN:UVCI:01:VN:CLI#A", issuer="MoH VN")
    hc1 = cli("issue", "--kms-key-id", key_id, "--cert", str(tmp_path / "kms-dsc.pem"),
              stdin=json.dumps(payload) + "\n")
    result = json.loads(cli("verify", "--trust-cert", str(tmp_path / "kms-dsc.pem"), stdin=hc1))
    assert result["valid"] and result["alg"] == alg and result["payload"] == payload
