import unicodedata
from datetime import date

import pytest

from chalicelib.cleaning.compare import (
    DateMatch, IdMatch, NameMatch, compare_dates, compare_ids, compare_names,
)
from chalicelib.intake.records import BirthDate


@pytest.mark.parametrize("typed,registered,kind", [
    ("Lê Thị Hòa", "Lê Thị Hòa", NameMatch.EXACT),
    (unicodedata.normalize("NFD", "Lê Thị Hòa"), "Lê Thị Hòa", NameMatch.NORMALIZED),
    ("Lê Thị Hoà", "Lê Thị Hòa", NameMatch.NORMALIZED),
    ("LÊ THỊ HÒA", "Lê Thị Hòa", NameMatch.NORMALIZED),
    ("Le Thi Hoa", "Lê Thị Hòa", NameMatch.UNACCENTED),
    ("Dỗ Văn Hòa", "Đỗ Văn Hòa", NameMatch.D_FOR_DJ),
    ("Thị Hòa Lê", "Lê Thị Hòa", NameMatch.SWAPPED),
    ("Hoa Le Thi", "Lê Thị Hòa", NameMatch.SWAPPED_UNACCENTED),
    ("Nguyễn Văn Hùng", "Nguyễn Văn Hưng", NameMatch.DIACRITIC_CONFLICT),
    ("Nguyễn Văn Hùnh", "Nguyễn Văn Hùng", NameMatch.TYPO),
    ("Nguyễn Vn Hùng", "Nguyễn Văn Hùng", NameMatch.TYPO),
    ("Nguyễn Văn Hùng", "Trần Thị Lan", NameMatch.DIFFERENT),
])
def test_name_kinds(typed, registered, kind):
    assert compare_names(typed, registered) is kind


def test_exact_means_the_same_characters_as_typed():
    assert compare_names("Lê Thị Hòa", "Lê Thị Hòa", typed_raw=" Lê Thị Hòa") is NameMatch.NORMALIZED


@pytest.mark.parametrize("typed,kind", [
    (BirthDate(1985, 3, 12), DateMatch.EXACT),
    (BirthDate(1985, 12, 3), DateMatch.DAY_MONTH_SWAPPED),
    (BirthDate(1985), DateMatch.YEAR_ONLY),
    (BirthDate(1986), DateMatch.DIFFERENT),
    (BirthDate(1985, 3, 13), DateMatch.ONE_DIGIT),
    (BirthDate(1995, 3, 12), DateMatch.ONE_DIGIT),
    (BirthDate(1985, 7, 30), DateMatch.SAME_YEAR),
    (BirthDate(1990, 7, 30), DateMatch.DIFFERENT),
])
def test_date_kinds(typed, kind):
    assert compare_dates(typed, date(1985, 3, 12)) is kind


@pytest.mark.parametrize("typed,kind", [
    ("001085012345", IdMatch.EQUAL), ("001085012346", IdMatch.ONE_EDIT),
    ("001085013245", IdMatch.ONE_EDIT), ("", IdMatch.MISSING), ("123456789", IdMatch.OLD_CMND),
    ("001085013246", IdMatch.TWO_EDITS), ("079190999999", IdMatch.DIFFERENT),
])
def test_id_kinds(typed, kind):
    assert compare_ids(typed, "001085012345") is kind
