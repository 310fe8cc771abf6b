"""KMS adapter of the DCC Signer port: the DSC private key never leaves KMS.

KMS signs a SHA-256 digest we compute locally (`MessageType=DIGEST`), so Sig_structures of any
size cost one small request. ECDSA signatures come back DER-encoded and are converted to the
raw r||s form COSE needs; RSASSA_PSS_SHA_256 uses a salt as long as the hash (32 bytes), which
is what COSE PS256 expects.

Built for volume: `sign_many` runs requests concurrently on a thread pool (boto3 clients are
thread-safe; give the client `max_pool_connections` >= `max_workers`), and each request is
retried with full-jitter exponential backoff on ThrottlingException, KMSInternalException,
DependencyTimeoutException, any other 5xx answer, and on connection failures and timeouts
(signing is stateless, so a retry is always safe). Give it a client without botocore retries,
or the two retry loops multiply.
Clock-free: `sleep` and `rand` are injected so retry tests run instantly and deterministically.
"""
from __future__ import annotations

import hashlib
import random
import time
from typing import Callable, Sequence

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from chalicelib.dcc.cose import kid_for_certificate_der
from chalicelib.dcc.signer import alg_for_public_key, raw_ecdsa_signature, sign_concurrently
from chalicelib.errors import DependencyUnavailable, Throttled

# Transient by KMS's documentation; any other HTTP 5xx answer is retried as well, since the client
# the service uses has botocore's own retries (which cover 5xx) turned off.
RETRYABLE = frozenset({"ThrottlingException", "KMSInternalException", "DependencyTimeoutException"})
KMS_ALGORITHMS = {"ES256": "ECDSA_SHA_256", "PS256": "RSASSA_PSS_SHA_256"}


def _error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


class KmsSigner:
    """Signer backed by an asymmetric SIGN_VERIFY KMS key whose public key is in `certificate`."""

    def __init__(self, client, key_id: str, certificate: x509.Certificate, *,
                 max_attempts: int = 6, base_delay_s: float = 0.05, max_delay_s: float = 2.0,
                 max_workers: int = 16, sleep: Callable[[float], None] = time.sleep,
                 rand: Callable[[], float] = random.random) -> None:
        self.alg = alg_for_public_key(certificate.public_key())
        self.certificate = certificate
        self.kid = kid_for_certificate_der(certificate.public_bytes(Encoding.DER))
        self._client = client
        self._key_id = key_id
        self._max_attempts = max_attempts
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._max_workers = max_workers
        self._sleep = sleep
        self._rand = rand

    def sign(self, data: bytes) -> bytes:
        return self.sign_digest(hashlib.sha256(data).digest())

    def sign_digest(self, digest: bytes) -> bytes:
        response = self._call_with_retry(digest)
        signature = response["Signature"]
        return raw_ecdsa_signature(signature) if self.alg == "ES256" else signature

    def sign_many(self, messages: Sequence[bytes]) -> list[bytes]:
        return sign_concurrently(self.sign, messages, self._max_workers, "kms-sign")

    def _call_with_retry(self, digest: bytes) -> dict:
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._client.sign(KeyId=self._key_id, Message=digest, MessageType="DIGEST",
                                         SigningAlgorithm=KMS_ALGORITHMS[self.alg])
            except ClientError as e:
                code = _error_code(e)
                status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if code not in RETRYABLE and not status >= 500:
                    raise DependencyUnavailable("KMS refused to sign",
                                                details={"aws_error": code}) from e
                if attempt == self._max_attempts:
                    if code == "ThrottlingException":
                        raise Throttled("KMS signing is throttled; retry later",
                                        details={"attempts": attempt}) from e
                    raise DependencyUnavailable("KMS signing failed repeatedly",
                                                details={"aws_error": code, "attempts": attempt}) from e
            except (BotoConnectionError, HTTPClientError) as e:  # unreachable, reset, timed out
                if attempt == self._max_attempts:
                    raise DependencyUnavailable("KMS is unreachable",
                                                details={"attempts": attempt}) from e
            except BotoCoreError as e:  # anything else botocore raises is not transient
                raise DependencyUnavailable("KMS request failed") from e
            # Full jitter: spreads retries of many concurrent signers instead of re-syncing them.
            cap = min(self._max_delay_s, self._base_delay_s * (2 ** (attempt - 1)))
            self._sleep(cap * self._rand())


def public_key_of(client, key_id: str):
    """The KMS key's public key as a `cryptography` object (for issuing its DSC)."""
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        response = client.get_public_key(KeyId=key_id)
    except ClientError as e:
        raise DependencyUnavailable("cannot read the KMS public key",
                                    details={"aws_error": _error_code(e)}) from e
    except BotoCoreError as e:
        raise DependencyUnavailable("KMS is unreachable") from e
    return load_der_public_key(response["PublicKey"])
