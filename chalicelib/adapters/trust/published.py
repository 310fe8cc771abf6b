"""The national trust anchor's KMS key and the bucket of what it signed for verifiers.

`KmsTrustAnchor` is the one signer of the lists we publish (`dcc.signed_document.sign_document`):
the revocation batches and their index, and the gateway-format trust list. `S3PublishedObjects`
keeps those documents as static objects, built once and then only read by the routes.
"""
from __future__ import annotations

from chalicelib.adapters.aws_errors import aws_call, s3_get_or_none


class KmsTrustAnchor:
    def __init__(self, kms, key_id: str) -> None:
        self._kms = kms
        self._key_id = key_id
        self._public_key = None

    def sign_digest(self, digest: bytes) -> bytes:
        with aws_call("trust anchor: sign"):
            return self._kms.sign(KeyId=self._key_id, Message=digest, MessageType="DIGEST",
                                  SigningAlgorithm="ECDSA_SHA_256")["Signature"]

    def public_key(self):
        if self._public_key is None:
            from chalicelib.adapters.dcc.kms_signer import public_key_of

            self._public_key = public_key_of(self._kms, self._key_id)
        return self._public_key


class S3PublishedObjects:
    def __init__(self, s3, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def get(self, key: str) -> bytes | None:
        return s3_get_or_none(self._s3, self._bucket, key, "published lists")

    def put(self, key: str, body: bytes) -> None:
        with aws_call("published lists: write"):
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/json")
