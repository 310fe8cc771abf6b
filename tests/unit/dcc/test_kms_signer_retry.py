"""Retry and error mapping of the KMS adapter, with a hand-written fake KMS client (no sockets).
Real KMS behaviour is covered on LocalStack by tests/integration/test_kms_signer.py."""
from __future__ import annotations

import hashlib

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.adapters.dcc.kms_signer import KmsSigner
from chalicelib.errors import DependencyUnavailable, Throttled


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "fake"}}, "Sign")


class FakeKms:
    """Fails the first `failures` calls with `code`, then signs like KMS (DER ECDSA)."""

    def __init__(self, key, failures: int = 0, code: str = "ThrottlingException") -> None:
        self.key, self.failures, self.code, self.calls = key, failures, code, []

    def sign(self, **kwargs):
        self.calls.append(kwargs)
        if len(self.calls) <= self.failures:
            raise client_error(self.code)
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

        return {"Signature": self.key.sign(kwargs["Message"], ec.ECDSA(Prehashed(hashes.SHA256())))}


def make_signer(es256, fake, **kwargs):
    delays = []
    signer = KmsSigner(fake, "alias/dsc", es256.dsc, sleep=delays.append, rand=lambda: 1.0, **kwargs)
    return signer, delays


def test_retries_throttling_with_exponential_backoff_then_signs(es256):
    fake = FakeKms(es256.dsc_key, failures=3)
    signer, delays = make_signer(es256, fake)
    signature = signer.sign(b"sig structure")
    assert len(signature) == 64 and len(fake.calls) == 4
    assert delays == [0.05, 0.1, 0.2]
    assert fake.calls[0]["MessageType"] == "DIGEST"
    assert fake.calls[0]["Message"] == hashlib.sha256(b"sig structure").digest()
    assert fake.calls[0]["SigningAlgorithm"] == "ECDSA_SHA_256"


@pytest.mark.parametrize("code, error", [("ThrottlingException", Throttled),
                                         ("KMSInternalException", DependencyUnavailable)])
def test_gives_up_after_max_attempts(es256, code, error):
    fake = FakeKms(es256.dsc_key, failures=99, code=code)
    signer, delays = make_signer(es256, fake, max_attempts=4)
    with pytest.raises(error) as caught:
        signer.sign(b"x")
    assert len(fake.calls) == 4 and len(delays) == 3
    assert isinstance(caught.value.__cause__, ClientError)


def test_non_retryable_errors_fail_at_once(es256):
    fake = FakeKms(es256.dsc_key, failures=1, code="DisabledException")
    signer, delays = make_signer(es256, fake)
    with pytest.raises(DependencyUnavailable) as caught:
        signer.sign(b"x")
    assert not isinstance(caught.value, Throttled) and delays == [] and len(fake.calls) == 1


def test_sign_many_keeps_order(es256):
    signer, _ = make_signer(es256, FakeKms(es256.dsc_key, failures=2))
    messages = [f"m{i}".encode() for i in range(20)]
    signatures = signer.sign_many(messages)
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    for message, sig in zip(messages, signatures):
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        es256.dsc.public_key().verify(der, message, ec.ECDSA(hashes.SHA256()))


class FlakyNetworkKms(FakeKms):
    """Raises a botocore connection error on the first `failures` calls."""

    def __init__(self, key, failures: int, error) -> None:
        super().__init__(key)
        self.network_failures, self.error = failures, error

    def sign(self, **kwargs):
        if len(self.calls) < self.network_failures:
            self.calls.append(kwargs)
            raise self.error
        return super().sign(**kwargs)


@pytest.mark.parametrize("error", [EndpointConnectionError(endpoint_url="https://kms"),
                                   ReadTimeoutError(endpoint_url="https://kms")])
def test_retries_connection_failures_then_gives_up(es256, error):
    fake = FlakyNetworkKms(es256.dsc_key, failures=2, error=error)
    signer, delays = make_signer(es256, fake)
    assert len(signer.sign(b"x")) == 64 and len(fake.calls) == 3 and delays == [0.05, 0.1]

    down = FlakyNetworkKms(es256.dsc_key, failures=99, error=error)
    signer, delays = make_signer(es256, down, max_attempts=3)
    with pytest.raises(DependencyUnavailable):
        signer.sign(b"x")
    assert len(down.calls) == 3


def test_service_signing_client_has_botocore_retries_off():
    from chalicelib.settings import get_settings
    from chalicelib.wiring import Container

    container = Container(get_settings())
    signing = container.client("kms", botocore_retries=False)
    assert signing.meta.config.retries["total_max_attempts"] == 1
    assert container.client("kms") is not signing


@pytest.mark.parametrize("code, status", [("DependencyTimeoutException", 503), ("ServiceUnavailable", 503),
                                          ("InternalFailure", 500)])
def test_transient_server_errors_are_retried(es256, code, status):
    class ServerErrorKms(FakeKms):
        def sign(self, **kwargs):
            if not self.calls:
                self.calls.append(kwargs)
                raise ClientError({"Error": {"Code": code, "Message": "fake"},
                                   "ResponseMetadata": {"HTTPStatusCode": status}}, "Sign")
            return super().sign(**kwargs)

    fake = ServerErrorKms(es256.dsc_key)
    signer, delays = make_signer(es256, fake)
    assert len(signer.sign(b"x")) == 64 and delays == [0.05]
