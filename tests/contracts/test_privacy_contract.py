"""The privacy ports (chalicelib/privacy.py): FakePseudonyms and FakeSealer held to KmsPseudonyms
and EsdkSealer (KMS on LocalStack, the AWS Encryption SDK)."""
from __future__ import annotations

import base64

import pytest

from chalicelib import errors
from tests.contracts.conftest import BOTH, FAKE, real
from tests.fakes.privacy import FakePseudonyms, FakeSealer

CONTEXT = {"purpose": "vaxpass-personal-fields", "table": "records", "pk": "REC#F1#R1", "sk": "REC", "attr": "sealed"}


@pytest.fixture(params=BOTH)
def pseudonyms(request):
    return FakePseudonyms() if request.param == FAKE else real(request).pseudonyms


@pytest.fixture(params=BOTH)
def sealer(request):
    return FakeSealer() if request.param == FAKE else real(request).sealer


class TestPseudonymsContract:
    def test_the_same_id_has_the_same_pseudonym_and_another_kind_another(self, pseudonyms):
        p = pseudonyms.pseudonym("001090012345")
        assert p == pseudonyms.pseudonym("001090012345") != pseudonyms.pseudonym("001090012346")
        assert pseudonyms.pseudonym("001090012345", kind="block") != p
        assert "001090012345" not in p and p.isalnum() and p == p.lower()


class TestSealerContract:
    def test_what_is_sealed_opens_under_its_context(self, sealer):
        blob = sealer.seal(CONTEXT, "Nguyễn Văn An 1990-01-31".encode())
        assert "1990-01-31" not in blob
        assert sealer.open(CONTEXT, blob) == "Nguyễn Văn An 1990-01-31".encode()

    def test_attack_ciphertext_moved_to_another_item(self, sealer):
        blob = sealer.seal(CONTEXT, b'{"data": "x"}')
        for other in ({**CONTEXT, "pk": "REC#F1#R2"}, {**CONTEXT, "table": "passports"}, {**CONTEXT, "attr": "x"}):
            with pytest.raises(errors.SealBroken):
                sealer.open(other, blob)

    def test_attack_ciphertext_altered(self, sealer):
        raw = bytearray(base64.b64decode(sealer.seal(CONTEXT, b'{"data": "x"}').removeprefix("fake:")))
        raw[-3] ^= 0x20
        prefix = "fake:" if isinstance(sealer, FakeSealer) else ""
        with pytest.raises(errors.SealBroken):
            sealer.open(CONTEXT, prefix + base64.b64encode(bytes(raw)).decode())
