"""The audit bucket (S3 with Object Lock) and the audit anchor key (KMS ECC_NIST_P256).

audit bucket  checkpoints/<sequence, 12 digits>.json   one KMS-signed checkpoint of the audit log
              security-events/<yyyy-mm-dd>/<id>.json   countersign chunks and entries refused as forged

The bucket is versioned and locked (COMPLIANCE retention, infra/spec.py): an object version cannot
be deleted or overwritten, only hidden behind a delete marker or shadowed by a newer version. So
checkpoints are read through their versions, always the first one written for a key, and written
with `If-None-Match: *` so the app itself never writes a second version.
"""
from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import errors
from chalicelib.adapters.aws_errors import aws_call
from chalicelib.signing.audit import Checkpoint, SignedCheckpoint

CHECKPOINTS = "checkpoints/"
SECURITY_EVENTS = "security-events/"
SIGNING_ALGORITHM = "ECDSA_SHA_256"


def checkpoint_key(sequence: int) -> str:
    return f"{CHECKPOINTS}{sequence:012d}.json"


class S3KmsAuditAnchor:
    def __init__(self, s3, kms, bucket: str, key_id: str) -> None:
        self._s3 = s3
        self._kms = kms
        self._bucket = bucket
        self._key_id = key_id
        self._versions: dict[int, str] = {}  # sequence -> first version id, filled by sequences()
        self._public_key = None

    def write(self, checkpoint: Checkpoint) -> None:
        with aws_call("audit anchor: sign"):
            signed = self._kms.sign(KeyId=self._key_id, Message=hashlib.sha256(checkpoint.message()).digest(),
                                    MessageType="DIGEST", SigningAlgorithm=SIGNING_ALGORITHM)
        body = {"checkpoint": json.loads(checkpoint.message()), "signing_algorithm": SIGNING_ALGORITHM,
                "key_id": signed["KeyId"], "signature": base64.b64encode(signed["Signature"]).decode("ascii")}
        try:
            self._s3.put_object(Bucket=self._bucket, Key=checkpoint_key(checkpoint.sequence),
                                Body=json.dumps(body, separators=(",", ":")).encode(),
                                ContentType="application/json", IfNoneMatch="*")
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "PreconditionFailed":
                return  # a retried append of the same entry: the chain never forks, so same head
            raise errors.DependencyUnavailable("audit anchor: write checkpoint failed") from e
        except BotoCoreError as e:
            raise errors.DependencyUnavailable("audit anchor: write checkpoint failed") from e

    def sequences(self) -> list[int]:
        firsts: dict[int, str] = {}
        with aws_call("audit anchor: list checkpoints"):
            for page in self._s3.get_paginator("list_object_versions").paginate(Bucket=self._bucket,
                                                                               Prefix=CHECKPOINTS):
                # S3 lists a key's versions newest first: the last one seen is the first written.
                for v in page.get("Versions", []):
                    name = v["Key"].removeprefix(CHECKPOINTS).removesuffix(".json")
                    if name.isdigit():
                        firsts[int(name)] = v["VersionId"]
        self._versions = firsts
        return sorted(firsts)

    def load(self, sequence: int) -> SignedCheckpoint | None:
        if sequence not in self._versions:
            self.sequences()
        version = self._versions.get(sequence)
        if version is None:
            return None
        with aws_call("audit anchor: read checkpoint"):
            raw = self._s3.get_object(Bucket=self._bucket, Key=checkpoint_key(sequence),
                                      VersionId=version)["Body"].read()
        return _parse(raw)

    def checkpoint(self, sequence: int) -> SignedCheckpoint | None:
        """The checkpoint object for `sequence` as it reads now (one GetObject, no listing). Any
        version whose signature verifies is the one genuine checkpoint of that sequence: the app
        writes one, and nobody else holds the key; a newer forged version only fails to verify."""
        try:
            raw = self._s3.get_object(Bucket=self._bucket, Key=checkpoint_key(sequence))["Body"].read()
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise errors.DependencyUnavailable("audit anchor: read checkpoint failed") from e
        except BotoCoreError as e:
            raise errors.DependencyUnavailable("audit anchor: read checkpoint failed") from e
        return _parse(raw)

    def public_key(self):
        from chalicelib.adapters.dcc.kms_signer import public_key_of

        if self._public_key is None:
            self._public_key = public_key_of(self._kms, self._key_id)
        return self._public_key


def _parse(raw: bytes) -> SignedCheckpoint | None:
    try:
        doc = json.loads(raw)
        cp = doc["checkpoint"]
        return SignedCheckpoint(Checkpoint(int(cp["sequence"]), str(cp["head_hash"]), str(cp["time"])),
                                base64.b64decode(doc["signature"]), str(doc.get("key_id", "")))
    except (ValueError, KeyError, TypeError):
        return None


class S3SecurityEvents:
    """Security events of the countersign worker, one object each, for an operator to inspect
    (`python -m chalicelib.cli audit events`). The writer keeps personal data out of them."""

    def __init__(self, s3, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def record(self, event: dict, now: datetime) -> str:
        key = f"{SECURITY_EVENTS}{now.date().isoformat()}/{now.strftime('%H%M%S')}-{uuid.uuid4().hex}.json"
        with aws_call("security events: write"):
            self._s3.put_object(Bucket=self._bucket, Key=key, ContentType="application/json",
                                Body=json.dumps({**event, "at": now.isoformat(timespec="seconds")},
                                                ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        return key

    def latest(self, limit: int) -> list[dict]:
        keys: list[str] = []
        with aws_call("security events: list"):
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket,
                                                                          Prefix=SECURITY_EVENTS):
                keys += [o["Key"] for o in page.get("Contents", [])]
        out = []
        for key in sorted(keys)[-limit:] if limit > 0 else []:
            with aws_call("security events: read"):
                out.append({"key": key, **json.loads(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read())})
        return out
