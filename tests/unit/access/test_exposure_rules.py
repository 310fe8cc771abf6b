"""Issue 14 items 6-9 in pure code: dead letters masked (and field-name or free-text tricks do not
get a person through), dev authentication refused outside local/test, the rendered template and
policies: queues under the data key, no registry grant for the internet-facing function, an
append-only access log, TTLs; and the access-log service over fakes."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from chalicelib.access.dead_letters import DeadLetterInspection
from chalicelib.access.masking import MASK, mask_body, mask_message
from chalicelib.access.service import PersonAccessLog
from chalicelib.cleaning.access import AccessEntry, Disclosure, Reader
from tests.fakes.privacy import FakePseudonyms
from chalicelib.settings import Settings, SettingsError
from infra import cloudformation, spec
from tests.fakes import FakeAccessLog, FakeDeadLetters, FakeOperatorIdentity

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
CID = "001090012345"


# -- dead letters masked ----------------------------------------------------------------------------
def test_a_dead_letter_is_masked_field_by_field_and_its_citizen_ids_found():
    body = json.dumps({"kind": "facility-attested", "batch_id": "SB1", "people": [
        {"citizen_id": CID, "full_name": "Nguyễn Văn A", "date_of_birth": "1990-05-01", "phone": "0912345678",
         "doses": [{"vaccine": "EU/1/20/1528", "date": "2021-07-01"}]}]})
    masked, found = mask_body(body)
    doc = json.loads(masked)
    person = doc["people"][0]
    assert {person[k] for k in ("citizen_id", "full_name", "date_of_birth", "phone")} == {MASK}
    assert person["doses"] == [{"vaccine": "EU/1/20/1528", "date": "2021-07-01"}]  # not personal: kept
    assert doc["batch_id"] == "SB1" and found == {CID}


@pytest.mark.parametrize("name", ["Full_Name", "FULLNAME", "full-name", "DateOfBirth", "Citizen ID", "CID"])
def test_attack_field_name_case_bypass(name):
    masked, _ = mask_body(json.dumps({"row": {name: "Nguyễn Văn A 1990-05-01"}}))
    assert "Nguyễn" not in masked and "1990" not in masked


def test_attack_citizen_id_and_phone_in_free_text():
    """A reason, a raw S3 key or a body that is not JSON quotes a person: still masked."""
    message, found = mask_message({"message_id": "m1", "error_code": "X",
                                   "error_message": f"row 3: citizen {CID} phone +84 912 345 678 refused",
                                   "body": f"incoming/001/F1/{CID}.csv"})
    text = json.dumps(message)
    assert CID not in text and "912 345 678" not in text and found == {CID}


def test_dlq_list_is_masked_by_default_and_logs_nothing():
    letters, log = FakeDeadLetters(), FakeAccessLog()
    letters.send("countersign", json.dumps({"citizen_id": CID}), "E", "failed")
    inspection = DeadLetterInspection(letters, PersonAccessLog(log, FakePseudonyms(), lambda: T0),
                                      FakeOperatorIdentity())
    [shown] = inspection.list("countersign", 10)
    assert CID not in json.dumps(shown) and log.entries == []


def test_dlq_reveal_is_logged_under_the_operator_and_each_citizen_before_it_is_shown():
    letters, log = FakeDeadLetters(), FakeAccessLog()
    letters.send("countersign", json.dumps({"citizen_id": CID}), "E", "failed")
    access = PersonAccessLog(log, FakePseudonyms(), lambda: T0)
    inspection = DeadLetterInspection(letters, access, FakeOperatorIdentity("arn:aws:iam::1:user/op"))
    [shown] = inspection.list("countersign", 10, reveal=True)
    assert CID in shown["body"]
    [entry] = access.history(CID)
    assert entry.reader == Reader("operator", "arn:aws:iam::1:user/op", "")
    assert entry.route == "cli dlq list countersign --reveal" and entry.people[0].keys == ("m0",)
    log.down = True  # a reveal that cannot be logged shows nothing
    with pytest.raises(Exception, match="access log"):
        inspection.list("countersign", 10, reveal=True)


# -- the access-log service -----------------------------------------------------------------------
def test_a_read_is_logged_by_pseudonym_never_by_citizen_id():
    log = FakeAccessLog()
    access = PersonAccessLog(log, FakePseudonyms(), lambda: T0)
    access.shown(Reader("facility", "s1", "F1"), "GET /v1/facilities/{facility_id}/complaints",
                 {CID: ["C1", "C2"], "001090099999": ["C3"]})
    assert len(log.entries) == 1  # one write request per read, whatever the number of people
    assert CID not in repr(log.entries)
    assert access.mine(CID) == {"accesses": [{"at": T0.isoformat(), "role": "facility", "scope": "F1",
                                              "route": "GET /v1/facilities/{facility_id}/complaints",
                                              "keys": ["C1", "C2"]}], "next_before": None}
    assert access.mine("001090011111") == {"accesses": [], "next_before": None}


def test_attack_flood_a_citizens_access_log_so_they_cannot_read_it():
    """A reader who reads someone's record thousands of times must not push the citizen's own view
    past Lambda's response limit: it is paged, newest first, and every entry is reachable."""
    from datetime import timedelta

    from chalicelib.access.service import MINE_PAGE

    log = FakeAccessLog()
    access = PersonAccessLog(log, FakePseudonyms(), lambda: T0)
    reads = 2 * MINE_PAGE + 7
    for n in range(reads):
        log.record_read(AccessEntry(Reader("facility", "s1", "F1"), "F1", f"R{n}", T0 + timedelta(seconds=n),
                                    "GET /v1/vaccination-records/{record_id}",
                                    (Disclosure(FakePseudonyms().pseudonym(CID), (f"F1#R{n}",)),)))
    seen, before = [], None
    while True:
        page = access.mine(CID, before=before)
        assert len(page["accesses"]) <= MINE_PAGE
        seen += page["accesses"]
        if page["next_before"] is None:
            break
        before = datetime.fromisoformat(page["next_before"])
    assert len(seen) == reads and seen[0]["keys"] == [f"F1#R{reads - 1}"] and seen[-1]["keys"] == ["F1#R0"]


# -- item 7: dev authentication refused outside local and test --------------------------------------
@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_attack_file_jwks_outside_local_and_test_is_a_startup_error(stage):
    with pytest.raises(SettingsError, match="VAXPASS_JWKS_URL"):
        Settings.from_env({"VAXPASS_STAGE": stage, "VAXPASS_JWKS_URL": "FILE:///tmp/jwks.json"})


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_attack_dev_issuer_key_outside_local_and_test_is_a_startup_error(stage):
    with pytest.raises(SettingsError, match="VAXPASS_DEV_JWT_KEY_FILE"):
        Settings.from_env({"VAXPASS_STAGE": stage, "VAXPASS_JWKS_URL": "https://id.example/jwks.json",
                           "VAXPASS_DEV_JWT_KEY_FILE": "/tmp/key.pem"})


def test_dev_authentication_is_accepted_in_local_and_test_and_https_everywhere():
    for stage in ("local", "test"):
        Settings.from_env({"VAXPASS_STAGE": stage, "VAXPASS_JWKS_URL": "file:///tmp/jwks.json",
                           "VAXPASS_DEV_JWT_KEY_FILE": "/tmp/key.pem"})
    Settings.from_env({"VAXPASS_STAGE": "prod", "VAXPASS_JWKS_URL": "https://id.example/jwks.json"})


def test_attack_dev_issuer_cli_mints_in_prod(monkeypatch, capsys):
    from chalicelib.cli import main
    from chalicelib.wiring import Container, set_container

    set_container(Container(Settings(stage="prod")))
    try:
        assert main(["token", "staff", "--role", "operator"]) == 2
    finally:
        set_container(None)
    err = capsys.readouterr()
    assert "VAXPASS_STAGE" in err.err and err.out == ""


# -- the rendered template and policies -------------------------------------------------------------
def test_every_queue_and_dlq_is_encrypted_with_the_data_key_in_the_template():
    res = cloudformation.resources("vaxpass-dev")
    queues = {k: v["Properties"] for k, v in res.items() if v["Type"] == "AWS::SQS::Queue"}
    assert len(queues) == 2 * len(spec.QUEUES)
    assert all(p["KmsMasterKeyId"] == {"Ref": "DataKey"} and "SqsManagedSseEnabled" not in p for p in queues.values())
    statements = res["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert any(st["Principal"] == {"Service": "s3.amazonaws.com"} for st in statements)
    # Every function sends to or receives from a queue, so each holds the data key's two actions.
    for fn in spec.FUNCTIONS:
        assert any(g.kind == "key" and g.logical == "data" and {"kms:Decrypt", "kms:GenerateDataKey"} <= set(g.actions)
                   for g in fn.grants), fn.name


def test_the_internet_facing_function_holds_no_grant_on_the_registry():
    api = next(f for f in spec.FUNCTIONS if f.name == "api_handler")
    assert not [g for g in api.grants if g.kind == "table" and g.logical == "registry"]
    policy = json.dumps(cloudformation.policy(api, "vaxpass-dev"))
    assert "vaxpass-dev-registry" not in policy


def test_the_access_log_is_append_only_for_every_function():
    for fn in spec.FUNCTIONS:
        for g in fn.grants:
            if g.kind == "table" and g.logical == "access":
                assert not {"dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:BatchWriteItem"} & set(g.actions)


def test_retention_expires_idempotency_records_and_access_logs_by_ttl():
    ttl = {t.logical: t.ttl_attribute for t in spec.TABLES}
    assert ttl["access"] and ttl["batches"] and ttl["complaints"] and ttl["idempotency"]
    res = cloudformation.resources("vaxpass-dev")
    for logical in ("access", "batches", "complaints", "idempotency"):
        table = res[cloudformation.logical_id(logical, "table")]["Properties"]
        assert table["TimeToLiveSpecification"] == {"AttributeName": ttl[logical], "Enabled": True}
    assert all(q.dlq_retention_s <= 14 * 86400 for q in spec.QUEUES)  # SQS's maximum: DLQs do expire
    with pytest.raises(SettingsError, match="VAXPASS_IDEMPOTENCY_RETENTION_DAYS"):
        Settings.from_env({"VAXPASS_IDEMPOTENCY_RETENTION_DAYS": "0"})


def test_access_log_citizen_with_a_malformed_id_is_one_line_that_does_not_echo_it(capsys):
    from chalicelib.cli import main

    assert main(["access-log", "--citizen", "00109001234X"]) == 2
    err = capsys.readouterr().err
    assert "--citizen: not a 12-digit citizen id" in err and "00109001234X" not in err


def test_attack_personal_data_as_json_numbers_and_dcc_name_fields_is_masked():
    body = json.dumps({"citizen": 1090012345, "payload": {"nam": {"fn": "Nguyễn", "gn": "Văn An", "fnt": "NGUYEN"},
                                                           "dob": "1990-05-17"}, "count": 3})
    masked, found = mask_body(body)
    assert "1090012345" not in masked and "Nguy" not in masked and "NGUYEN" not in masked and "1990" not in masked
    assert json.loads(masked)["count"] == 3 and "1090012345" in found
