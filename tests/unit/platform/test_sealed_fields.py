"""SealedFields (chalicelib/adapters/dynamo.py) over the fake sealer: what a pynamodb item becomes
on the wire, with no socket opened (serialising an item needs no connection)."""
from __future__ import annotations

import json

import pytest

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables, record_pk
from chalicelib.settings import Settings
from tests.fakes.privacy import FakePseudonyms, FakeSealer

CID = "001090012345"


@pytest.fixture
def tables() -> Tables:
    return Tables(Settings(stage="test"), pseudonyms=FakePseudonyms(), sealer=FakeSealer())


def _record(tables: Tables, record_id: str):
    data = {"citizen_id": CID, "full_name": "Nguyễn Văn An", "date_of_birth": "1990-01-31"}
    return tables.Record(record_pk("F1", record_id), "REC", gsi1pk=tables.citizen_key(CID), gsi1sk="2021-09-01#01",
                         facility_id="F1", record_id=record_id, province_code="001", digest="d",
                         data=json.dumps(data, ensure_ascii=False), original=json.dumps(data, ensure_ascii=False),
                         matched_citizen_id=CID, created_at="t", updated_at="t")


def test_personal_fields_leave_as_sealed_groups_and_keys_as_pseudonyms(tables):
    raw = _record(tables, "R1").serialize()
    assert {"data", "original", "matched_citizen_id"}.isdisjoint(raw)
    assert set(raw) >= {"sealed", "sealed_match"}
    clear = {k: v for k, v in raw.items() if k not in ("sealed", "sealed_match")}
    assert CID not in json.dumps(clear) and "1990-01-31" not in json.dumps(clear)
    back = tables.Record.from_raw_data(raw)
    assert json.loads(back.data)["full_name"] == "Nguyễn Văn An" and back.matched_citizen_id == CID


def test_attack_sealed_group_copied_onto_another_record(tables):
    mine, other = _record(tables, "R1").serialize(), _record(tables, "R2").serialize()
    other["sealed"] = mine["sealed"]
    with pytest.raises(errors.SealBroken):
        tables.Record.from_raw_data(other)


def test_attack_one_group_moved_into_the_other_attribute(tables):
    raw = _record(tables, "R1").serialize()
    raw["sealed_match"] = raw["sealed"]
    with pytest.raises(errors.SealBroken):
        tables.Record.from_raw_data(raw)


def test_a_projection_naming_sealed_fields_reads_their_group_and_key(tables):
    assert tables.fields(tables.Record, ["facility_id", "data", "matched_citizen_id"]) == [
        "facility_id", "sealed", "sealed_match", "pk", "sk"]
    assert tables.fields(tables.Counter, ["pk", "received"]) == ["pk", "received"]


def test_a_pseudonym_is_keyed_not_a_plain_hash(tables):
    import hashlib

    assert tables.citizen(CID) != FakePseudonyms(b"another key").pseudonym(CID)
    assert hashlib.sha256(CID.encode()).hexdigest()[:32] not in tables.citizen_key(CID)
