import unicodedata
from datetime import date

import pytest

from chalicelib.intake.records import BirthDate, FieldError, VaccinationRecord, validate_row

TODAY = date(2023, 1, 1)


def row(**changes):
    base = {"record_id": "R1", "facility_id": "001-F001", "citizen_id": "001085012345",
            "full_name": "Nguyễn Văn Hùng", "date_of_birth": "12/03/1985", "sex": "Nam",
            "phone": "+84 912 345 678", "province_code": "1", "vaccine_product": "AstraZeneca",
            "lot_number": "AB123", "dose_number": "2", "vaccination_date": "2021-08-01"}
    base.update(changes)
    return base


def ok(r) -> VaccinationRecord:
    rec = validate_row(r, row_number=2, today=TODAY)
    assert isinstance(rec, VaccinationRecord), rec
    return rec


def errors(r, **kw) -> dict[str, str]:
    res = validate_row(r, row_number=7, today=TODAY, **kw)
    assert isinstance(res, list)
    assert all(isinstance(e, FieldError) and e.row_number == 7 for e in res)
    return {e.field: e.code for e in res}


def test_a_good_row_is_normalised():
    rec = ok(row(full_name="  Nguyễn  Văn Hùng "))
    assert rec.full_name == "Nguyễn Văn Hùng"
    assert rec.date_of_birth == BirthDate(1985, 3, 12)
    assert (rec.sex, rec.province_code, rec.vaccine_product) == ("M", "001", "EU/1/21/1529")
    assert rec.phone == "0912345678"
    assert rec.country == "VN"
    assert rec.original["full_name"] == "  Nguyễn  Văn Hùng "


@pytest.mark.parametrize("typed,code", [("Pfizer", "EU/1/20/1528"), ("Moderna", "EU/1/20/1507"),
                                        ("Vero Cell", "BBIBP-CorV"), ("sinopharm", "BBIBP-CorV"),
                                        ("Sputnik V", "Sputnik-V"), ("Abdala", "Abdala"),
                                        ("Hayat-Vax", "Hayat-Vax"), ("Covaxin", "Covaxin"),
                                        ("Janssen", "EU/1/20/1525"), ("EU/1/21/1529", "EU/1/21/1529")])
def test_products_map_to_value_set_codes(typed, code):
    assert ok(row(vaccine_product=typed)).vaccine_product == code


@pytest.mark.parametrize("typed,sex", [("M", "M"), ("nam", "M"), ("NAM", "M"), ("Nữ", "F"),
                                       (unicodedata.normalize("NFD", "NỮ"), "F"), ("f", "F")])
def test_sex_labels(typed, sex):
    assert ok(row(sex=typed)).sex == sex


def test_year_only_date_of_birth_is_kept_as_a_year():
    assert ok(row(date_of_birth="1985")).date_of_birth.year_only


def test_eleven_digit_id_gets_back_the_zero_excel_dropped():
    assert ok(row(citizen_id="01085012345")).citizen_id == "001085012345"
    assert errors(row(citizen_id="1085012345")) == {"citizen_id": "BAD_CITIZEN_ID"}


def test_nine_digit_cmnd_and_empty_id_are_accepted():
    assert ok(row(citizen_id="123456789")).citizen_id == "123456789"
    assert ok(row(citizen_id="")).citizen_id == ""


@pytest.mark.parametrize("changes,field,code", [
    ({"record_id": ""}, "record_id", "REQUIRED"),
    ({"full_name": ""}, "full_name", "REQUIRED"),
    ({"citizen_id": "12345"}, "citizen_id", "BAD_CITIZEN_ID"),
    ({"date_of_birth": "31/02/1985"}, "date_of_birth", "BAD_DATE"),
    ({"date_of_birth": "2030-01-01"}, "date_of_birth", "IMPLAUSIBLE_DATE"),
    ({"date_of_birth": "1850"}, "date_of_birth", "IMPLAUSIBLE_DATE"),
    ({"vaccination_date": "2020-06-01"}, "vaccination_date", "IMPLAUSIBLE_DATE"),
    ({"vaccination_date": "2024-06-01"}, "vaccination_date", "IMPLAUSIBLE_DATE"),
    ({"date_of_birth": "2021-09-01"}, "date_of_birth", "DOB_AFTER_VACCINATION"),
    ({"dose_number": "0"}, "dose_number", "BAD_DOSE"),
    ({"dose_number": "11"}, "dose_number", "BAD_DOSE"),
    ({"dose_number": "two"}, "dose_number", "BAD_DOSE"),
    ({"province_code": "003"}, "province_code", "UNKNOWN_PROVINCE"),
    ({"vaccine_product": "Snake oil"}, "vaccine_product", "UNKNOWN_PRODUCT"),
    ({"sex": "X"}, "sex", "UNKNOWN_SEX"),
    ({"full_name": "A" * 101}, "full_name", "TOO_LONG"),
    ({"lot_number": "x" * 257}, "lot_number", "TOO_LONG"),
    ({"full_name": "Nguyễn\x00Văn"}, "full_name", "CONTROL_CHARACTER"),
    ({"full_name": "Nguyễn\u200bVăn"}, "full_name", "CONTROL_CHARACTER"),
    ({"country": "VNM"}, "country", "BAD_COUNTRY"),
])
def test_field_errors(changes, field, code):
    assert errors(row(**changes)).get(field) == code


def test_all_errors_of_a_row_are_reported_at_once():
    got = errors(row(record_id="", dose_number="99", sex="?"))
    assert set(got) == {"record_id", "dose_number", "sex"}


def test_defaults_fill_facility_and_province():
    rec = validate_row(row(facility_id="", province_code=""), row_number=2, today=TODAY,
                       default_facility="079-F001", default_province="79")
    assert (rec.facility_id, rec.province_code) == ("079-F001", "079")


def test_digest_ignores_form_and_sees_changes():
    a = ok(row())
    b = ok(row(full_name=unicodedata.normalize("NFD", "Nguyễn  Văn Hùng"), date_of_birth="1985-03-12",
               vaccine_product="EU/1/21/1529", sex="M"))
    c = ok(row(dose_number="3"))
    assert a.digest() == b.digest()
    assert a.digest() != c.digest()
    assert len(a.digest()) == 64
