"""The record contract against hostile values: text no encoder can write, and rows over the
storage caps, are rejections naming the row and field; nothing reaches storage to fail there."""
import json
from datetime import date

import pytest

from chalicelib.intake.records import (
    FieldError, IntakeLimits, VaccinationRecord, lone_surrogate_field, stored_size, validate_row,
)
from chalicelib.settings import Settings

TODAY = date(2023, 1, 1)
LIMITS = IntakeLimits()


def row(**changes):
    base = {"record_id": "R1", "facility_id": "001-F001", "citizen_id": "001085012345",
            "full_name": "Nguyễn Văn Hùng", "date_of_birth": "12/03/1985", "sex": "Nam",
            "province_code": "1", "vaccine_product": "AstraZeneca", "dose_number": "2",
            "vaccination_date": "2021-08-01"}
    base.update(changes)
    return base


def rejected(r, limits=LIMITS) -> list[FieldError]:
    res = validate_row(r, row_number=7, today=TODAY, limits=limits)
    assert isinstance(res, list), res
    for e in res:  # every reason can be written to the report and the response
        json.dumps([e.field, e.message, e.original], ensure_ascii=False).encode("utf-8")
    return res


@pytest.mark.parametrize("changes, field", [
    ({"full_name": "Nguy\ud800n"}, "full_name"),
    ({"lot_number": "\udfff"}, "lot_number"),
    ({"note\udc00": "x"}, "note\\udc00"),
])
def test_attack_lone_surrogate_is_rejected_naming_the_field(changes, field):
    errs = rejected(row(**changes))
    assert [(e.row_number, e.field, e.code, e.original) for e in errs] == [(7, field, "INVALID_UNICODE", "")]


def test_lone_surrogates_are_found_at_any_depth():
    assert lone_surrogate_field({"a": "ok", "b": [{"c": ["\ud800"]}]}) == "b"
    assert lone_surrogate_field({"a": "😀", "b": 3}) is None


def test_attack_too_many_unknown_columns_are_rejected_naming_the_first_beyond_the_cap():
    extras = {f"extra_{i:02d}": "1" for i in range(21)}
    errs = rejected(row(**extras))
    assert [(e.field, e.code) for e in errs] == [("extra_20", "TOO_MANY_COLUMNS")]
    assert isinstance(validate_row(row(**dict(list(extras.items())[:20])), row_number=7, today=TODAY,
                                   limits=LIMITS), VaccinationRecord)


def test_attack_oversize_row_is_rejected_naming_its_largest_field():
    # 20 unknown columns of 256 Vietnamese characters: each field within its own limit, the row
    # far over the 8 KB a stored record may take.
    extras = {f"ghi_chu_{i:02d}": "Đ" * 256 for i in range(20)}
    extras["ghi_chu_07"] = "Đ" * 250 + "ẩẩẩẩẩẩ"
    errs = rejected(row(**extras))
    assert [(e.field, e.code) for e in errs] == [("ghi_chu_07", "ROW_TOO_LARGE")]


def test_the_cap_counts_utf8_bytes_of_everything_stored():
    # lot_number is stored twice (normalised and as received), each "Đ" in two bytes: about 1,600
    # bytes for a row of 443 characters; a 250-character note brings it over 2,000.
    limits = IntakeLimits(max_row_bytes=2000)
    record = validate_row(row(lot_number="Đ" * 250), row_number=7, today=TODAY, limits=limits)
    assert isinstance(record, VaccinationRecord) and 1500 < stored_size(record) <= 2000
    errs = rejected(row(lot_number="Đ" * 250, note="Đ" * 250), limits)
    assert [(e.field, e.code) for e in errs] == [("lot_number", "ROW_TOO_LARGE")]


def test_caps_apply_only_where_records_are_stored():
    # The cleaning worker re-reads stored rows: caps changed since must not turn them INVALID.
    extras = {f"extra_{i:02d}": "1" for i in range(30)}
    assert isinstance(validate_row(row(**extras), row_number=7, today=TODAY), VaccinationRecord)


def test_settings_defaults_are_the_intake_defaults():
    s = Settings()
    assert (s.max_extra_columns, s.max_row_bytes) == (LIMITS.max_extra_columns, LIMITS.max_row_bytes)
    assert (s.xlsx_max_uncompressed_mb * 1024 * 1024, s.xlsx_max_part_mb * 1024 * 1024, s.xlsx_max_ratio) == (
        LIMITS.xlsx_max_uncompressed_bytes, LIMITS.xlsx_max_part_bytes, LIMITS.xlsx_max_ratio)
