import io
import json

import pytest
from openpyxl import Workbook

from chalicelib.intake.errors import (
    BinaryFile, EmptyFile, LineTooLong, MissingColumns, UnknownFormat, WrongEncoding,
)
from chalicelib.intake.readers import read_rows
from chalicelib.intake.records import FieldError
from chalicelib.intake.report import escape_cell, write_rejections

HEADER = ["record_id", "facility_id", "full_name", "date_of_birth", "vaccine_product",
          "dose_number", "vaccination_date", "province_code"]
ROW = ["R1", "001-F001", "Nguyễn Thị Thủy", "1985-03-12", "Pfizer", "1", "2021-08-01", "001"]


def csv_bytes(sep=",", bom=False, rows=(ROW,)):
    text = sep.join(HEADER) + "\r\n" + "".join(sep.join(r) + "\r\n" for r in rows)
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def rows_of(data: bytes, **kw):
    return list(read_rows(io.BytesIO(data), **kw))


@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("sep", [",", ";"])
def test_csv_with_or_without_bom_comma_or_semicolon(bom, sep):
    got = rows_of(csv_bytes(sep, bom))
    assert got == [(2, dict(zip(HEADER, ROW)))]


def test_csv_row_with_wrong_cell_count_is_a_row_rejection_not_a_file_failure():
    got = rows_of(csv_bytes(rows=(ROW, ROW[:3], ROW)))
    assert [n for n, _ in got] == [2, 3, 4]
    assert isinstance(got[1][1], FieldError) and got[1][1].code == "BAD_ROW"
    assert isinstance(got[2][1], dict)


def test_jsonl_rows_and_a_bad_line():
    lines = [json.dumps(dict(zip(HEADER, ROW)), ensure_ascii=False), "{not json", "[1, 2]",
             json.dumps({"record_id": "R2", "dose_number": 2})]
    got = rows_of("\n".join(lines).encode("utf-8"))
    assert got[0] == (1, dict(zip(HEADER, ROW)))
    assert got[1][1].code == "BAD_ROW" and got[2][1].code == "BAD_ROW"
    assert got[3] == (4, {"record_id": "R2", "dose_number": "2"})


def test_xlsx_rows_stream_from_the_first_sheet():
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    ws.append(ROW)
    ws.append(["R2", "001-F001", "Lê Văn Đức", 1985, "Moderna", 2, "2021-09-01", 1])
    buf = io.BytesIO()
    wb.save(buf)
    got = rows_of(buf.getvalue(), filename="batch.xlsx")
    assert got[0] == (2, dict(zip(HEADER, ROW)))
    assert got[1][1]["dose_number"] == "2" and got[1][1]["date_of_birth"] == "1985"


def test_xlsx_missing_columns_are_named():
    wb = Workbook()
    wb.active.append(["record_id", "full_name"])
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(MissingColumns) as e:
        rows_of(buf.getvalue())
    assert "vaccine_product" in e.value.details["missing"]


def test_binary_file_is_rejected():
    with pytest.raises(BinaryFile) as e:
        rows_of(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    assert e.value.code == "BINARY_FILE"


def test_latin1_file_is_rejected_with_the_byte_offset():
    data = ",".join(HEADER).encode() + b"\nR1,F,Th\xe1i,1985,Pfizer,1,2021-08-01,001\n"
    with pytest.raises(WrongEncoding) as e:
        rows_of(data)
    assert e.value.details == {"byte_offset": data.index(b"\xe1"), "line": 2}


def test_missing_columns_are_named():
    with pytest.raises(MissingColumns) as e:
        rows_of(b"record_id,full_name\nR1,A\n")
    assert e.value.details["missing"] == ["date_of_birth", "vaccine_product", "dose_number",
                                          "vaccination_date"]


class CountingStream(io.RawIOBase):
    """A 10 MB single line produced on demand, counting how much the reader pulled."""

    def __init__(self, prefix: bytes, size: int) -> None:
        self.prefix, self.left, self.read_bytes = prefix, size, 0

    def readable(self):
        return True

    def read(self, n=-1):
        if self.prefix:
            out, self.prefix = self.prefix, b""
        else:
            n = self.left if n < 0 else min(n, self.left)
            out = b"a" * n
            self.left -= n
        self.read_bytes += len(out)
        return out


def test_a_10mb_line_is_rejected_without_reading_it_all():
    stream = CountingStream(csv_bytes(), 10 * 1024 * 1024)
    with pytest.raises(LineTooLong) as e:
        list(read_rows(stream))
    assert e.value.details["line"] == 3
    assert stream.read_bytes < 1024 * 1024


@pytest.mark.parametrize("name", ["batch.pdf", "batch.xls", "batch"])
def test_unknown_format_by_name(name):
    with pytest.raises(UnknownFormat):
        rows_of(csv_bytes(), filename=name)


def test_legacy_xls_content_is_an_unknown_format():
    with pytest.raises(UnknownFormat):
        rows_of(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)


def test_empty_file():
    with pytest.raises(EmptyFile):
        rows_of(b"")


@pytest.mark.parametrize("cell", ["=cmd|' /C calc'!A0", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_escaped(cell):
    assert escape_cell(cell) == "'" + cell


def test_rejection_report_never_echoes_a_formula_unescaped():
    evil = "=cmd|' /C calc'!A0"
    out = io.StringIO()
    n = write_rejections(out, [FieldError(5, "full_name", "TOO_LONG", "too long", evil)])
    text = out.getvalue()
    assert n == 1
    assert "'" + evil in text
    assert ",=" not in text and not any(line.startswith("=") for line in text.splitlines())
