"""`audit verify` on LocalStack: the audit chain in DynamoDB against its KMS-signed checkpoints in
the write-once audit bucket. Each test tampers with the chain the way a DynamoDB writer could
(edit, delete, rewrite the tail with every hash recomputed, append around the port) or with the
anchor, and the command names the first bad entry (exit 1); the untouched chain prints its head.

Each test gets a signing table and an audit bucket of its own (the session's chain is shared with
other tests and must stay intact); the anchor key is the session's."""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import uuid

import boto3
import pytest

from chalicelib.cli import main as cli

pytestmark = pytest.mark.integration

ENTRIES = 5


def run_cli(*args: str) -> tuple[int, dict | None]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(list(args))
    text = out.getvalue().strip()
    return code, json.loads(text) if text else None


@pytest.fixture
def chain(stack):
    """Five attestation-like entries appended through the anchored audit log port."""
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.signing.audit_log import DynamoAuditLog
    from chalicelib.adapters.signing.tables import SigningTables
    from chalicelib.wiring import Container, set_container
    from infra import spec
    from infra.bootstrap import _ensure_bucket, _ensure_table

    settings, created = stack
    own = f"{settings.resource_prefix}-a{uuid.uuid4().hex[:6]}"
    ddb = boto3.client("dynamodb", endpoint_url=settings.endpoint_url, region_name=settings.region)
    s3 = boto3.client("s3", endpoint_url=settings.endpoint_url, region_name=settings.region)
    sqs = boto3.client("sqs", endpoint_url=settings.endpoint_url, region_name=settings.region)
    table = _ensure_table(ddb, own, spec.table("signing"), created.keys["data"])
    bucket = _ensure_bucket(s3, sqs, own, next(b for b in spec.BUCKETS if b.logical == "audit"),
                            created.keys["data"], settings.region)
    mine = dataclasses.replace(settings, overrides={"table:signing": table, "bucket:audit": bucket})
    c = Container(mine)
    for i in range(1, ENTRIES + 1):
        c.audit_log.append({"type": "batch-attestation", "batch_id": f"SB{i}", "count": i},
                           unique_key=f"batch:SB{i}")
    set_container(c)
    yield {"container": c, "M": SigningTables(Tables(mine)).Signing, "raw": DynamoAuditLog(Tables(mine)),
           "s3": s3, "bucket": bucket}
    set_container(None)


def entry(M, seq: int):
    return M.get("AUDIT", f"SEQ#{seq:012d}", consistent_read=True)


def test_an_untouched_chain_prints_its_head(chain):
    code, out = run_cli("audit", "verify")
    head = entry(chain["M"], ENTRIES)
    assert code == 0 and out["ok"] is True
    assert out["head"] == {"sequence": ENTRIES, "entry_hash": head.entry_hash}
    assert out["anchor"]["sequence"] == ENTRIES and out["anchor"]["head_hash"] == head.entry_hash


def test_attack_edited_entry_is_detected(chain):
    item = entry(chain["M"], 2)
    item.entry = json.dumps({**json.loads(item.entry), "count": 999})
    item.save()
    code, out = run_cli("audit", "verify")
    assert (code, out["ok"], out["first_bad_sequence"]) == (1, False, 2), out


def test_attack_edited_entry_with_its_own_hash_recomputed_is_detected(chain):
    from chalicelib.signing.audit import chain_hash

    item = entry(chain["M"], 2)
    forged = {**json.loads(item.entry), "count": 999}
    item.entry, item.entry_hash = json.dumps(forged), chain_hash(bytes.fromhex(item.prev_hash), forged).hex()
    item.save()
    code, out = run_cli("audit", "verify")
    assert (code, out["first_bad_sequence"]) == (1, 2), out  # entry 2 itself, not only the next link


def test_attack_deleted_entry_is_detected(chain):
    entry(chain["M"], 3).delete()
    code, out = run_cli("audit", "verify")
    assert (code, out["first_bad_sequence"]) == (1, 3), out


def test_attack_deleted_tail_is_detected_by_the_anchor(chain):
    M = chain["M"]
    entry(M, ENTRIES).delete()
    M("AUDIT", "HEAD", sequence=ENTRIES - 1, entry_hash=entry(M, ENTRIES - 1).entry_hash).save()
    code, out = run_cli("audit", "verify")
    assert (code, out["first_bad_sequence"]) == (1, ENTRIES), out
    assert "missing" in out["reason"]


def test_attack_rewritten_tail_with_a_recomputed_chain_is_detected(chain):
    """The chain alone cannot show this: every hash after the edit is recomputed and links."""
    from chalicelib.signing.audit import chain_hash, verify_chain

    M = chain["M"]
    prev = bytes.fromhex(entry(M, 2).entry_hash)
    for seq in range(3, ENTRIES + 1):
        item = entry(M, seq)
        forged = {**json.loads(item.entry), "count": 1000 + seq}
        h = chain_hash(prev, forged)
        item.entry, item.prev_hash, item.entry_hash = json.dumps(forged), prev.hex(), h.hex()
        item.save()
        prev = h
    M("AUDIT", "HEAD", sequence=ENTRIES, entry_hash=prev.hex()).save()
    assert verify_chain(chain["raw"].entries()).ok  # a consistent chain...
    code, out = run_cli("audit", "verify")
    assert (code, out["first_bad_sequence"]) == (1, 3), out  # ...that is not the anchored one
    assert "checkpoint" in out["reason"]


def test_attack_entry_appended_around_the_anchor_is_reported(chain):
    chain["raw"].append({"type": "batch-attestation", "batch_id": "SBforged", "count": 1}, unique_key="batch:SBforged")
    code, out = run_cli("audit", "verify")
    assert (code, out["first_bad_sequence"]) == (1, ENTRIES + 1), out
    assert "not anchored" in out["reason"]


def test_attack_forged_checkpoints_are_refused(chain):
    """A checkpoint signed by another key is refused; a second version of a checkpoint object
    (S3 keeps the first, Object Lock forbids deleting it) is ignored."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from chalicelib.signing.audit import Checkpoint

    chain["raw"].append({"type": "batch-attestation", "batch_id": "SB6", "count": 6}, unique_key="batch:SB6")
    head = entry(chain["M"], ENTRIES + 1).entry_hash
    other_key = ec.generate_private_key(ec.SECP256R1())

    def forged(seq, head_hash):
        cp = Checkpoint(seq, head_hash, "2030-01-01T00:00:00+00:00")
        forged = other_key.sign(cp.message(), ec.ECDSA(hashes.SHA256()))
        return json.dumps({"checkpoint": json.loads(cp.message()), "key_id": "forged",
                           "signature": base64.b64encode(forged).decode()})

    # a new version of checkpoint 5 naming another head: ignored, the first version still counts
    chain["s3"].put_object(Bucket=chain["bucket"], Key="checkpoints/000000000005.json", Body=forged(5, "00" * 32))
    # a checkpoint for the entry appended around the port, signed with another key: refused
    chain["s3"].put_object(Bucket=chain["bucket"], Key="checkpoints/000000000006.json", Body=forged(6, head))
    code, out = run_cli("audit", "verify")
    assert (code, out["first_bad_sequence"]) == (1, ENTRIES + 1), out
    assert "does not verify" in out["reason"]


def test_a_pinned_public_key_must_be_the_anchor_key(chain, tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from chalicelib.adapters.dcc.kms_signer import public_key_of

    c = chain["container"]
    real = public_key_of(c.client("kms"), c.settings.key_alias("audit-anchor"))
    (tmp_path / "anchor.pem").write_bytes(real.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    assert run_cli("audit", "verify", "--public-key", str(tmp_path / "anchor.pem"))[0] == 0
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    (tmp_path / "other.pem").write_bytes(other.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    code, out = run_cli("audit", "verify", "--public-key", str(tmp_path / "other.pem"))
    assert (code, out["first_bad_sequence"]) == (1, ENTRIES) and "does not verify" in out["reason"]
    (tmp_path / "junk.pem").write_text("not a key")
    assert run_cli("audit", "verify", "--public-key", str(tmp_path / "junk.pem")) == (2, None)
