"""The one record contract shared by the API, batch files and the CLI.

`validate_row` turns a raw row (strings as typed, from any reader) into a normalised
`VaccinationRecord` or the list of everything wrong with it, so a facility can fix a row in one
pass. Nothing here talks to the registry: identity checks are the cleaning engine's job.
"""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Callable, Mapping, TypeVar

from chalicelib.identity.names import fold_text, normalise_name
from chalicelib.identity import normalise_province_code, parse_citizen_id
from chalicelib.intake.products import map_product

RECORD_FIELDS = (
    "record_id", "facility_id", "citizen_id", "full_name", "date_of_birth", "sex", "phone",
    "province_code", "vaccine_product", "lot_number", "dose_number", "vaccination_date", "country",
)
# Columns a batch file must have. facility_id and province_code may come from the upload's context
# (a facility's own upload) instead, so readers are told which defaults exist.
REQUIRED_COLUMNS = ("record_id", "full_name", "date_of_birth", "vaccine_product", "dose_number",
                    "vaccination_date")
REGISTRY_FIELDS = ("citizen_id", "full_name", "date_of_birth", "sex", "province_code")

MAX_FIELD_CHARS = 256
MAX_NAME_CHARS = 100
MAX_ID_CHARS = 64
MAX_DOSE = 10
MiB = 1024 * 1024
# First COVID-19 vaccinations in the world were in December 2020; earlier dates are typos.
EARLIEST_VACCINATION = date(2020, 12, 1)
EARLIEST_BIRTH_YEAR = 1900

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_YEAR = re.compile(r"^(\d{4})$")
_PHONE_SEPARATORS = re.compile(r"[\s.\-()]")
T = TypeVar("T")
_SEX = {"m": "M", "male": "M", "nam": "M", "f": "F", "female": "F", "nu": "F"}


@dataclass(frozen=True)
class IntakeLimits:
    """What one stored row and one uploaded file may take; intake is handed these from the settings.

    The caps keep every record far below DynamoDB's 400 KB item limit, so a row over them is a
    rejection naming the row and field, never a write that fails (and takes its chunk with it).
    The .xlsx limits are checked on the zip directory before anything is decompressed."""

    max_extra_columns: int = 20
    max_row_bytes: int = 8 * 1024
    xlsx_max_uncompressed_bytes: int = 512 * MiB
    # Parts other than worksheets (shared strings, styles) are parsed whole, in memory.
    xlsx_max_part_bytes: int = 32 * MiB
    xlsx_max_ratio: int = 100


@dataclass(frozen=True, slots=True)
class FieldError:
    row_number: int
    field: str
    code: str
    message: str
    original: str = ""


@dataclass(frozen=True, slots=True)
class BirthDate:
    """A date of birth that may be known to the year only (records often carry only the year)."""

    year: int
    month: int | None = None
    day: int | None = None

    @property
    def year_only(self) -> bool:
        return self.month is None

    def iso(self) -> str:
        return str(self.year) if self.month is None else f"{self.year:04d}-{self.month:02d}-{self.day:02d}"

    def as_date(self) -> date | None:
        """The full date, or None when only the year is known."""
        return None if self.month is None or self.day is None else date(self.year, self.month, self.day)

    def is_after(self, d: date) -> bool:
        """Later than `d`; by the year alone when only the year is known."""
        full = self.as_date()
        return self.year > d.year if full is None else full > d

    @classmethod
    def from_date(cls, d: date) -> "BirthDate":
        return cls(d.year, d.month, d.day)


@dataclass(frozen=True, slots=True)
class VaccinationRecord:
    record_id: str
    facility_id: str
    citizen_id: str  # "" when the facility did not record one
    full_name: str  # NFC, single spaces, case as typed
    date_of_birth: BirthDate
    sex: str  # "M", "F" or "" when not given
    phone: str
    province_code: str  # 3 digits
    vaccine_product: str  # DCC value-set code
    lot_number: str
    dose_number: int
    vaccination_date: date
    country: str
    original: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def business_key(self) -> tuple[str, str]:
        """Idempotency key: a facility's own record id is unique within that facility."""
        return (self.facility_id, self.record_id)

    def canonical(self) -> dict[str, str]:
        return {
            "record_id": self.record_id, "facility_id": self.facility_id,
            "citizen_id": self.citizen_id, "full_name": self.full_name,
            "date_of_birth": self.date_of_birth.iso(), "sex": self.sex, "phone": self.phone,
            "province_code": self.province_code, "vaccine_product": self.vaccine_product,
            "lot_number": self.lot_number, "dose_number": str(self.dose_number),
            "vaccination_date": self.vaccination_date.isoformat(), "country": self.country,
        }

    def digest(self) -> str:
        """sha256 over the normalised fields: equal for re-uploads that differ only in form
        (NFD vs NFC, date format, 'Pfizer' vs the code), different when any value changed."""
        payload = json.dumps([[k, v] for k, v in sorted(self.canonical().items())],
                             ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class RegistryPerson:
    citizen_id: str
    full_name: str
    date_of_birth: date
    sex: str
    province_code: str


_SURROGATE = re.compile("[\ud800-\udfff]")
_KNOWN_FIELDS = frozenset(RECORD_FIELDS)


def has_lone_surrogate(text: str) -> bool:
    """True for text no encoder can write. Python's json accepts a `\\ud800` escape and only the
    later UTF-8 encoding (DynamoDB, SQS, the report, the response) fails on it."""
    return _SURROGATE.search(text) is not None


def printable_name(name: str, limit: int = MAX_ID_CHARS) -> str:
    """A field name as it may be shown in a report or response: surrogates escaped, cut short."""
    text = name.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[:limit] + "…"


def lone_surrogate_field(row: Mapping[object, object]) -> str | None:
    """The printable name of the first field whose name or value (at any depth) holds a lone
    surrogate, or None."""
    for key, value in row.items():
        name = key if isinstance(key, str) else str(key)
        if has_lone_surrogate(name):
            return printable_name(name)
        stack = [value]
        while stack:  # iterative: a hostile body may nest as deep as the JSON parser allows
            item = stack.pop()
            if isinstance(item, str):
                if has_lone_surrogate(item):
                    return printable_name(name)
            elif isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
    return None


def shape_error(row_number: int, row: Mapping[str, str], limits: IntakeLimits | None) -> FieldError | None:
    """The caps that need no parsing: unknown columns and size. Readers apply it as soon as a row
    is read, so an oversized row is never held in a chunk; validate_row applies it again for API
    records. Characters are counted here: a stored row takes at least one byte for each."""
    if limits is None:
        return None
    extra = [k for k in row if k not in _KNOWN_FIELDS]
    if len(extra) > limits.max_extra_columns:
        return FieldError(row_number, printable_name(extra[limits.max_extra_columns]), "TOO_MANY_COLUMNS",
                          f"the row has {len(extra)} unknown columns, at most {limits.max_extra_columns} "
                          f"are kept")
    size = sum(len(k) + len(v) for k, v in row.items())
    if size > limits.max_row_bytes:
        return _too_large(row_number, row, size, limits)
    return None


def stored_size(record: "VaccinationRecord") -> int:
    """UTF-8 bytes the record takes once stored: its normalised fields and the row as received."""
    return (len(json.dumps(record.canonical(), ensure_ascii=False).encode("utf-8"))
            + len(json.dumps(dict(record.original), ensure_ascii=False).encode("utf-8")))


def _too_large(row_number: int, row: Mapping[str, str], size: int, limits: IntakeLimits) -> FieldError:
    largest = max(row, key=lambda k: len((k + row[k]).encode("utf-8", "surrogatepass")))
    return FieldError(row_number, printable_name(largest), "ROW_TOO_LARGE",
                      f"the row takes at least {size} bytes once stored, more than {limits.max_row_bytes}; "
                      f"its largest field is {printable_name(largest)}")


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text)


def parse_date(text: str) -> date | None:
    """YYYY-MM-DD or DD/MM/YYYY (also with '.' or '-'); None when not a real calendar date."""
    m = _ISO.match(text)
    if m:
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
    else:
        m = _DMY.match(text)
        if not m:
            return None
        d, mo, y = int(m[1]), int(m[2]), int(m[3])
    try:
        return date(y, mo, d)
    except ValueError:
        return None


def parse_birth_date(text: str) -> BirthDate | None:
    m = _YEAR.match(text)
    if m:
        return BirthDate(int(m[1]))
    d = parse_date(text)
    return None if d is None else BirthDate.from_date(d)


def normalise_sex(text: str) -> str | None:
    return _SEX.get(fold_text(text))


def normalise_citizen_id(text: str) -> str | None:
    """Digits only; 12 (CCCD) or 9 (old CMND). Spreadsheets drop the leading zero of a CCCD, so an
    11-digit value that becomes a well-formed CCCD with it is accepted. None when malformed."""
    v = "".join(text.split())
    if not v:
        return ""
    if not v.isascii() or not v.isdigit():
        return None
    if len(v) == 11 and parse_citizen_id("0" + v) is not None:
        return "0" + v
    return v if len(v) in (9, 12) else None


def normalise_phone(text: str) -> str | None:
    v = _PHONE_SEPARATORS.sub("", text)
    if not v:
        return ""
    if v.startswith("+84"):
        v = "0" + v[3:]
    return v if v.isascii() and v.isdigit() and 8 <= len(v) <= 15 else None


class _Collector:
    """Gathers every field error of a row instead of stopping at the first."""

    def __init__(self, row: Mapping[str, object], row_number: int) -> None:
        self.row_number = row_number
        self.errors: list[FieldError] = []
        self.raw: dict[str, str] = {}
        for key, value in row.items():
            if isinstance(key, str):
                name, text = key.strip().lower(), "" if value is None else str(value)
                if has_lone_surrogate(name) or has_lone_surrogate(text):
                    # Never echoed: the value would break the report and the response too.
                    shown = printable_name(name)
                    self.errors.append(FieldError(
                        row_number, shown, "INVALID_UNICODE",
                        f"{shown} is not valid Unicode text (it holds a lone surrogate such as \\ud800)"))
                    continue
                self.raw[name] = text

    def fail(self, name: str, code: str, message: str) -> None:
        self.errors.append(FieldError(self.row_number, name, code, message,
                                      self.raw.get(name, "")))

    def text(self, name: str, *, required: bool, limit: int = MAX_FIELD_CHARS,
             default: str | None = None) -> str:
        value = self.raw.get(name, "").strip()
        if not value and default:
            value = default
        if len(value) > limit:
            self.fail(name, "TOO_LONG", f"{name} is longer than {limit} characters")
            return ""
        if _has_control(value):
            self.fail(name, "CONTROL_CHARACTER", f"{name} contains a control character")
            return ""
        if required and not value:
            self.fail(name, "REQUIRED", f"{name} is required")
        return value

    def mapped(self, name: str, normalise: Callable[[str], T | None], code: str, message: str, *,
               required: bool, default: str | None = None) -> T | None:
        """A field whose typed value is mapped to a canonical one (None if absent or unmappable)."""
        raw = self.text(name, required=required, default=default)
        if not raw:
            return None
        value = normalise(raw)
        if not value:
            self.fail(name, code, message)
            return None
        return value


def validate_row(row: Mapping[str, object], *, row_number: int,
                 default_facility: str | None = None, default_province: str | None = None,
                 today: date | None = None, limits: IntakeLimits | None = None,
                 ) -> VaccinationRecord | list[FieldError]:
    """Validates and normalises one raw row. `today` is injectable for tests; it bounds dates.
    `limits` are intake's storage caps (None: not checked, e.g. when re-reading a stored row)."""
    today = today or datetime.now(timezone.utc).date()
    c = _Collector(row, row_number)
    if c.errors:  # text that cannot be encoded: nothing else is looked at, or echoed
        return c.errors
    shape = shape_error(row_number, c.raw, limits)
    if shape is not None:
        return [shape]
    for extra in c.raw.keys() - set(RECORD_FIELDS):
        c.text(extra, required=False)  # unknown columns are ignored, but never unchecked
    # Ids key the record: NFC so that one dose typed in NFD on a Mac and NFC elsewhere is one record.
    record_id = unicodedata.normalize("NFC", c.text("record_id", required=True, limit=MAX_ID_CHARS))
    facility_id = unicodedata.normalize("NFC", c.text("facility_id", required=True, limit=MAX_ID_CHARS,
                                                      default=default_facility))
    full_name = normalise_name(c.text("full_name", required=True))
    if len(full_name) > MAX_NAME_CHARS:
        c.fail("full_name", "TOO_LONG", f"full_name is longer than {MAX_NAME_CHARS} characters")

    citizen_id = c.mapped("citizen_id", normalise_citizen_id, "BAD_CITIZEN_ID",
                          "citizen_id must have 12 digits (or 9 for a CMND)", required=False) or ""

    dob = c.mapped("date_of_birth", parse_birth_date, "BAD_DATE",
                   "date_of_birth must be YYYY-MM-DD, DD/MM/YYYY or YYYY", required=True)
    if dob is not None and (dob.year < EARLIEST_BIRTH_YEAR or dob.year > today.year or dob.is_after(today)):
        c.fail("date_of_birth", "IMPLAUSIBLE_DATE", "date_of_birth is in the future or before 1900")
        dob = None

    vdate = c.mapped("vaccination_date", parse_date, "BAD_DATE",
                     "vaccination_date must be YYYY-MM-DD or DD/MM/YYYY", required=True)
    if vdate is not None and vdate > today:
        c.fail("vaccination_date", "IMPLAUSIBLE_DATE", "vaccination_date is in the future")
        vdate = None
    elif vdate is not None and vdate < EARLIEST_VACCINATION:
        c.fail("vaccination_date", "IMPLAUSIBLE_DATE",
               "vaccination_date is before COVID-19 vaccination began (December 2020)")
        vdate = None
    if dob is not None and vdate is not None and dob.is_after(vdate):
        c.fail("date_of_birth", "DOB_AFTER_VACCINATION", "date_of_birth is after vaccination_date")

    sex = c.mapped("sex", normalise_sex, "UNKNOWN_SEX", "sex must be M/F or Nam/Nữ",
                   required=False) or ""
    phone = c.mapped("phone", normalise_phone, "BAD_PHONE", "phone must have 8 to 15 digits",
                     required=False) or ""
    province = c.mapped("province_code", normalise_province_code, "UNKNOWN_PROVINCE",
                        "province_code is not one of the 63 codes", required=True,
                        default=default_province) or ""
    product = c.mapped("vaccine_product", map_product, "UNKNOWN_PRODUCT",
                       "vaccine_product is not a known vaccine", required=True) or ""

    dose = 0
    raw_dose = c.text("dose_number", required=True)
    if raw_dose:
        # Excel hands integers back as "2.0" once converted to text.
        text = raw_dose[:-2] if raw_dose.endswith(".0") else raw_dose
        if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_DOSE:
            dose = int(text)
        else:
            c.fail("dose_number", "BAD_DOSE", f"dose_number must be a whole number 1 to {MAX_DOSE}")

    lot = c.text("lot_number", required=False)
    country = c.text("country", required=False, default="VN").upper()
    if country and (len(country) != 2 or not country.isascii() or not country.isalpha()):
        c.fail("country", "BAD_COUNTRY", "country must be a 2-letter ISO 3166 code")

    if c.errors or dob is None or vdate is None:  # both are required: absent ones failed above
        return c.errors
    record = VaccinationRecord(
        record_id=record_id, facility_id=facility_id, citizen_id=citizen_id, full_name=full_name,
        date_of_birth=dob, sex=sex, phone=phone, province_code=province,
        vaccine_product=product, lot_number=lot, dose_number=dose, vaccination_date=vdate,
        country=country, original=dict(c.raw),
    )
    if limits is not None:
        size = stored_size(record)
        if size > limits.max_row_bytes:
            return [_too_large(row_number, c.raw, size, limits)]
    return record


class RegistryRowError(ValueError):
    """A population registry row is malformed; the registry is trusted data, so this is fatal."""


def registry_person_from_row(row: Mapping[str, str]) -> RegistryPerson:
    # Messages name the field, never the row's values: a registry row is personal data.
    short = [f for f in ("citizen_id", "full_name", "date_of_birth", "sex") if not isinstance(row.get(f), str)]
    if short:
        raise RegistryRowError(f"registry row has no {', '.join(short)} (fewer columns than the header)")
    try:
        dob = date.fromisoformat(row["date_of_birth"])
    except ValueError as e:
        raise RegistryRowError("registry date_of_birth is not a date (YYYY-MM-DD)") from e
    sex = row.get("sex", "")
    if sex not in ("M", "F"):
        raise RegistryRowError("registry sex must be M or F")
    return RegistryPerson(row["citizen_id"], normalise_name(row["full_name"]), dob, sex,
                          row.get("province_code", ""))
