"""The passport store on LocalStack DynamoDB: a UVCI is issued once, ever."""
from __future__ import annotations

import secrets
from datetime import datetime, timezone

import pytest

from chalicelib import errors


def new_passport(citizen_id: str, uvci: str):
    from chalicelib.issuance.service import NewPassport

    return NewPassport(citizen_id=citizen_id, version=1, uvci=uvci, kid_b64="AAAAAAAAAAA=", alg="ES256",
                       iat=1_700_000_000, exp=1_731_536_000, hc1="HC1:TEST", signature_b64="AA==",
                       content_digest="d", attestation={"facility_id": "F-UVCI", "province_code": "01"},
                       display={})


def test_a_uvci_already_issued_is_refused_for_another_person(stack):
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.issuance.passports import DynamoPassportStore

    settings, _ = stack
    store = DynamoPassportStore(Tables(settings))
    now = datetime.now(timezone.utc)
    uvci = f"URN:UVCI:01:VN:TEST{secrets.token_hex(8).upper()}#A"
    first, second = f"0{secrets.randbelow(10**11):011d}", f"0{secrets.randbelow(10**11):011d}"

    assert store.save_new(new_passport(first, uvci), None, [], now) is True
    with pytest.raises(errors.DependencyUnavailable, match="UVCI"):  # retryable: a retry draws anew
        store.save_new(new_passport(second, uvci), None, [], now)
    assert store.current(second) is None  # nothing of the refused passport was written
    assert store.current(first).uvci == uvci
