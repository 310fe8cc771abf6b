"""What a facility may learn from cleaning: near misses are suggested back, nothing else of the
registry is (issue 10, section 5). The engine's full result is the offline CLI's; a facility only
ever sees `facility_view` of it."""
from __future__ import annotations

import json
from datetime import date

import pytest

from chalicelib.cleaning import InMemoryRegistry, Matcher, Outcome
from chalicelib.cleaning.disclosure import facility_view
from chalicelib.identity.names import fold_token
from chalicelib.intake.records import RegistryPerson, validate_row

TODAY = date(2023, 1, 1)
HOA = RegistryPerson("001085012345", "Đặng Văn Hòa", date(1985, 3, 12), "M", "001")
HUNG = RegistryPerson("079190000002", "Nguyễn Văn Hưng", date(1990, 5, 5), "M", "079")
HUNG2 = RegistryPerson("079190000003", "Nguyễn Văn Hùng", date(1990, 5, 5), "M", "079")
LAN = RegistryPerson("048075000004", "Trần Thị Lan", date(1975, 7, 20), "F", "048")
PEOPLE = [HOA, HUNG, HUNG2, LAN,
          RegistryPerson("001085099999", "Đặng Văn Hùng", date(1985, 3, 12), "M", "001")]


@pytest.fixture(scope="module")
def matcher():
    return Matcher(InMemoryRegistry(PEOPLE))


def shown(matcher, **changes) -> tuple[dict, str]:
    """What a facility is shown for a record of HOA with `changes`, and that view as text."""
    row = {"record_id": "R1", "facility_id": "F1", "citizen_id": HOA.citizen_id, "full_name": HOA.full_name,
           "date_of_birth": "12/03/1985", "sex": "M", "province_code": "001", "vaccine_product": "Pfizer",
           "dose_number": "1", "vaccination_date": "2021-08-01", **changes}
    rec = validate_row(row, row_number=2, today=TODAY)
    assert not isinstance(rec, list), rec
    view = facility_view(matcher.clean(rec).to_dict(), rec.canonical(), rec.original)
    return view, json.dumps(view, ensure_ascii=False)


def leaks(text: str, person: RegistryPerson, *, typed: dict) -> list[str]:
    """Values of `person` in `text` that the facility did not type itself."""
    folded = text.casefold()
    found = []
    if person.citizen_id in text and person.citizen_id != typed.get("citizen_id"):
        found.append("citizen_id")
    if person.date_of_birth.isoformat() in text:
        found.append("date_of_birth")
    name_tokens = {fold_token(t) for t in person.full_name.split()}
    typed_tokens = {fold_token(t) for t in typed.get("full_name", "").split()}
    words = {fold_token(w) for w in text.replace('"', " ").split()}
    if person.full_name.casefold() in folded or any(
            len(t) > 2 and t in words for t in name_tokens - typed_tokens):
        found.append("full_name")
    return found


def test_attack_registry_oracle_name_from_id_and_birth_date(matcher):
    # An id and a date of birth the caller knows, a name that is not a near miss: no name back.
    typed = {"full_name": "Trần Minh Tuấn"}
    view, text = shown(matcher, **typed)
    assert view["outcome"] == "MISMATCH" and view["mismatched_fields"] == ["full_name"]
    assert view["suggestion"] == {}
    assert leaks(text, HOA, typed={**typed, "citizen_id": HOA.citizen_id}) == []
    assert "candidates" not in view and "confidence" not in view


def test_attack_registry_oracle_ids_from_name_and_birth_year(matcher):
    # A name and a birth year, no id: no citizen id, and nothing else of the person.
    for typed in ({"citizen_id": "", "date_of_birth": "1985"},
                  {"citizen_id": "", "full_name": "Dang Van Hoa", "date_of_birth": "1985"},
                  {"citizen_id": "", "date_of_birth": "12/03/1985"}):  # even with the whole date
        view, text = shown(matcher, **typed)
        for person in PEOPLE:
            assert person.citizen_id not in text, (typed, view)
        assert view["matched_citizen_id"] is None and "citizen_id" not in view["suggestion"]
        assert "candidates" not in view
        if typed["date_of_birth"] == "1985":
            assert HOA.date_of_birth.isoformat() not in text


def test_attack_ambiguous_gives_a_count_and_no_candidates(matcher):
    view, text = shown(matcher, citizen_id="", full_name="Nguyen Van Hung", date_of_birth="1990-05-05")
    assert view["outcome"] == "AMBIGUOUS" and view["candidate_count"] == 2
    assert HUNG.citizen_id not in text and HUNG2.citizen_id not in text
    assert HUNG.full_name not in text and HUNG2.full_name not in text
    assert view["suggestion"] == {} and view["matched_citizen_id"] is None


def test_attack_a_near_miss_next_to_a_wrong_field_is_not_suggested(matcher):
    # The caller knows the id and nearly the name but not the date: neither is given away.
    view, text = shown(matcher, full_name="Dang Van Hoa", date_of_birth="1985-07-30")
    assert view["suggestion"] == {}
    assert set(view["mismatched_fields"]) >= {"full_name", "date_of_birth"}
    assert leaks(text, HOA, typed={"citizen_id": HOA.citizen_id, "full_name": "Dang Van Hoa"}) == []
    assert "diacritics" not in view["explanation"]  # not even how near the name was


def test_attack_the_outcome_does_not_grade_a_wrong_name(matcher):
    # With the id and the birth year only, a name merely "similar" to the registry's must answer
    # exactly like an unrelated one, or retries walk towards the real name.
    similar, _ = shown(matcher, full_name="Đặng Văn Hoàng Anh", date_of_birth="1985")
    unrelated, _ = shown(matcher, full_name="Trần Minh Tuấn", date_of_birth="1985")
    assert similar["outcome"] == unrelated["outcome"] == "NOT_FOUND"
    assert similar["mismatched_fields"] == unrelated["mismatched_fields"]
    assert similar["explanation"] == unrelated["explanation"]


def test_attack_the_outcome_does_not_grade_an_id_two_digits_away(matcher):
    # With the name and date of birth, an id two slips away must answer like any wrong id, or
    # retries find the id in a thousand guesses.
    two_slips, _ = shown(matcher, citizen_id="001085012399")
    wrong, _ = shown(matcher, citizen_id="001085076201")
    assert two_slips["outcome"] == wrong["outcome"] == "NOT_FOUND"
    assert two_slips["explanation"] == wrong["explanation"]
    assert HOA.citizen_id not in json.dumps(two_slips)


@pytest.mark.parametrize("changes,field,value", [
    ({"full_name": "Dang Van Hoa"}, "full_name", HOA.full_name),
    ({"full_name": "ĐẶNG VĂN HÒA"}, "full_name", HOA.full_name),
    ({"date_of_birth": "03/12/1985"}, "date_of_birth", "1985-03-12"),
    ({"date_of_birth": "12/03/1986"}, "date_of_birth", "1985-03-12"),
    ({"citizen_id": "001085012845"}, "citizen_id", HOA.citizen_id),
    ({"citizen_id": "001085013245"}, "citizen_id", HOA.citizen_id),
])
def test_a_near_miss_is_still_suggested_and_explained(matcher, changes, field, value):
    view, _ = shown(matcher, **changes)
    assert view["suggestion"] == {field: value}
    assert "suggested" in view["explanation"]
    if field == "citizen_id":
        assert view["matched_citizen_id"] == HOA.citizen_id  # nearly typed: that is the suggestion


def test_a_verified_record_shows_the_typed_id_as_matched(matcher):
    view, _ = shown(matcher)
    assert view["outcome"] == "VERIFIED" and view["matched_citizen_id"] == HOA.citizen_id
    assert view["explanation"] == "citizen id, name and date of birth agree with the registry"


def test_not_found_says_which_fields_differ_from_the_ids_holder_and_nothing_more(matcher):
    view, text = shown(matcher, full_name="Phạm Minh Tuấn", date_of_birth="1960-11-30")
    assert view["outcome"] == "NOT_FOUND"
    assert view["mismatched_fields"] == ["full_name", "date_of_birth"]
    assert "closest" not in view["explanation"] and leaks(text, HOA, typed={"citizen_id": HOA.citizen_id}) == []


def test_a_result_stored_before_these_rules_is_filtered_when_read():
    # The shape main stored: every mismatched registry value, the candidates, a confidence.
    data = {"citizen_id": "", "full_name": "Nguyen Van Hung", "date_of_birth": "1990",
            "sex": "M", "record_id": "R9"}
    stored = {"record_id": "R9", "outcome": "MISMATCH", "matched_citizen_id": HUNG.citizen_id,
              "confidence": 0.97, "mismatched_fields": ["citizen_id", "full_name", "date_of_birth"],
              "suggestion": {"citizen_id": HUNG.citizen_id, "full_name": HUNG.full_name,
                             "date_of_birth": "1990-05-05"},
              "candidates": [{"citizen_id": HUNG2.citizen_id, "score": 9.0}],
              "explanation": "closest registry person: Nguyễn Văn Hùng"}
    view = facility_view(stored, data, data)
    text = json.dumps(view, ensure_ascii=False)
    assert view["suggestion"] == {} and view["matched_citizen_id"] is None
    for secret in (HUNG.citizen_id, HUNG2.citizen_id, "1990-05-05", "Hùng", "Hưng", "0.97"):
        assert secret not in text
    ambiguous = facility_view({**stored, "outcome": "AMBIGUOUS", "suggestion": {}}, data, data)
    assert ambiguous["candidate_count"] == 1 and "candidates" not in ambiguous


def test_the_view_is_the_same_when_applied_again(matcher):
    row = {"record_id": "R1", "facility_id": "F1", "citizen_id": "", "full_name": "Dang Van Hoa",
           "date_of_birth": "1985-03-12", "sex": "M", "province_code": "001", "vaccine_product": "Pfizer",
           "dose_number": "1", "vaccination_date": "2021-08-01"}
    rec = validate_row(row, row_number=2, today=TODAY)
    once = facility_view(matcher.clean(rec).to_dict(), rec.canonical(), rec.original)
    assert once["suggestion"] == {"full_name": HOA.full_name}
    assert facility_view(once, rec.canonical(), rec.original) == once


def test_the_engine_result_keeps_what_the_offline_cli_needs(matcher):
    # The ministry's offline tool reads the registry file itself: its output is the engine's.
    row = {"record_id": "R1", "facility_id": "F1", "citizen_id": "", "full_name": "Nguyen Van Hung",
           "date_of_birth": "1990-05-05", "province_code": "079", "vaccine_product": "Pfizer",
           "dose_number": "1", "vaccination_date": "2021-08-01"}
    result = matcher.clean(validate_row(row, row_number=2, today=TODAY))
    assert result.outcome is Outcome.AMBIGUOUS and len(result.to_dict()["candidates"]) == 2
