"""KMS-held keys for the personal fields of the tables (ports in chalicelib/privacy.py).

`KmsPseudonyms`: HMAC-SHA256 under a secret derived from a key that never leaves KMS: at cold start one
`GenerateMac` with the project's HMAC_256 key over a fixed label derives it (the same in every
process, for as long as that key lives), so a lookup by citizen id costs no KMS call, and whoever
reads the tables without that key cannot hash the 10^12 possible citizen ids to go back.

`EsdkSealer`: envelope encryption through the AWS Encryption SDK under the project's symmetric data
key. Data keys are cached per process by the SDK's caching materials manager (bounded by age and
by messages), so the pipeline pays a KMS call per few thousand items, not per item. The encryption
context of every message names the table, the item's key and the attribute; the SDK's cache would
miss on every item if that whole context went to KMS, so `_PerTableContext` gives the caching
manager (and KMS) the table-level part only, while the message header, authenticated by the data
key, carries the whole context, which `open` compares with the item it is reading. The algorithm
suite is committing and unsigned: writers and readers are the same functions, and an ECDSA P-384
signature per item would cost more than everything else here.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from typing import Mapping

import aws_encryption_sdk
from aws_encryption_sdk.caches.local import LocalCryptoMaterialsCache
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy
from aws_encryption_sdk.key_providers.kms import KMSMasterKey, KMSMasterKeyConfig
from aws_encryption_sdk.materials_managers import EncryptionMaterials
from aws_encryption_sdk.materials_managers.base import CryptoMaterialsManager
from aws_encryption_sdk.materials_managers.caching import CachingCryptoMaterialsManager
from botocore.exceptions import BotoCoreError, ClientError
from cryptography.exceptions import InvalidTag

from chalicelib import errors

# The label the pseudonym secret is derived from: a new label (or a new HMAC key) is a new set
# of pseudonyms, i.e. a re-keying of every table (README, "Personal data").
PSEUDONYM_LABEL = b"vaxpass pseudonyms v1"
# Context keys that reach KMS (and the data key cache); the rest binds the message to its item.
_SHARED_CONTEXT = ("purpose", "table")
ALGORITHM = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY


class KmsPseudonyms:
    def __init__(self, kms, key_id: str) -> None:
        self._kms, self._key_id = kms, key_id
        self._secret: bytes | None = None
        self._lock = threading.Lock()

    def _key(self) -> bytes:
        with self._lock:
            if self._secret is None:
                try:
                    self._secret = self._kms.generate_mac(KeyId=self._key_id, Message=PSEUDONYM_LABEL,
                                                          MacAlgorithm="HMAC_SHA_256")["Mac"]
                except (BotoCoreError, ClientError) as e:
                    raise errors.DependencyUnavailable("pseudonym key: KMS unavailable") from e
            return self._secret

    def pseudonym(self, value: str, *, kind: str = "cid") -> str:
        # The kind is hashed in so a citizen id and a blocking key never share a pseudonym.
        mac = hmac.new(self._key(), f"{kind}\x00{value}".encode(), hashlib.sha256).digest()
        return base64.b32encode(mac[:20]).decode().lower()


class _PerTableContext(CryptoMaterialsManager):
    """Hands the caching manager the table-level part of the context (one cached data key per
    table), and puts the whole context back into the materials, so the header carries it."""

    def __init__(self, inner: CryptoMaterialsManager) -> None:
        self._inner = inner

    @staticmethod
    def _shared(context: Mapping[str, str]) -> dict[str, str]:
        return {k: context[k] for k in _SHARED_CONTEXT if k in context}

    def get_encryption_materials(self, request):
        full = dict(request.encryption_context)
        request.encryption_context = self._shared(full)
        m = self._inner.get_encryption_materials(request)
        # The header is written from these materials: the whole context, authenticated by the data key.
        return EncryptionMaterials(algorithm=m.algorithm, data_encryption_key=m.data_encryption_key,
                                   encrypted_data_keys=m.encrypted_data_keys,
                                   encryption_context={**m.encryption_context, **full}, signing_key=m.signing_key)

    def decrypt_materials(self, request):
        request.encryption_context = self._shared(request.encryption_context)
        return self._inner.decrypt_materials(request)


class EsdkSealer:
    def __init__(self, kms, key: str, *, max_age_s: float = 300.0, max_messages: int = 50_000,
                 capacity: int = 100) -> None:
        """`key`: the data key's alias or ARN (an alias is resolved on first use: the SDK matches a
        stored data key to its master key by ARN)."""
        self._kms, self._key = kms, key
        self._limits = (float(max_age_s), max_messages, capacity)
        self._cmm_built: _PerTableContext | None = None
        self._lock = threading.Lock()
        self._client = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)

    def _cmm(self) -> _PerTableContext:
        with self._lock:
            if self._cmm_built is None:
                try:
                    arn = self._kms.describe_key(KeyId=self._key)["KeyMetadata"]["Arn"]
                except (BotoCoreError, ClientError) as e:
                    raise errors.DependencyUnavailable("field encryption key: KMS unavailable") from e
                max_age, max_messages, capacity = self._limits
                master_key = KMSMasterKey(config=KMSMasterKeyConfig(key_id=arn, client=self._kms))
                self._cmm_built = _PerTableContext(CachingCryptoMaterialsManager(
                    master_key_provider=master_key, cache=LocalCryptoMaterialsCache(capacity=capacity),
                    max_age=max_age, max_messages_encrypted=max_messages))
            return self._cmm_built

    def seal(self, context: Mapping[str, str], plaintext: bytes) -> str:
        try:
            blob, _ = self._client.encrypt(source=plaintext, materials_manager=self._cmm(), algorithm=ALGORITHM,
                                           encryption_context=dict(context), frame_length=0)
        except aws_encryption_sdk.exceptions.AWSEncryptionSDKClientError as e:
            raise errors.DependencyUnavailable("field encryption failed") from e
        return base64.b64encode(blob).decode()

    def open(self, context: Mapping[str, str], sealed: str) -> bytes:
        try:
            plaintext, header = self._client.decrypt(source=base64.b64decode(sealed), materials_manager=self._cmm())
        except (aws_encryption_sdk.exceptions.AWSEncryptionSDKClientError, InvalidTag, ValueError) as e:
            # A KMS outage also lands here; the caller cannot tell, so neither retries blindly.
            raise errors.SealBroken(f"sealed fields of {context.get('table')} do not open") from e
        stored = header.encryption_context
        if any(stored.get(k) != v for k, v in context.items()):
            raise errors.SealBroken(f"sealed fields of {context.get('table')} belong to another item")
        return plaintext
