"""Field comparisons between a typed record and a registry person.

Each comparison returns a *kind* (what sort of difference), not a number: the matcher weighs the
kinds, and the kinds are what the explanation and the per-error statistics speak about.
"""
from __future__ import annotations

from datetime import date
from enum import Enum

from rapidfuzz.distance import OSA, JaroWinkler

from chalicelib.identity.names import name_keys
from chalicelib.intake.records import BirthDate


class NameMatch(str, Enum):
    EXACT = "EXACT"  # same characters
    NORMALIZED = "NORMALIZED"  # same after NFC, tone placement, case, spaces
    D_FOR_DJ = "D_FOR_DJ"  # Đ typed as D, otherwise the same
    UNACCENTED = "UNACCENTED"  # typed without any diacritics, otherwise the same
    SWAPPED = "SWAPPED"  # same tokens in another order (family and given name swapped)
    SWAPPED_UNACCENTED = "SWAPPED_UNACCENTED"
    DIACRITIC_CONFLICT = "DIACRITIC_CONFLICT"  # different marks on the same letters: Hùng/Hưng
    TYPO = "TYPO"  # a letter slip (inserted, deleted, replaced, two swapped) in a word or two
    SIMILAR = "SIMILAR"
    DIFFERENT = "DIFFERENT"


class DateMatch(str, Enum):
    EXACT = "EXACT"
    DAY_MONTH_SWAPPED = "DAY_MONTH_SWAPPED"
    ONE_DIGIT = "ONE_DIGIT"
    YEAR_ONLY = "YEAR_ONLY"  # the record has only the year, and it agrees
    SAME_YEAR = "SAME_YEAR"
    DIFFERENT = "DIFFERENT"


class IdMatch(str, Enum):
    EQUAL = "EQUAL"
    ONE_EDIT = "ONE_EDIT"  # one digit wrong, or two adjacent digits swapped
    TWO_EDITS = "TWO_EDITS"  # two such slips: weak evidence, but not evidence against
    MISSING = "MISSING"
    OLD_CMND = "OLD_CMND"  # 9-digit card number: cannot be compared with a CCCD
    DIFFERENT = "DIFFERENT"


class SexMatch(str, Enum):
    EQUAL = "EQUAL"
    MISSING = "MISSING"
    DIFFERENT = "DIFFERENT"


SIMILAR_JARO_WINKLER = 0.9
# A typo is one letter slip per word, in at most this many words: a near miss that may be
# suggested back (chalicelib/cleaning/disclosure.py), so the ball around a guess stays small.
MAX_WORDS_WITH_A_SLIP = 2


def compare_names(typed: str, registered: str, *, typed_raw: str | None = None) -> NameMatch:
    """`typed` is the record's normalised name, `typed_raw` what was typed before normalising."""
    if (typed_raw if typed_raw is not None else typed) == registered:
        return NameMatch.EXACT
    t = name_keys(typed)
    r = name_keys(registered)
    if t.form == r.form:
        return NameMatch.NORMALIZED
    if t.fold == r.fold:
        if not t.accented:
            return NameMatch.UNACCENTED
        if tuple(f.replace("đ", "d") for f in t.form) == tuple(f.replace("đ", "d") for f in r.form):
            return NameMatch.D_FOR_DJ
        return NameMatch.DIACRITIC_CONFLICT
    if len(t.fold) == len(r.fold) and sorted(t.fold) == sorted(r.fold):
        if sorted(t.form) == sorted(r.form):
            return NameMatch.SWAPPED
        return NameMatch.SWAPPED_UNACCENTED if not t.accented else NameMatch.DIACRITIC_CONFLICT
    a = " ".join(t.fold)
    b = " ".join(r.fold)
    if _slips_per_word(t.fold, r.fold) or OSA.distance(a, b, score_cutoff=2) <= 1:
        return NameMatch.TYPO
    if JaroWinkler.similarity(a, b) >= SIMILAR_JARO_WINKLER:
        return NameMatch.SIMILAR
    return NameMatch.DIFFERENT


def _slips_per_word(typed: tuple[str, ...], registered: tuple[str, ...]) -> bool:
    if len(typed) != len(registered):
        return False
    slipped = 0
    for a, b in zip(typed, registered):
        if a != b:
            if OSA.distance(a, b, score_cutoff=1) > 1:
                return False
            slipped += 1
    return slipped <= MAX_WORDS_WITH_A_SLIP


def compare_dates(typed: BirthDate, registered: date) -> DateMatch:
    if typed.year_only:
        return DateMatch.YEAR_ONLY if typed.year == registered.year else DateMatch.DIFFERENT
    if typed.year == registered.year:
        if typed.month == registered.month and typed.day == registered.day:
            return DateMatch.EXACT
        if typed.month == registered.day and typed.day == registered.month:
            return DateMatch.DAY_MONTH_SWAPPED
    a = f"{typed.year:04d}{typed.month:02d}{typed.day:02d}"
    b = f"{registered.year:04d}{registered.month:02d}{registered.day:02d}"
    if sum(x != y for x, y in zip(a, b)) == 1:
        return DateMatch.ONE_DIGIT
    return DateMatch.SAME_YEAR if typed.year == registered.year else DateMatch.DIFFERENT


def compare_ids(typed: str, registered: str) -> IdMatch:
    if not typed:
        return IdMatch.MISSING
    if typed == registered:
        return IdMatch.EQUAL
    if len(typed) == 9:
        return IdMatch.OLD_CMND
    if len(typed) == len(registered):
        edits = OSA.distance(typed, registered, score_cutoff=3)
        if edits == 1:
            return IdMatch.ONE_EDIT
        if edits == 2:
            return IdMatch.TWO_EDITS
    return IdMatch.DIFFERENT


def compare_sex(typed: str, registered: str) -> SexMatch:
    if not typed:
        return SexMatch.MISSING
    return SexMatch.EQUAL if typed == registered else SexMatch.DIFFERENT
