"""Deterministic synthetic registry + dirty vaccination records + ground truth.

Used by tests, the benchmark and demos; never by production code. One `random.Random(seed)` drives
everything, and nothing iterates a set or dict whose order depends on hashing, so a seed always
gives the same files.
"""
from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate

from chalicelib.identity import PROVINCES, century_sex_digit
from chalicelib.synth import names as N

ERROR_KINDS = (
    "missing_diacritics", "wrong_diacritics", "nfd", "tone_placement", "dj_as_d", "upper_case",
    "extra_spaces", "swapped_names", "typo", "day_month_swapped", "year_only", "wrong_id_digit",
    "id_digits_swapped", "missing_id", "wrong_sex",
)
ABSENT = "absent"

_PROVINCE_CODES = tuple(PROVINCES)
_PRODUCTS = (("AstraZeneca", 30), ("Pfizer", 25), ("Vero Cell", 22), ("Moderna", 10),
             ("EU/1/20/1528", 3), ("Abdala", 4), ("Sputnik V", 3), ("Hayat-Vax", 1),
             ("Janssen", 1), ("Covaxin", 1))
_FIRST_VACCINATION = date(2021, 3, 8)
_LAST_VACCINATION = date(2022, 12, 31)
_TONES = "\u0300\u0301\u0303\u0309\u0323"
_VOWEL_FORMS = {
    "a": "aàáảãạăằắẳẵặâầấẩẫậ", "e": "eèéẻẽẹêềếểễệ", "i": "iìíỉĩị",
    "o": "oòóỏõọôồốổỗộơờớởỡợ", "u": "uùúủũụưừứửữự", "y": "yỳýỷỹỵ",
}
_VOWEL_BASE = {ch: base for base, forms in _VOWEL_FORMS.items() for ch in forms}


@dataclass(slots=True)
class Person:
    citizen_id: str
    full_name: str
    date_of_birth: date
    sex: str
    province_code: str


@dataclass(slots=True)
class DirtyRecord:
    row: dict[str, str]
    true_citizen_id: str  # "" when the person is absent from the registry
    error_kinds: list[str] = field(default_factory=list)


class Generator:
    def __init__(self, seed: int, *, facilities: int = 20) -> None:
        """`facilities`: how many facilities of a province give its doses (the demo gives one
        facility a thousand people to sign at once)."""
        self.rng = random.Random(seed)
        self._facilities = facilities
        self._ids: set[str] = set()
        fam_names = [n for n, _ in N.FAMILY_NAMES] + list(N.OTHER_FAMILY_NAMES)
        rest = max(0.0, 100.0 - sum(w for _, w in N.FAMILY_NAMES)) / len(N.OTHER_FAMILY_NAMES)
        fam_weights = [w for _, w in N.FAMILY_NAMES] + [rest] * len(N.OTHER_FAMILY_NAMES)
        self._families = fam_names
        self._family_cum = list(accumulate(fam_weights))
        self._products = [p for p, _ in _PRODUCTS]
        self._product_cum = list(accumulate(w for _, w in _PRODUCTS))

    # -- people ----------------------------------------------------------------------------------
    def _name(self, sex: str, birth_year: int) -> str:
        rng = self.rng
        family = rng.choices(self._families, cum_weights=self._family_cum)[0]
        # Văn/Thị dominate older generations and fade in younger ones.
        classic = 0.7 if birth_year < 1980 else 0.4 if birth_year < 2000 else 0.15
        middles: list[str] = []
        r = rng.random()
        if r < classic:
            middles.append("Văn" if sex == "M" else "Thị")
        elif r < 0.95:
            middles.append(rng.choice(N.MALE_MIDDLE if sex == "M" else N.FEMALE_MIDDLE))
        if middles and rng.random() < 0.12:
            second = rng.choice(N.MALE_MIDDLE if sex == "M" else N.FEMALE_MIDDLE)
            if second != middles[0]:
                middles.append(second)
        given = rng.choice(N.MALE_GIVEN if sex == "M" else N.FEMALE_GIVEN)
        return " ".join([family, *middles, given])

    def person(self) -> Person:
        rng = self.rng
        sex = "M" if rng.random() < 0.5 else "F"
        year = rng.randint(1930, 2018)
        dob = date(year, 1, 1) + timedelta(days=rng.randrange(365))
        province = rng.choice(_PROVINCE_CODES)
        prefix = f"{province}{century_sex_digit(year, sex)}{year % 100:02d}"
        while True:
            cid = f"{prefix}{rng.randrange(1_000_000):06d}"
            if cid not in self._ids:
                self._ids.add(cid)
                break
        return Person(cid, self._name(sex, year), dob, sex, province)

    def people(self, n: int) -> list[Person]:
        return [self.person() for _ in range(n)]

    # -- records ---------------------------------------------------------------------------------
    def doses(self, person: Person, start_index: int, facility_province: str) -> list[dict[str, str]]:
        rng = self.rng
        earliest = max(_FIRST_VACCINATION, date(person.date_of_birth.year + 4, 6, 1))
        if earliest > _LAST_VACCINATION:
            earliest = _LAST_VACCINATION
        span = (_LAST_VACCINATION - earliest).days
        when = earliest + timedelta(days=rng.randrange(max(1, span // 2)))
        product = rng.choices(self._products, cum_weights=self._product_cum)[0]
        facility = f"{facility_province}-F{rng.randint(1, self._facilities):03d}"
        rows: list[dict[str, str]] = []
        for dose in range(1, rng.choice((1, 2, 2, 2, 3, 3, 4)) + 1):
            if when > _LAST_VACCINATION:
                break
            rows.append({
                "record_id": f"R{start_index + len(rows):09d}", "facility_id": facility,
                "citizen_id": person.citizen_id, "full_name": person.full_name,
                "date_of_birth": self._format_date(person.date_of_birth),
                "sex": self._sex_label(person.sex),
                "phone": f"0{rng.choice('3579')}{rng.randrange(10**8):08d}",
                "province_code": facility_province.lstrip("0") if rng.random() < 0.1 else facility_province,
                "vaccine_product": product, "lot_number": f"L{rng.randrange(10**6):06d}",
                "dose_number": str(dose), "vaccination_date": when.isoformat(), "country": "VN",
            })
            when += timedelta(days=rng.randint(28, 150))
            if rng.random() < 0.2:
                product = rng.choices(self._products, cum_weights=self._product_cum)[0]
        return rows

    def _sex_label(self, sex: str) -> str:
        # Facilities write M/F or the Vietnamese Nam/Nữ.
        if self.rng.random() < 0.7:
            return sex
        return "Nam" if sex == "M" else "Nữ"

    def _format_date(self, d: date) -> str:
        return d.isoformat() if self.rng.random() < 0.5 else f"{d.day:02d}/{d.month:02d}/{d.year}"

    # -- errors ----------------------------------------------------------------------------------
    def apply_error(self, kind: str, row: dict[str, str], person: Person) -> bool:
        """Applies one error kind to a record row in place; False when it cannot apply."""
        name = row["full_name"]
        if kind == "missing_diacritics":
            new = _strip_marks(name)
        elif kind == "wrong_diacritics":
            new = self._wrong_diacritic(name)
        elif kind == "nfd":
            new = unicodedata.normalize("NFD", name)
        elif kind == "tone_placement":
            new = _move_tone(name)
        elif kind == "dj_as_d":
            new = name.replace("Đ", "D").replace("đ", "d")
        elif kind == "upper_case":
            new = name.upper()
        elif kind == "extra_spaces":
            new = "  " + "   ".join(name.split()) + " "
        elif kind == "swapped_names":
            tokens = name.split()
            new = " ".join(tokens[1:] + tokens[:1]) if len(tokens) > 1 else name
        elif kind == "typo":
            new = self._typo(name)
        else:
            return self._apply_other(kind, row, person)
        if new == name:
            return False
        row["full_name"] = new
        return True

    def _apply_other(self, kind: str, row: dict[str, str], person: Person) -> bool:
        rng = self.rng
        dob = person.date_of_birth
        cid = row["citizen_id"]
        if kind == "day_month_swapped":
            if dob.day > 12 or dob.day == dob.month:
                return False
            row["date_of_birth"] = f"{dob.month:02d}/{dob.day:02d}/{dob.year}"
        elif kind == "year_only":
            row["date_of_birth"] = str(dob.year)
        elif kind == "wrong_id_digit":
            if not cid:
                return False
            i = rng.randrange(len(cid))
            row["citizen_id"] = cid[:i] + rng.choice([d for d in "0123456789" if d != cid[i]]) + cid[i + 1:]
        elif kind == "id_digits_swapped":
            spots = [i for i in range(len(cid) - 1) if cid[i] != cid[i + 1]]
            if not spots:
                return False
            i = rng.choice(spots)
            row["citizen_id"] = cid[:i] + cid[i + 1] + cid[i] + cid[i + 2:]
        elif kind == "missing_id":
            if not cid:
                return False
            row["citizen_id"] = ""
        elif kind == "wrong_sex":
            row["sex"] = "F" if person.sex == "M" else "M"
        else:
            raise ValueError(f"unknown error kind {kind!r}")
        return True

    def _wrong_diacritic(self, name: str) -> str:
        spots = [i for i, ch in enumerate(name) if ch.lower() in _VOWEL_BASE]
        if not spots:
            return name
        i = self.rng.choice(spots)
        ch = name[i]
        forms = _VOWEL_FORMS[_VOWEL_BASE[ch.lower()]]
        other = self.rng.choice([f for f in forms if f != ch.lower()])
        return name[:i] + (other.upper() if ch.isupper() else other) + name[i + 1:]

    def _typo(self, name: str) -> str:
        rng = self.rng
        letters = [i for i, ch in enumerate(name) if ch.isalpha()]
        i = rng.choice(letters)
        op = rng.randrange(4)
        letter = rng.choice("abcdeghiklmnopqrstuvxy")
        if op == 0:
            return name[:i] + letter + name[i + 1:]
        if op == 1 and name[i - 1:i].isalpha() or op == 1 and name[i + 1:i + 2].isalpha():
            return name[:i] + name[i + 1:]
        if op == 2:
            return name[:i] + letter + name[i:]
        if i + 1 < len(name) and name[i + 1].isalpha():
            return name[:i] + name[i + 1] + name[i] + name[i + 2:]
        return name[:i] + letter + name[i + 1:]

    def dirty_records(self, registry: list[Person], n_records: int, *, error_rate: float,
                      absent_rate: float, facility_province: str | None = None) -> list[DirtyRecord]:
        """`facility_province`: every dose given at facilities of that province (one province's
        file, as a province uploads it); otherwise mostly in the person's own province."""
        rng = self.rng
        absent_pool = self.people(max(1, int(n_records * absent_rate / 2) + 1))
        out: list[DirtyRecord] = []
        while len(out) < n_records:
            absent = rng.random() < absent_rate
            person = rng.choice(absent_pool) if absent else rng.choice(registry)
            at_home = rng.random() < 0.85
            province = facility_province or (person.province_code if at_home else rng.choice(_PROVINCE_CODES))
            for row in self.doses(person, len(out), province):
                if len(out) >= n_records:
                    break
                rec = DirtyRecord(row, "" if absent else person.citizen_id,
                                  [ABSENT] if absent else [])
                if rng.random() < error_rate:
                    wanted = 1 if rng.random() < 0.7 else 2
                    kinds = rng.sample(ERROR_KINDS, len(ERROR_KINDS))
                    applied = 0
                    for kind in kinds:
                        if applied == wanted:
                            break
                        if self.apply_error(kind, row, person):
                            rec.error_kinds.append(kind)
                            applied += 1
                out.append(rec)
        return out


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def _move_tone(name: str) -> str:
    """Rewrites open syllables ending in oa/oe/uy between old (hòa) and new (hoà) tone placement."""
    out = []
    changed = False
    for token in name.split(" "):
        d = unicodedata.normalize("NFD", token)
        tone = next((c for c in d if c in _TONES), None)
        bare = "".join(c for c in d if c not in _TONES)
        low = bare.lower()
        if tone and low[-2:] in ("oa", "oe", "uy") and not low.startswith("qu"):
            # Old style marks the first vowel of the pair, new style the second: pick the other one.
            first = len(bare) - 2
            tone_on_first = (unicodedata.normalize("NFC", bare[:first + 1] + tone + bare[first + 1:])
                             == unicodedata.normalize("NFC", d))
            pos = first + 2 if tone_on_first else first + 1
            token = unicodedata.normalize("NFC", bare[:pos] + tone + bare[pos:])
            changed = True
        out.append(token)
    return " ".join(out) if changed else name
