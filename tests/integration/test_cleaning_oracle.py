"""Cleaning is not a lookup service for the population registry (issue 10, section 5), through the
real routes on LocalStack with the cleaning worker run by the event runner.

A facility submits records about registry people it half knows and reads the results back: it
gets the registry's value only for a near miss of what it typed (and can accept it), never a name
it did not nearly type, never a citizen id it did not nearly type, never candidates' data; every
read is in the access log; and it cannot submit faster than its rate."""
from __future__ import annotations

import dataclasses
import json
import math
import random
import uuid
from datetime import date, datetime, timezone

import pytest

from chalicelib.auth import dev_issuer
from chalicelib.auth.principal import Role
from chalicelib.identity.names import fold_token
from chalicelib.intake.records import RegistryPerson

pytestmark = pytest.mark.integration

PROVINCE = "001"


def _person(rng: random.Random, name: str, sex: str, born: date) -> RegistryPerson:
    g = (0 if born.year < 2000 else 2) + (1 if sex == "F" else 0)
    cid = f"{PROVINCE}{g}{born.year % 100:02d}{rng.randrange(10**6):06d}"
    return RegistryPerson(cid, name, born, sex, PROVINCE)


def _record(record_id: str, person: RegistryPerson | None = None, **typed) -> dict:
    row = {"record_id": record_id, "province_code": PROVINCE, "vaccine_product": "Pfizer", "dose_number": "1",
           "vaccination_date": "2021-09-01"}
    if person is not None:
        row.update(citizen_id=person.citizen_id, full_name=person.full_name,
                   date_of_birth=person.date_of_birth.isoformat(), sex=person.sex)
    row.update(typed)
    return row


def _register_facilities(settings, *facilities: str) -> None:
    from chalicelib.wiring import Container

    now = datetime.now(timezone.utc)
    for f in facilities:
        Container(settings).facilities.register_facility(facility_id=f, name=f"TYT {f}", province=PROVINCE,
                                                         head="BS. Test", certificate_pem=None, now=now)


@pytest.fixture(scope="module")
def world(stack, tmp_path_factory):
    """Registry people (dates and names chosen not to meet other tests' people) and one facility."""
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.cleaning.registry_dynamo import DynamoRegistry

    settings, _ = stack
    unique = uuid.uuid4().hex[:8]
    rng = random.Random(unique)
    year = rng.randrange(1931, 1946)
    people = {
        "diep": _person(rng, "Khổng Thị Ngọc Diệp", "F", date(year, 7, 23)),
        "khiem": _person(rng, "Lạc Văn Khiêm", "M", date(year, 4, 9)),  # day <= 12: can be swapped
        "triet": _person(rng, "Âu Minh Triết", "M", date(year, 11, 2)),
        "hung": _person(rng, "Quách Văn Hưng", "M", date(year, 6, 17)),
        "hung2": _person(rng, "Quách Văn Hùng", "M", date(year, 6, 17)),  # the same day: Hưng or Hùng?
    }
    assert len({p.citizen_id for p in people.values()}) == len(people)
    DynamoRegistry(Tables(settings)).import_people(people.values())
    facility = f"FO{unique}"
    _register_facilities(settings, facility)
    return {"people": people, "facility": facility, "unique": unique}


def _as_facility(bearer, facility: str) -> dict:
    return {"Content-Type": "application/json",
            **bearer(dev_issuer.staff(Role.FACILITY, facility_id=facility, province_code=PROVINCE))}


def _submit(app_client, headers: dict, records: list[dict], key: str):
    return app_client.http.post("/v1/vaccination-records", headers={**headers, "Idempotency-Key": key},
                                body=json.dumps({"records": records}, ensure_ascii=False))


def _submit_and_clean(app_client, runner, headers, records, key) -> None:
    resp = _submit(app_client, headers, records, key)
    assert resp.status_code == 200, resp.body
    assert json.loads(resp.body)["accepted"] == len(records), resp.body
    runner.drain(idle_rounds=1, max_seconds=30)


def _read(app_client, headers, record_id: str) -> tuple[dict, str]:
    resp = app_client.http.get(f"/v1/vaccination-records/{record_id}", headers=headers)
    assert resp.status_code == 200, resp.body
    text = resp.body.decode() if isinstance(resp.body, bytes) else resp.body
    view = json.loads(text)
    assert view["state"] != "PENDING", "the cleaning worker did not run"
    return view, json.dumps(view, ensure_ascii=False)  # escapes undone: "Đ" is searched as itself


def _name_leaks(text: str, person: RegistryPerson, typed_name: str) -> set[str]:
    """Words of the person's registry name (diacritics folded) in `text` that were not typed."""
    words = {fold_token(w.strip('":,;.()[]{}')) for w in text.split()}
    mine = {fold_token(w) for w in typed_name.split()}
    return {w for w in (fold_token(t) for t in person.full_name.split()) if w not in mine and w in words}


def test_attack_registry_oracle_name_from_id_and_birth_date(app_client, runner, world, bearer):
    # Given a facility that knows someone's citizen id and date of birth, but not the name
    diep, facility = world["people"]["diep"], world["facility"]
    headers = _as_facility(bearer, facility)
    typed_name = "Trần Văn Bình"
    # When it submits them with a name that is not a near miss, and reads the result
    _submit_and_clean(app_client, runner, headers, [_record("OR-NAME", diep, full_name=typed_name)],
                      f"or-name-{world['unique']}")
    view, text = _read(app_client, headers, "OR-NAME")
    # Then the answer says the name differs, and nothing of the registry's name
    cleaning = view["cleaning"]
    assert cleaning["outcome"] == "MISMATCH" and cleaning["mismatched_fields"] == ["full_name"]
    assert cleaning["suggestion"] == {}
    assert diep.full_name not in text and _name_leaks(text, diep, typed_name) == set()
    # and there is nothing to accept
    accept = app_client.http.post("/v1/vaccination-records/OR-NAME/corrections", headers=headers,
                                  body=json.dumps({"accept_suggestion": True}))
    assert accept.status_code == 409, accept.body


def test_attack_registry_oracle_ids_from_name_and_birth_year(app_client, runner, world, bearer):
    # Given a facility that knows a name and a birth year (or the whole date), but no citizen id
    people, facility = world["people"], world["facility"]
    diep = people["diep"]
    headers = _as_facility(bearer, facility)
    records = [
        _record("OR-YEAR", diep, citizen_id="", date_of_birth=str(diep.date_of_birth.year)),
        _record("OR-YEAR-UNACCENTED", diep, citizen_id="", full_name="Khong Thi Ngoc Diep",
                date_of_birth=str(diep.date_of_birth.year)),
        _record("OR-DATE", diep, citizen_id=""),
        _record("OR-DATE-UNACCENTED", diep, citizen_id="", full_name="Khong Thi Ngoc Diep"),
    ]
    # When it submits them and reads each result
    _submit_and_clean(app_client, runner, headers, records, f"or-ids-{world['unique']}")
    for r in records:
        view, text = _read(app_client, headers, r["record_id"])
        cleaning = view["cleaning"]
        # Then no citizen id of anyone in the registry comes back, in any field
        for person in people.values():
            assert person.citizen_id not in text, (r["record_id"], cleaning)
        assert cleaning["matched_citizen_id"] is None and "citizen_id" not in cleaning["suggestion"]
        assert "candidates" not in cleaning
        if r["date_of_birth"].isdigit():  # and a birth year does not become a birthday
            assert diep.date_of_birth.isoformat() not in text
    # A name typed without diacritics, with the whole date of birth, is a near miss: that much is
    # suggested, still without the id.
    view, _ = _read(app_client, headers, "OR-DATE-UNACCENTED")
    assert view["cleaning"]["suggestion"] == {"full_name": diep.full_name}


def test_attack_ambiguous_result_carries_a_count_only(app_client, runner, world, bearer):
    people, facility = world["people"], world["facility"]
    hung, hung2 = people["hung"], people["hung2"]
    headers = _as_facility(bearer, facility)
    _submit_and_clean(app_client, runner, headers,
                      [_record("OR-AMBIGUOUS", hung, citizen_id="", full_name="Quach Van Hung")],
                      f"or-amb-{world['unique']}")
    view, text = _read(app_client, headers, "OR-AMBIGUOUS")
    cleaning = view["cleaning"]
    assert cleaning["outcome"] == "AMBIGUOUS" and cleaning["candidate_count"] == 2
    assert "candidates" not in cleaning and cleaning["suggestion"] == {}
    for person in (hung, hung2):
        assert person.citizen_id not in text and person.full_name not in text


def test_near_misses_keep_their_suggestion_and_accepting_it_verifies(app_client, runner, world, bearer):
    people, facility = world["people"], world["facility"]
    diep, khiem, triet = people["diep"], people["khiem"], people["triet"]
    headers = _as_facility(bearer, facility)
    wrong_digit = diep.citizen_id[:-1] + str((int(diep.citizen_id[-1]) + 1) % 10)
    swapped = khiem.date_of_birth
    cases = {
        "NM-UNACCENTED": (_record("NM-UNACCENTED", triet, full_name="Au Minh Triet"),
                          {"full_name": triet.full_name}),
        "NM-SWAPPED": (_record("NM-SWAPPED", khiem,
                               date_of_birth=f"{swapped.month:02d}/{swapped.day:02d}/{swapped.year}"),
                       {"date_of_birth": khiem.date_of_birth.isoformat()}),
        "NM-DIGIT": (_record("NM-DIGIT", diep, citizen_id=wrong_digit), {"citizen_id": diep.citizen_id}),
    }
    _submit_and_clean(app_client, runner, headers, [r for r, _ in cases.values()], f"nm-{world['unique']}")
    for record_id, (_, suggestion) in cases.items():
        view, _ = _read(app_client, headers, record_id)
        assert view["state"] == "MISMATCH" and view["cleaning"]["suggestion"] == suggestion, view["cleaning"]
        resp = app_client.http.post(f"/v1/vaccination-records/{record_id}/corrections", headers=headers,
                                    body=json.dumps({"accept_suggestion": True}))
        assert resp.status_code == 200, resp.body
        assert json.loads(resp.body)["fields"] == sorted(suggestion)  # only what was suggested
    runner.drain(idle_rounds=1, max_seconds=30)
    for record_id, (_, suggestion) in cases.items():
        view, _ = _read(app_client, headers, record_id)
        assert view["version"] == 2 and view["state"] == "VERIFIED", view
        assert all(view["record"][f] == v for f, v in suggestion.items())


def test_each_read_of_a_cleaning_result_writes_an_access_log_entry(app_client, runner, world, bearer, capsys):
    from chalicelib.cli import main as cli
    from chalicelib.wiring import container

    facility = world["facility"]
    diep = world["people"]["diep"]
    _submit_and_clean(app_client, runner, _as_facility(bearer, facility), [_record("AL-1", diep)],
                      f"al-{world['unique']}")
    before = datetime.now(timezone.utc)
    # When the facility reads the result twice and its province once
    for _ in range(2):
        _read(app_client, _as_facility(bearer, facility), "AL-1")
    province = bearer(dev_issuer.staff(Role.PROVINCE, province_code=PROVINCE))
    assert app_client.http.get(f"/v1/vaccination-records/AL-1?facility_id={facility}",
                               headers=province).status_code == 200
    # and a caller out of scope is refused (a refusal shows nothing, so it logs no read)
    other = bearer(dev_issuer.staff(Role.PROVINCE, province_code="079"))
    assert app_client.http.get(f"/v1/vaccination-records/AL-1?facility_id={facility}",
                               headers=other).status_code == 403
    # Then each read is one entry, with who, which record and when, and no personal data
    entries = container().access_log.reads_of_record(facility, "AL-1", since=before)
    assert [(e.reader.role, e.reader.scope) for e in entries] == [
        ("facility", facility), ("facility", facility), ("province", PROVINCE)]
    assert all(e.reader.subject and e.at >= before for e in entries)
    # and an operator reads the log with the CLI, by record and by reader
    capsys.readouterr()
    assert cli(["access-log", "record", "--facility-id", facility, "--record-id", "AL-1"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3 and {"at", "role", "subject", "scope", "facility_id", "record_id", "route",
                                "people"} == set(lines[0])  # people: the record's citizen, by pseudonym
    assert diep.citizen_id not in json.dumps(lines) and "Diệp" not in json.dumps(lines, ensure_ascii=False)
    assert cli(["access-log", "reader", "--role", "facility", "--scope", facility,
                "--since", before.isoformat()]) == 0
    assert [json.loads(line)["record_id"] for line in capsys.readouterr().out.splitlines()] == ["AL-1", "AL-1"]
    # and bad input is a clear error, not a traceback
    assert cli(["access-log", "reader", "--role", "ministry"]) == 2
    assert "--subject" in capsys.readouterr().err


def test_attack_submission_flood_is_rate_limited_per_facility(stack, app_client, bearer):
    from chalicelib.wiring import Container, set_container

    settings, _ = stack
    unique = uuid.uuid4().hex[:8]
    flooder, neighbour = f"FL{unique}", f"NB{unique}"
    _register_facilities(settings, flooder, neighbour)
    frozen = datetime.now(timezone.utc)  # every call in one fixed window

    retry_after = str(max(1, math.ceil(60 - frozen.timestamp() % 60)))

    set_container(Container(dataclasses.replace(settings, records_per_minute=3), clock=lambda: frozen))
    people = [_record(f"RL-{i}", full_name="Ngô Thị Lan", citizen_id="", date_of_birth="1950-01-01",
                      sex="F") for i in range(5)]
    flood = _as_facility(bearer, flooder)
    # When a facility submits more records in a minute than its rate
    assert _submit(app_client, flood, people[:2], f"rl-1-{unique}").status_code == 200
    refused = _submit(app_client, flood, people[2:4], f"rl-2-{unique}")
    # Then the call is refused, saying when to come back, and nothing of it is stored
    assert refused.status_code == 429, refused.body
    assert refused.headers["Retry-After"] == retry_after
    assert json.loads(refused.body)["error"]["code"] == "RATE_LIMITED"
    missing = app_client.http.get("/v1/vaccination-records/RL-2", headers=flood)
    assert missing.status_code == 404
    # its corrections count against the same window
    assert _submit(app_client, flood, people[2:3], f"rl-3-{unique}").status_code == 200
    correction = app_client.http.post("/v1/vaccination-records/RL-0/corrections", headers=flood,
                                      body=json.dumps({"changes": {"phone": "0912345678"}}))
    assert correction.status_code == 429 and correction.headers["Retry-After"] == retry_after
    # and another facility submits at the same time, unaffected
    assert _submit(app_client, _as_facility(bearer, neighbour), people[:3], f"rl-4-{unique}").status_code == 200
