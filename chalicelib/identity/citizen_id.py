"""Structure of the 12-digit citizen identity number (CCCD): `PPP G YY NNNNNN`.

G encodes century and sex (0/1 male/female 1900s, 2/3 2000s, 4/5 2100s, 8/9 1800s), YY the last
two digits of the birth year. An id whose G or YY contradicts a record's sex or birth year is a
strong hint that either the id or the personal data was mistyped.
"""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.identity.provinces import PROVINCES

# century base year for each even G digit; the odd digit after it is the female variant.
_CENTURY_BY_DIGIT = {0: 1900, 1: 1900, 2: 2000, 3: 2000, 4: 2100, 5: 2100, 8: 1800, 9: 1800}
_DIGIT_BY_CENTURY = {1900: 0, 2000: 2, 2100: 4, 1800: 8}


@dataclass(frozen=True, slots=True)
class CitizenId:
    value: str
    province_code: str
    sex: str  # "M" or "F"
    birth_year: int
    serial: str


def century_sex_digit(birth_year: int, sex: str) -> int:
    """The G digit for a birth year and sex ("M"/"F")."""
    base = _DIGIT_BY_CENTURY[(birth_year // 100) * 100]
    return base + (1 if sex == "F" else 0)


def parse_citizen_id(value: str) -> CitizenId | None:
    """Parses a 12-digit CCCD; None when it is not one (wrong length, unknown province or G)."""
    if len(value) != 12 or not value.isascii() or not value.isdigit():
        return None
    province = value[:3]
    g = int(value[3])
    if province not in PROVINCES or g not in _CENTURY_BY_DIGIT:
        return None
    year = _CENTURY_BY_DIGIT[g] + int(value[4:6])
    return CitizenId(value, province, "F" if g % 2 else "M", year, value[6:])


def id_consistency_problems(value: str, *, sex: str | None, birth_year: int | None) -> list[str]:
    """Which of `sex`/`birth_year` the id contradicts: a list of field names, empty if none.

    9-digit CMND numbers carry no such information and never contradict anything.
    """
    parsed = parse_citizen_id(value)
    if parsed is None:
        return []
    problems = []
    if sex and parsed.sex != sex:
        problems.append("sex")
    if birth_year is not None and parsed.birth_year != birth_year:
        problems.append("date_of_birth")
    return problems
