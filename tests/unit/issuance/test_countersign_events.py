"""The countersign queue handler: refusals send the message to the DLQ with their reasons, after
everyone else in the chunk has been issued."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from chalicelib import errors
from chalicelib.issuance import events
from chalicelib.issuance.service import Outcome
from chalicelib.wiring import set_container


def handle_with(outcomes):
    fake = SimpleNamespace(attested_countersign=SimpleNamespace(handle=lambda body, cache=None: outcomes))
    set_container(fake)
    try:
        events._handle_record(SimpleNamespace(body=json.dumps({"batch_id": "sb-1", "chunk": 0})))
    finally:
        set_container(None)


def test_a_refused_person_fails_the_message_with_codes_and_no_personal_data():
    outcomes = [Outcome("001090012345", "issued", 1, "URN:UVCI:01:VN:X#A"),
                Outcome("079000000001", "refused", detail=["NOT_FOUND"])]
    with pytest.raises(errors.ValidationError) as caught:
        handle_with(outcomes)
    assert "1 of 2" in caught.value.message and "NOT_FOUND" in caught.value.message
    assert "079000000001" not in caught.value.message


def test_a_chunk_without_refusals_succeeds():
    handle_with([Outcome("001090012345", "issued", 1, "URN:UVCI:01:VN:X#A"),
                 Outcome("001090012346", "stale", detail=["R2"])])
