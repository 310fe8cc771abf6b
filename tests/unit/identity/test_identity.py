import unicodedata

import pytest

from chalicelib.identity import (
    PROVINCES, century_sex_digit, id_consistency_problems, normalise_province_code,
    parse_citizen_id,
)
from chalicelib.identity.names import fold_name, fold_token, form_token, name_keys, normalise_name


def test_there_are_63_provinces_with_three_digit_codes():
    assert len(PROVINCES) == 63
    assert all(len(c) == 3 and c.isdigit() for c in PROVINCES)
    assert PROVINCES["079"] == "Hồ Chí Minh City"


@pytest.mark.parametrize("typed,code", [("1", "001"), ("01", "001"), ("001", "001"), (" 79 ", "079")])
def test_province_codes_are_padded_to_three_digits(typed, code):
    assert normalise_province_code(typed) == code


@pytest.mark.parametrize("typed", ["003", "097", "abc", "1234", ""])
def test_unknown_province_codes_are_rejected(typed):
    assert normalise_province_code(typed) is None


@pytest.mark.parametrize("year,sex,digit", [(1985, "M", 0), (1985, "F", 1), (2005, "M", 2),
                                            (2005, "F", 3), (2101, "M", 4), (2101, "F", 5)])
def test_century_sex_digit(year, sex, digit):
    assert century_sex_digit(year, sex) == digit


def test_parse_citizen_id_reads_province_sex_and_year():
    cid = parse_citizen_id("079305001234")
    assert (cid.province_code, cid.sex, cid.birth_year, cid.serial) == ("079", "F", 2005, "001234")


@pytest.mark.parametrize("value", ["12345678", "079305001234x", "003085001234", "079685001234"])
def test_malformed_ids_do_not_parse(value):
    assert parse_citizen_id(value) is None


def test_id_structure_contradicting_sex_and_birth_year_is_reported():
    assert id_consistency_problems("001085012345", sex="M", birth_year=1985) == []
    assert id_consistency_problems("001085012345", sex="F", birth_year=1986) == ["sex", "date_of_birth"]
    assert id_consistency_problems("123456789", sex="F", birth_year=1986) == []


@pytest.mark.parametrize("old,new", [("Hoà", "Hòa"), ("Thuý", "Thúy"), ("Khoẻ", "Khỏe"),
                                     ("Thuỵ", "Thụy"), ("Hoè", "Hòe")])
def test_old_and_new_tone_placement_compare_equal(old, new):
    assert form_token(old) == form_token(new)


def test_nfd_and_nfc_compare_equal():
    name = "Nguyễn Thị Thủy"
    assert name_keys(unicodedata.normalize("NFD", name)).form == name_keys(name).form


def test_case_and_spaces_are_form_only():
    assert name_keys("  NGUYỄN   thị thủy ").form == name_keys("Nguyễn Thị Thủy").form
    assert normalise_name("  Nguyễn \t Thị  Thủy ") == "Nguyễn Thị Thủy"


@pytest.mark.parametrize("a,b", [("Hùng", "Hưng"), ("Lan", "Lân"), ("Thủy", "Thùy")])
def test_names_differing_in_diacritics_differ_in_form_but_share_a_fold(a, b):
    assert form_token(a) != form_token(b)
    assert fold_token(a) == fold_token(b)


def test_dj_is_a_letter_of_its_own_but_folds_to_d():
    assert form_token("Đặng") != form_token("Dặng")
    assert fold_name("Đặng Văn Đức") == "dang van duc"
