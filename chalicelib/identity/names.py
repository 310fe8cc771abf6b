"""Text normalisation for Vietnamese names.

Three levels of sameness matter when comparing a typed name with the registry:
- *form*: equal once Unicode form (NFC/NFD), tone-mark placement (Hoà/Hòa), case and spaces are
  ignored. Such differences are not errors; the name is the same name.
- *fold*: equal once all diacritics are dropped and Đ is read as D. This finds candidates, but it
  must never decide on its own: Hùng and Hưng are different names.
- anything else is a real difference (typo, other name).

The form key of a syllable keeps its letters with their vowel marks (â, ơ, ư ...) and moves the tone
mark to the end as a digit. A Vietnamese syllable carries exactly one tone, so letters + tone
identify it whatever vowel the writer put the mark on; this is why old and new placement compare
equal without a table of syllables.

Token-level results are cached: names are built from a few thousand distinct syllables, so the
caches stay small and nearly every lookup hits.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Combining tone marks (the five Vietnamese tones besides level): grave, acute, tilde, hook above,
# dot below. Other combining marks (circumflex, breve, horn) belong to the letter, not the tone.
_TONES = {"\u0300": "2", "\u0301": "1", "\u0303": "4", "\u0309": "3", "\u0323": "5"}


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def clean_spaces(text: str) -> str:
    """Collapses runs of any Unicode whitespace to one space and trims the ends."""
    return " ".join(text.split())


def normalise_name(text: str) -> str:
    """The stored form of a typed name: NFC and single spaces; case is kept as typed."""
    return clean_spaces(nfc(text))


@lru_cache(maxsize=65536)
def form_token(token: str) -> str:
    """Letters with vowel marks, lower case, tone moved to a trailing digit: 'Hoà' -> 'hoa2'."""
    decomposed = unicodedata.normalize("NFD", token.casefold())
    tone = ""
    letters = []
    for ch in decomposed:
        t = _TONES.get(ch)
        if t is None:
            letters.append(ch)
        else:
            tone = t
    return unicodedata.normalize("NFC", "".join(letters)) + tone


@lru_cache(maxsize=65536)
def fold_token(token: str) -> str:
    """Diacritics-free lower case ASCII-ish key: 'Đặng' -> 'dang'."""
    decomposed = unicodedata.normalize("NFD", token.casefold().replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True, slots=True)
class NameKeys:
    form: tuple[str, ...]
    fold: tuple[str, ...]
    # True when the name has any letter outside ASCII (a diacritic or Đ): a name typed entirely
    # without marks is a known input habit, a name with *other* marks is a different name.
    accented: bool


@lru_cache(maxsize=262144)
def name_keys(name: str) -> NameKeys:
    tokens = name.split()
    form = tuple(form_token(t) for t in tokens)
    fold = tuple(fold_token(t) for t in tokens)
    return NameKeys(form, fold, not name.isascii())


def fold_name(name: str) -> str:
    """Diacritics-free, lower case, single-spaced: the key used for blocking."""
    return " ".join(name_keys(name).fold)


def fold_text(text: str) -> str:
    """Fold any short free text (sex labels, vaccine names) for lookup tables."""
    return " ".join(fold_token(t) for t in text.split())
