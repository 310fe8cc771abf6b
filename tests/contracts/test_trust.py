"""The trust anchor and the bucket of published lists: FakeTrustAnchor / FakePublishedObjects
(tests/fakes/trust.py) and KmsTrustAnchor / S3PublishedObjects (adapters/trust/published.py)
behave alike: a signature over a digest verifies with the key's public key (and one document signed
by it opens, a changed one does not); an object is absent until put, then read back byte for byte."""
from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from chalicelib.dcc.signed_document import SignedDocumentError, open_document, sign_document
from tests.contracts.conftest import BOTH, FAKE, real
from tests.fakes import FakePublishedObjects, FakeTrustAnchor


@pytest.fixture(params=BOTH)
def anchor(request):
    return FakeTrustAnchor() if request.param == FAKE else real(request).trust_anchor


@pytest.fixture(params=BOTH)
def objects(request):
    return FakePublishedObjects() if request.param == FAKE else real(request).published_objects


class TestTrustAnchorContract:
    def test_a_digest_signature_verifies_with_the_public_key(self, anchor):
        digest = hashlib.sha256(b"revocation batch").digest()
        signature = anchor.sign_digest(digest)
        anchor.public_key().verify(signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        assert isinstance(anchor.public_key().curve, ec.SECP256R1)

    def test_a_signed_document_opens_and_a_changed_one_does_not(self, anchor):
        signed = sign_document({"entries": [{"hash": "AAAAAAAAAAAAAAAAAAAAAA=="}]}, anchor)
        assert open_document(signed, anchor.public_key()) == {"entries": [{"hash": "AAAAAAAAAAAAAAAAAAAAAA=="}]}
        signed["payload"]["entries"] = []
        with pytest.raises(SignedDocumentError):
            open_document(signed, anchor.public_key())


class TestPublishedObjectsContract:
    def test_an_object_is_absent_until_put_then_read_back_as_put(self, objects, unique):
        key = f"revocation/batches/{unique}.json"
        assert objects.get(key) is None
        objects.put(key, b'{"payload":{}}')
        assert objects.get(key) == b'{"payload":{}}'
        objects.put(key, "é".encode())
        assert objects.get(key) == "é".encode()
