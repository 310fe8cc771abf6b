"""The published gateway trust list's store, fake and real (one item of the signing table)."""
from __future__ import annotations

import pytest

from tests.contracts.conftest import BOTH, FAKE, real
from tests.fakes.trust_gateway import FakePublishedTrustList


@pytest.fixture(params=BOTH)
def published(request):
    return FakePublishedTrustList() if request.param == FAKE else real(request).published_trust_list


class TestPublishedTrustListContract:
    def test_the_last_put_document_is_read_back_whole(self, published, unique):
        first = {"payload": {"entries": [{"kid": f"k-{unique}", "rawData": "AAAA"}], "country": "VN"},
                 "signature": {"alg": "ES256", "kid": "x", "value": "y"}}
        published.put(first, published_at="2026-01-05T08:00:00+00:00")
        assert published.get() == first
        second = {**first, "payload": {**first["payload"], "country": "VN", "issuedAt": unique}}
        published.put(second, published_at="2026-01-06T08:00:00+00:00")
        assert published.get() == second


def test_nothing_published_reads_as_none():
    assert FakePublishedTrustList().get() is None
