"""Every error kind of the synthetic generator, one at a time, against a small registry."""
import unicodedata
from datetime import date

import pytest

from chalicelib.cleaning import InMemoryRegistry, Matcher, Outcome, blocking_keys, query_keys
from chalicelib.cleaning.service import clean_row
from chalicelib.intake.records import RegistryPerson, validate_row

TODAY = date(2023, 1, 1)
HOA = RegistryPerson("001085012345", "Đặng Văn Hòa", date(1985, 3, 12), "M", "001")
PEOPLE = [
    HOA,
    # Distractors sharing blocking keys with HOA: same family and date, other names.
    RegistryPerson("001085099999", "Đặng Văn Hùng", date(1985, 3, 12), "M", "001"),
    RegistryPerson("001185000001", "Đặng Thị Hoa", date(1985, 3, 12), "F", "001"),
    RegistryPerson("079190000002", "Nguyễn Văn Hưng", date(1990, 5, 5), "M", "079"),
    RegistryPerson("079190000003", "Nguyễn Văn Hùng", date(1990, 5, 5), "M", "079"),
    RegistryPerson("048075000004", "Trần Thị Lan", date(1975, 7, 20), "F", "048"),
]


@pytest.fixture(scope="module")
def matcher():
    return Matcher(InMemoryRegistry(PEOPLE))


def record(**changes):
    row = {"record_id": "R1", "facility_id": "001-F001", "citizen_id": HOA.citizen_id,
           "full_name": HOA.full_name, "date_of_birth": "12/03/1985", "sex": "M",
           "province_code": "001", "vaccine_product": "Pfizer", "dose_number": "1",
           "vaccination_date": "2021-08-01"}
    row.update(changes)
    rec = validate_row(row, row_number=2, today=TODAY)
    assert not isinstance(rec, list), rec
    return rec


N = "full_name"
CASES = {
    # kind: (changes, outcome, mismatched fields, suggestion). A registry value is suggested only
    # for a near miss of a typed value while every other typed field agrees (cleaning/disclosure.py).
    "none": ({}, Outcome.VERIFIED, (), {}),
    "nfd": ({"full_name": unicodedata.normalize("NFD", "Đặng Văn Hòa")},
            Outcome.VERIFIED_NORMALIZED, (), {N: "Đặng Văn Hòa"}),
    "tone_placement": ({"full_name": "Đặng Văn Hoà"}, Outcome.VERIFIED_NORMALIZED, (), {N: "Đặng Văn Hòa"}),
    "upper_case": ({"full_name": "ĐẶNG VĂN HÒA"}, Outcome.VERIFIED_NORMALIZED, (), {N: "Đặng Văn Hòa"}),
    "extra_spaces": ({"full_name": "  Đặng   Văn Hòa "}, Outcome.VERIFIED_NORMALIZED, (), {N: "Đặng Văn Hòa"}),
    "missing_diacritics": ({"full_name": "Dang Van Hoa"}, Outcome.MISMATCH, (N,), {N: "Đặng Văn Hòa"}),
    "wrong_diacritics": ({"full_name": "Đặng Văn Hóa"}, Outcome.MISMATCH, (N,), {N: "Đặng Văn Hòa"}),
    "dj_as_d": ({"full_name": "Dặng Văn Hòa"}, Outcome.MISMATCH, (N,), {N: "Đặng Văn Hòa"}),
    "swapped_names": ({"full_name": "Văn Hòa Đặng"}, Outcome.MISMATCH, (N,), {N: "Đặng Văn Hòa"}),
    "typo": ({"full_name": "Đặng Văn Hòw"}, Outcome.MISMATCH, (N,), {N: "Đặng Văn Hòa"}),
    "a_slip_in_two_words": ({"full_name": "Đặnh Văn Hòw"}, Outcome.MISMATCH, (N,), {N: "Đặng Văn Hòa"}),
    "day_month_swapped": ({"date_of_birth": "03/12/1985"}, Outcome.MISMATCH, ("date_of_birth",),
                          {"date_of_birth": "1985-03-12"}),
    "dob_one_digit": ({"date_of_birth": "12/03/1986"}, Outcome.MISMATCH, ("date_of_birth",),
                      {"date_of_birth": "1985-03-12"}),
    "wrong_id_digit": ({"citizen_id": "001085012845"}, Outcome.MISMATCH, ("citizen_id",),
                       {"citizen_id": HOA.citizen_id}),
    "id_digits_swapped": ({"citizen_id": "001085013245"}, Outcome.MISMATCH, ("citizen_id",),
                          {"citizen_id": HOA.citizen_id}),
    "wrong_sex": ({"sex": "Nữ"}, Outcome.MISMATCH, ("sex",), {"sex": "M"}),
    # A value left out is not a near miss: the registry's is never filled in.
    "year_only": ({"date_of_birth": "1985"}, Outcome.MISMATCH, ("date_of_birth",), {}),
    "missing_id": ({"citizen_id": ""}, Outcome.MISMATCH, ("citizen_id",), {}),
    # Two errors at once: each suggestion needs every other typed field to agree. A missing id is
    # not typed, so the name is still suggested; a wrong digit next to a year-only date is not.
    "missing_id+missing_diacritics": ({"citizen_id": "", "full_name": "DANG VAN HOA"}, Outcome.MISMATCH,
                                      ("citizen_id", N), {N: "Đặng Văn Hòa"}),
    "wrong_id_digit+year_only": ({"citizen_id": "001085012346", "date_of_birth": "1985"}, Outcome.MISMATCH,
                                 ("citizen_id", "date_of_birth"), {}),
    "missing_diacritics+day_month_swapped": ({"full_name": "Dang Van Hoa", "date_of_birth": "03/12/1985"},
                                             Outcome.MISMATCH, (N, "date_of_birth"), {}),
}


@pytest.mark.parametrize("kind", CASES)
def test_each_error_kind_gives_the_expected_outcome_and_suggestion(matcher, kind):
    changes, outcome, mismatched, suggestion = CASES[kind]
    result = matcher.clean(record(**changes))
    assert result.outcome is outcome, result.explanation
    assert result.matched_citizen_id == HOA.citizen_id  # the engine's own answer, never shown as such
    assert result.suggestion == suggestion
    assert set(result.mismatched_fields) == set(mismatched)
    assert 0.9 <= result.confidence <= 1.0
    assert result.explanation


def test_a_person_absent_from_the_registry_is_not_found(matcher):
    result = matcher.clean(record(citizen_id="052192123456", full_name="Phạm Minh Tuấn",
                                  date_of_birth="1992-11-30"))
    assert result.outcome is Outcome.NOT_FOUND
    assert result.matched_citizen_id is None and result.suggestion == {}
    assert "not in the registry" in result.explanation


def test_absent_person_with_an_id_is_not_matched_to_a_namesake(matcher):
    # Same name and birth date as a registry person, but their own (unknown) id.
    result = matcher.clean(record(citizen_id="048075123987", full_name="Trần Thị Lan",
                                  date_of_birth="1975-07-20", sex="F"))
    assert result.outcome is Outcome.NOT_FOUND
    assert [c.citizen_id for c in result.candidates] == ["048075000004"]


def test_hung_and_hung_are_not_merged_on_diacritics_alone(matcher):
    # Registry has Hưng and Hùng born the same day; a record typed without diacritics fits both.
    ambiguous = matcher.clean(record(citizen_id="", full_name="Nguyen Van Hung",
                                     date_of_birth="1990-05-05"))
    assert ambiguous.outcome is Outcome.AMBIGUOUS
    assert {c.citizen_id for c in ambiguous.candidates} == {"079190000002", "079190000003"}
    # With diacritics the name decides, and the other is not proposed.
    exact = matcher.clean(record(citizen_id="", full_name="Nguyễn Văn Hùng", date_of_birth="1990-05-05"))
    assert exact.matched_citizen_id == "079190000003"


def test_a_different_diacritic_without_id_is_not_enough(matcher):
    only_hung = Matcher(InMemoryRegistry([PEOPLE[3]]))  # just Hưng
    result = only_hung.clean(record(citizen_id="", full_name="Nguyễn Văn Hùng", date_of_birth="1990-05-05"))
    assert result.outcome is Outcome.NOT_FOUND


def test_child_vaccinated_under_a_parents_id_is_not_matched_to_the_parent(matcher):
    result = matcher.clean(record(full_name="Đặng Minh Khôi", date_of_birth="2012-06-01"))
    assert result.outcome is Outcome.NOT_FOUND
    assert "belongs to a registry person" in result.explanation


def test_the_engine_does_not_change_the_record(matcher):
    rec = record(full_name="Dang Van Hoa", citizen_id="")
    before = (rec.full_name, rec.citizen_id, dict(rec.original))
    matcher.clean(rec)
    assert (rec.full_name, rec.citizen_id, dict(rec.original)) == before


def test_invalid_rows_become_invalid_results(matcher):
    result = clean_row(matcher, 9, {"record_id": "R9", "full_name": ""}, today=TODAY)
    assert result.outcome is Outcome.INVALID
    assert {e.field for e in result.errors} >= {"full_name", "date_of_birth"}
    assert result.to_dict()["errors"][0]["row_number"] == 9


def test_blocking_keys_survive_a_typo_with_a_missing_id():
    person = blocking_keys(HOA.full_name, HOA.date_of_birth)
    typed = query_keys(record(citizen_id="", full_name="Đặng Văn Hòw"))
    assert set(person) & set(typed)


def test_blocking_keys_survive_swapped_day_and_month_with_a_typo():
    person = blocking_keys(HOA.full_name, HOA.date_of_birth)
    typed = query_keys(record(citizen_id="", full_name="Đặng Văn Hòa", date_of_birth="03/12/1985"))
    assert set(person) & set(typed)


def test_result_serialises_to_the_cli_contract(matcher):
    d = matcher.clean(record(citizen_id="")).to_dict()
    assert set(d) >= {"record_id", "outcome", "matched_citizen_id", "confidence",
                      "mismatched_fields", "suggestion", "candidates"}
    assert d["outcome"] == "MISMATCH"
