"""Hostile files against the readers: every failure is a BadFile with a stable code or a row's
FieldError, never another exception, and no row is silently lost."""
import io
import json
import random
import string
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.intake.errors import BadFile
from chalicelib.intake.readers import MAX_XML_TOKEN_BYTES, XmlScan, read_rows
from chalicelib.intake.records import FieldError, IntakeLimits
from tests import attack_files as af
from tests.properties import examples

HEADER = ["record_id", "facility_id", "full_name", "date_of_birth", "vaccine_product",
          "dose_number", "vaccination_date", "province_code"]
ROW = ["R1", "001-F001", "Nguyễn Thị Thủy", "1985-03-12", "Pfizer", "1", "2021-08-01", "001"]
GOOD_XLSX = af.xlsx([HEADER] + [[f"R{i}"] + ROW[1:] for i in range(5)])


def rows_of(data: bytes, filename: str, **kw):
    return list(read_rows(io.BytesIO(data), filename=filename, **kw))


def failure(data: bytes, filename: str, **kw) -> BadFile:
    with pytest.raises(BadFile) as e:
        rows_of(data, filename, **kw)
    return e.value


def jsonl(*objs) -> bytes:
    return "\n".join(o if isinstance(o, str) else json.dumps(o) for o in objs).encode()


# -- lone surrogates and other JSON Lines traps -----------------------------------------------------

@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\uDC00x", "\\ud83d"])
def test_attack_jsonl_lone_surrogate_escape_fails_the_file(escape):
    line = json.dumps(dict(zip(HEADER, ROW)))[:-1] + f', "note": "a{escape}"}}'
    e = failure(jsonl(dict(zip(HEADER, ROW)), line), "batch.jsonl")
    assert (e.code, e.details) == ("INVALID_UNICODE", {"line": 2, "field": "note"})
    json.dumps(e.message).encode("utf-8")  # the reason itself can be written anywhere


def test_attack_lone_surrogate_in_a_field_name_is_named_escaped():
    e = failure(jsonl(json.dumps(dict(zip(HEADER, ROW)))[:-1] + ', "x\\udc00": "1"}'), "batch.jsonl")
    assert e.details["field"] == "x\\udc00"


def test_a_surrogate_pair_is_an_ordinary_character():
    got = rows_of(jsonl(json.dumps(dict(zip(HEADER, ROW)))[:-1] + ', "note": "\\ud83d\\ude00"}'), "b.jsonl")
    assert got[0][1]["note"] == "😀"


@pytest.mark.parametrize("line", ["[" * 50_000, '{"a": ' + "1" * 5000 + "}", '{"a": [' * 3000])
def test_attack_deep_nesting_and_huge_numbers_are_row_rejections(line):
    got = rows_of(jsonl(dict(zip(HEADER, ROW)), line), "batch.jsonl")
    assert isinstance(got[0][1], dict)
    assert isinstance(got[1][1], FieldError) and got[1][1].code == "BAD_ROW"


def test_attack_field_given_twice_in_two_cases_is_rejected_not_guessed():
    line = json.dumps(dict(zip(HEADER, ROW)))[:-1] + ', "Facility_ID": "OTHER"}'
    (_, rejected), = rows_of(jsonl(line), "batch.jsonl")
    assert (rejected.code, rejected.field) == ("BAD_ROW", "facility_id")


def test_attack_duplicate_column_names_fail_the_file():
    data = (",".join(HEADER + ["Full_Name"]) + "\n" + ",".join(ROW + ["Other"]) + "\n").encode()
    assert failure(data, "batch.csv").code == "DUPLICATE_COLUMNS"
    assert failure(af.xlsx([HEADER + ["FULL_NAME"], ROW + ["x"]]), "b.xlsx").code == "DUPLICATE_COLUMNS"


# -- caps, applied as rows are read -----------------------------------------------------------------

def test_attack_wide_rows_are_rejected_as_they_are_read():
    limits = IntakeLimits(max_extra_columns=3)
    extra = [f"x{i}" for i in range(4)]
    data = (",".join(HEADER + extra) + "\n" + ",".join(ROW + ["1"] * 4) + "\n").encode()
    (number, rejected), = rows_of(data, "batch.csv", limits=limits)
    assert (number, rejected.code, rejected.field) == (2, "TOO_MANY_COLUMNS", "x3")


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "xlsx"])
def test_attack_oversize_row_is_rejected_naming_the_largest_field(fmt):
    big = ROW[:2] + ["Nguyễn " * 200] + ROW[3:]
    data = {"csv": lambda: (",".join(HEADER) + "\n" + ",".join(big) + "\n").encode(),
            "jsonl": lambda: jsonl(dict(zip(HEADER, big))),
            "xlsx": lambda: af.xlsx([HEADER, big])}[fmt]()
    (_, rejected), = rows_of(data, f"batch.{fmt}", limits=IntakeLimits(max_row_bytes=1000))
    assert (rejected.code, rejected.field) == ("ROW_TOO_LARGE", "full_name")


# -- damaged and hostile workbooks ------------------------------------------------------------------

def test_attack_broken_xlsx_xml_fails_the_file():
    e = failure(af.broken_xml(GOOD_XLSX), "batch.xlsx")
    assert (e.code, e.details) == ("MALFORMED_FILE", {"parser_error": "ParseError"})


def test_attack_truncated_zip_member_fails_the_file():
    # a sheet long enough that opening the workbook does not already reach the cut
    many = af.xlsx([HEADER] + [[f"R{i}"] + ROW[1:] for i in range(1000)])
    e = failure(af.truncated_member(many), "batch.xlsx")
    assert e.code == "MALFORMED_FILE"


def test_a_zip_cut_short_fails_the_file():
    assert failure(GOOD_XLSX[: len(GOOD_XLSX) // 2], "batch.xlsx").code == "MALFORMED_FILE"


def test_attack_xlsx_bomb_is_refused_from_the_directory():
    e = failure(af.bomb(GOOD_XLSX, 120), "batch.xlsx")
    assert e.code == "FILE_TOO_LARGE_UNCOMPRESSED"
    assert (e.details["part"], e.details["reason"]) == (af.SHEET, "ratio")


@pytest.mark.parametrize("limits, reason", [
    (IntakeLimits(xlsx_max_uncompressed_bytes=200_000), "total"),
    (IntakeLimits(xlsx_max_part_bytes=1000), "part"),
])
def test_xlsx_parts_over_the_size_limits_are_refused(limits, reason):
    e = failure(af.with_part(GOOD_XLSX, "xl/styles.xml", lambda x: x + b" " * 300_000), "b.xlsx", limits=limits)
    assert (e.code, e.details["reason"]) == ("FILE_TOO_LARGE_UNCOMPRESSED", reason)


def test_attack_zip_directory_of_thousands_of_parts_is_refused_before_it_is_read():
    files = af.parts(GOOD_XLSX)
    files.update({f"junk/{i:06d}": b"" for i in range(25_000)})
    e = failure(af.rezip(files), "batch.xlsx")
    assert (e.code, e.details["reason"]) == ("FILE_TOO_LARGE_UNCOMPRESSED", "directory")


def test_attack_xlsx_entity_expansion_is_refused():
    entities = '<!ENTITY a "' + "A" * 1000 + '">' + "".join(
        f'<!ENTITY {chr(98 + i)} "' + f"&{chr(97 + i)};" * 10 + '">' for i in range(6))
    data = af.with_part(GOOD_XLSX, af.SHEET, lambda x: (
        f'<?xml version="1.0"?><!DOCTYPE worksheet [{entities}]>'.encode()
        + x.replace(b"<t>R0</t>", b"<t>&g;</t>")))
    e = failure(data, "batch.xlsx")
    assert (e.code, e.details["reason"]) == ("MALFORMED_FILE", "dtd")


def noise(n: int, alphabet: str) -> bytes:
    """Text deflate cannot shrink much, so that no ratio check is what catches it: random bytes
    mapped onto the alphabet (fast; `random.choices` over a megabyte took a fifth of a second)."""
    table = bytes(ord(alphabet[i % len(alphabet)]) for i in range(256))
    return random.Random(7).randbytes(n).translate(table)


@pytest.mark.parametrize("huge", [
    noise(MAX_XML_TOKEN_BYTES + 10, string.ascii_letters),
    # inside CDATA a "<" is text, so it must not end the token
    b"<![CDATA[" + noise(MAX_XML_TOKEN_BYTES + 10, string.ascii_letters + "<" * 10) + b"]]>",
], ids=["text", "cdata"])
def test_attack_one_huge_cell_inside_the_size_limits_is_refused(huge):
    e = failure(af.with_part(GOOD_XLSX, af.SHEET, lambda x: x.replace(b"<t>R0</t>", b"<t>" + huge + b"</t>")),
                "batch.xlsx")
    assert (e.code, e.details["reason"]) == ("FILE_TOO_LARGE_UNCOMPRESSED", "token")


def test_attack_xml_in_another_encoding_cannot_slip_a_dtd_past_the_scan():
    utf16 = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE w [<!ENTITY a "b">]><w/>').encode("utf-16-le")
    e = failure(af.with_part(GOOD_XLSX, "xl/styles.xml", lambda x: utf16), "batch.xlsx")
    assert (e.code, e.details["reason"]) == ("MALFORMED_FILE", "encoding")
    latin = b'<?xml version="1.0" encoding="cp037"?><w/>'
    assert failure(af.with_part(GOOD_XLSX, "xl/styles.xml", lambda x: latin), "b.xlsx").details["reason"] == "encoding"


def test_attack_declared_dimension_cannot_hide_rows():
    data = af.with_part(GOOD_XLSX, af.SHEET, lambda x: x.replace(b'<dimension ref="A1:H6" />',
                                                                 b'<dimension ref="A1:H2" />'))
    assert [r["record_id"] for _, r in rows_of(data, "batch.xlsx")] == [f"R{i}" for i in range(5)]


def test_attack_rows_out_of_order_fail_the_file_instead_of_being_skipped():
    data = af.with_part(GOOD_XLSX, af.SHEET, lambda x: x.replace(b'<row r="3">', b'<row r="9">')
                        .replace(b'"A3"', b'"A9"').replace(b'"B3"', b'"B9"').replace(b'"C3"', b'"C9"')
                        .replace(b'"D3"', b'"D9"').replace(b'"E3"', b'"E9"').replace(b'"F3"', b'"F9"')
                        .replace(b'"G3"', b'"G9"').replace(b'"H3"', b'"H9"'))
    e = failure(data, "batch.xlsx")
    assert (e.code, e.details) == ("MALFORMED_FILE", {"row": 4})


def test_xlsx_row_numbers_are_the_sheet_row_numbers():
    data = af.with_part(GOOD_XLSX, af.SHEET, lambda x: x.replace(b'<row r="6">', b'<row r="60">')
                        .replace(b'6" t=', b'60" t='))
    assert [n for n, _ in rows_of(data, "batch.xlsx")] == [2, 3, 4, 5, 60]


def test_xml_scan_sees_markers_cut_across_reads():
    text = b"<a>" + b"x" * 100 + b"<![CDATA[" + b"<" * 50 + b"]]></a><!DOCTYPE z>"
    scan = XmlScan("p", limit=60)
    with pytest.raises(BadFile) as e:
        for i in range(len(text)):
            scan.feed(text[i:i + 1])
        scan.close()
    assert e.value.details["reason"] == "token"  # the 100 x's, then the 50-byte CDATA is fine
    scan = XmlScan("p", limit=200)
    with pytest.raises(BadFile) as e:
        for i in range(len(text)):
            scan.feed(text[i:i + 1])
        scan.close()
    assert e.value.details["reason"] == "dtd"
    cdata = b"<a>" + b"<![CDATA[" + b"<" * 50 + b"]]></a>"
    for limit, refused in ((40, True), (60, False)):
        scan = XmlScan("p", limit=limit)
        try:
            for i in range(len(cdata)):
                scan.feed(cdata[i:i + 1])
            scan.close()
        except BadFile:
            assert refused
        else:
            assert not refused


# -- fuzzing: mutations of valid files --------------------------------------------------------------

CSV = (",".join(HEADER) + "\r\n" + "\r\n".join(",".join([f"R{i}"] + ROW[1:]) for i in range(3)) + "\r\n").encode()
JSONL = jsonl(*(dict(zip(HEADER, [f"R{i}"] + ROW[1:])) for i in range(3)))
TOKENS = [b'"', b"\\ud800", b"\\udc00", b"[", b"{", b"}", b"9" * 5000, b"\x00", b"\r", b"\n", b",", b";",
          b"\xef\xbb\xbf", b"\xff", b"<", b">", b"&", b"&#0;", b"&#xD800;", b'r="99999"', b't="s"',
          b"<v>999</v>", b's="99"', b't="d"', b't="e"', b"<v>1e308</v>", b"<!DOCTYPE x>", b"<![CDATA[",
          b'r="XFD1"', b'r="A0"', b'<row r="1">', b"NaN"]


@st.composite
def mutated(draw, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(out)))
        op = draw(st.sampled_from(["flip", "delete", "insert", "cut", "copy"]))
        if op == "flip" and out:
            out[min(pos, len(out) - 1)] = draw(st.integers(0, 255))
        elif op == "delete":
            del out[pos:pos + draw(st.integers(1, 20))]
        elif op == "insert":
            out[pos:pos] = draw(st.sampled_from(TOKENS))
        elif op == "cut":
            del out[pos:]
        else:
            start = draw(st.integers(0, len(out)))
            out[pos:pos] = out[start:start + draw(st.integers(1, 50))]
    return bytes(out)


def only_bad_files_or_rows(data: bytes, filename: str) -> None:
    try:
        for _, row in read_rows(io.BytesIO(data), filename=filename):
            if isinstance(row, dict):
                assert all(isinstance(k, str) and isinstance(v, str) for k, v in row.items())
                json.dumps(row, ensure_ascii=False).encode("utf-8")  # storable as it is
            else:
                assert isinstance(row, FieldError)
    except BadFile as e:
        assert e.code and e.message
        json.dumps([e.message, e.details], ensure_ascii=False).encode("utf-8")


FUZZ = settings(max_examples=examples(1.5), deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(mutated(CSV))
def test_mutated_csv_fails_only_as_a_bad_file(data):
    only_bad_files_or_rows(data, "batch.csv")


@FUZZ
@given(mutated(JSONL))
def test_mutated_jsonl_fails_only_as_a_bad_file(data):
    only_bad_files_or_rows(data, "batch.jsonl")


@FUZZ
@given(mutated(GOOD_XLSX))
def test_attack_mutated_xlsx_bytes_fail_only_as_a_bad_file(data):
    only_bad_files_or_rows(data, "batch.xlsx")


@FUZZ
# openpyxl warns about the broken parts it is fed here; the assertion is on what it raises.
@pytest.mark.filterwarnings("ignore::UserWarning:openpyxl")
@given(st.sampled_from(sorted(af.parts(GOOD_XLSX))), st.data())
def test_attack_mutated_xlsx_parts_fail_only_as_a_bad_file(part, data):
    body = af.parts(GOOD_XLSX)[part]
    changed = data.draw(mutated(body))
    only_bad_files_or_rows(af.with_part(GOOD_XLSX, part, lambda _: changed), "batch.xlsx")


def test_the_fuzzed_workbook_is_valid_to_begin_with():
    assert len(rows_of(GOOD_XLSX, "batch.xlsx")) == 5
    with zipfile.ZipFile(io.BytesIO(GOOD_XLSX)) as z:
        assert af.SHEET in z.namelist()
