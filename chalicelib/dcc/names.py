"""Vietnamese personal names -> DCC `nam` object (fn, gn, fnt, gnt).

Vietnamese names are written family name first ("Nguyễn Thị Đào": family Nguyễn, middle Thị, given
Đào), so `fn` is the first word and `gn` the rest. The `fnt`/`gnt` fields follow ICAO Doc 9303
part 3: upper-case A-Z with `<` as the filler, so verifier apps and border systems can compare them
with a passport's machine-readable zone.
"""
from __future__ import annotations

import unicodedata

from chalicelib.dcc.errors import DccInputError

MAX_LEN = 80

# Letters that get their own transcription instead of losing their marks. Đ/đ is the one that
# matters for Vietnamese: NFD does not decompose it, so stripping marks alone would drop it. The
# others are ICAO 9303 part 3's recommended transcriptions for letters the name of a resident
# born abroad may contain (Ä, Å, Ö, Ü decompose under NFD, so they are looked up before it).
_SPECIAL = {
    "Đ": "D", "đ": "D", "Ð": "D", "Ø": "OE", "ø": "OE", "Æ": "AE", "æ": "AE", "Œ": "OE", "œ": "OE",
    "ß": "SS", "Þ": "TH", "þ": "TH", "Ł": "L", "ł": "L", "ı": "I", "Ħ": "H", "ħ": "H",
    "Ä": "AE", "ä": "AE", "Å": "AA", "å": "AA", "Ö": "OE", "ö": "OE", "Ü": "UE", "ü": "UE",
}
_FILLERS = {" ", "-", "\u00a0"}


def transliterate(text: str) -> str:
    """ICAO 9303 machine-readable form: diacritics stripped, A-Z only, spaces/hyphens as `<`."""
    out = []
    for composed in unicodedata.normalize("NFC", text):
        if composed in _SPECIAL:
            out.append(_SPECIAL[composed])
            continue
        for ch in unicodedata.normalize("NFD", composed):
            if ch in _FILLERS:
                out.append("<")
            elif unicodedata.combining(ch):
                continue  # the stripped diacritic (Vietnamese tone and vowel marks)
            else:
                up = ch.upper()
                if len(up) == 1 and "A" <= up <= "Z":
                    out.append(up)
                # Anything else (apostrophes, dots, digits) is omitted, as ICAO 9303 prescribes.
    return "".join(out)[:MAX_LEN]


def split_vietnamese_name(full_name: str) -> tuple[str, str]:
    """(family name, middle + given names) of an NFC-normalised, whitespace-collapsed name."""
    words = unicodedata.normalize("NFC", full_name).split()
    if not words:
        raise DccInputError("full name is empty")
    return words[0], " ".join(words[1:])


def person_name(full_name: str) -> dict:
    family, given = split_vietnamese_name(full_name)
    if len(family) > MAX_LEN or len(given) > MAX_LEN:
        raise DccInputError(f"name parts must be at most {MAX_LEN} characters")
    nam = {"fn": family, "fnt": transliterate(family)}
    if given:
        nam["gn"] = given
        nam["gnt"] = transliterate(given)
    if not nam["fnt"] or nam.get("gnt") == "":
        # The schema would take an empty fnt, but a border officer could match it to nothing.
        raise DccInputError("name has a part with no letters ICAO 9303 can transliterate; "
                            "record the name in Latin script")
    return nam
