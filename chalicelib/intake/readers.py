"""Streaming readers for batch uploads: CSV, JSON Lines and Excel .xlsx.

Each reader takes a binary file-like object (an S3 body, an open file) and yields
`(row_number, row)` one at a time, where `row` is a dict of strings or, for a row that cannot be
parsed (wrong number of cells, bad JSON), a `FieldError` the caller records as a rejection. Memory
stays flat whatever the file size: text is read line by line with a bound on the line length, so
a file with a 10 MB line is refused after reading 64 KB of it. Whole-file problems (binary content,
not UTF-8, missing columns, unknown format) raise a `BadFile` subclass with a stable code.
"""
from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from datetime import date, datetime
from typing import BinaryIO, Iterable, Iterator

from chalicelib.intake.errors import (
    BinaryFile, EmptyFile, LineTooLong, MalformedFile, MissingColumns, UnknownFormat, WrongEncoding,
)
from chalicelib.intake.records import REQUIRED_COLUMNS, FieldError

MAX_LINE_BYTES = 64 * 1024
_SNIFF_BYTES = 8192
_XLSX_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls: not supported, say so clearly
FORMATS = ("csv", "jsonl", "xlsx")

Row = tuple[int, "dict[str, str] | FieldError"]


class _HeadThenRest(io.RawIOBase):
    """Puts back the bytes read for sniffing, so non-seekable streams (S3 bodies) work."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def detect_format(head: bytes, filename: str | None = None) -> str:
    if filename:
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        if ext in ("csv", "txt"):
            return "csv"
        if ext in ("jsonl", "ndjson"):
            return "jsonl"
        if ext == "xlsx":
            return "xlsx"
        raise UnknownFormat(f"unsupported file type {ext!r}: use .csv, .jsonl or .xlsx",
                            details={"extension": ext})
    if head.startswith(_XLSX_MAGIC):
        return "xlsx"
    if head.startswith(_OLE_MAGIC):
        raise UnknownFormat("legacy Excel .xls files are not supported: save as .xlsx or .csv")
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return "jsonl"
    return "csv"


def read_rows(stream: BinaryIO, *, filename: str | None = None, fmt: str | None = None,
              required_columns: Iterable[str] = REQUIRED_COLUMNS,
              max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Row]:
    """Detects the format (from `fmt`, else the file name, else the content) and streams rows."""
    head = stream.read(_SNIFF_BYTES)
    if not head:
        raise EmptyFile("the file is empty")
    fmt = fmt or detect_format(head, filename)
    if fmt not in FORMATS:
        raise UnknownFormat(f"unsupported format {fmt!r}", details={"format": fmt})
    if fmt == "xlsx":
        return _xlsx_rows(_HeadThenRest(head, stream), tuple(required_columns))
    if b"\x00" in head:
        raise BinaryFile("the file is binary, not text: upload CSV, JSON Lines or .xlsx")
    buffered = io.BufferedReader(_HeadThenRest(head, stream), buffer_size=64 * 1024)
    lines = _text_lines(buffered, max_line_bytes)
    if fmt == "jsonl":
        return _jsonl_rows(lines)
    return _csv_rows(lines, tuple(required_columns))


def _text_lines(buffered: io.BufferedReader, max_line_bytes: int) -> Iterator[str]:
    """UTF-8 lines (BOM dropped), each at most `max_line_bytes`; raises on the first bad one."""
    offset = 0
    line_number = 0
    while True:
        raw = buffered.readline(max_line_bytes + 1)
        if not raw:
            return
        line_number += 1
        if len(raw) > max_line_bytes:
            raise LineTooLong(f"line {line_number} is longer than {max_line_bytes} bytes",
                              details={"line": line_number, "limit": max_line_bytes})
        if b"\x00" in raw:
            raise BinaryFile(f"line {line_number} contains a NUL byte: the file is not text",
                             details={"line": line_number})
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise WrongEncoding(
                f"the file is not UTF-8: invalid byte at offset {offset + e.start} (line "
                f"{line_number}); save it as 'CSV UTF-8'",
                details={"byte_offset": offset + e.start, "line": line_number}) from e
        if line_number == 1 and text.startswith("\ufeff"):
            text = text[1:]
        offset += len(raw)
        yield text


def _check_columns(header: list[str], required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in header]
    if missing:
        raise MissingColumns(f"missing required columns: {', '.join(missing)}",
                             details={"missing": missing})


def _csv_rows(lines: Iterator[str], required: tuple[str, ...]) -> Iterator[Row]:
    first = next(lines, None)
    if first is None or not first.strip():
        raise EmptyFile("the file has no header line")
    # Excel in Vietnamese (and most European) locales writes ';' because ',' is the decimal mark.
    delimiter = ";" if first.count(";") > first.count(",") else ","

    def chained() -> Iterator[str]:
        yield first
        yield from lines

    reader = csv.reader(chained(), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader)]
        _check_columns(header, required)
        width = len(header)
        for cells in reader:
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if len(cells) != width:
                yield reader.line_num, FieldError(
                    reader.line_num, "", "BAD_ROW",
                    f"row has {len(cells)} cells, the header has {width}")
                continue
            yield reader.line_num, dict(zip(header, cells))
    except csv.Error as e:
        # An unterminated quote swallows the rest of the file; nothing after it can be trusted.
        raise MalformedFile(f"CSV cannot be parsed near line {reader.line_num}",
                            details={"line": reader.line_num}) from e


def _scalar(value: object) -> str | None:
    if value is None:
        return ""
    if isinstance(value, bool):
        return None
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def _jsonl_rows(lines: Iterator[str]) -> Iterator[Row]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            yield number, FieldError(number, "", "BAD_ROW", "line is not valid JSON")
            continue
        if not isinstance(obj, dict):
            yield number, FieldError(number, "", "BAD_ROW", "line is not a JSON object")
            continue
        row: dict[str, str] = {}
        bad = [k for k, v in obj.items() if _scalar(v) is None]
        if bad:
            yield number, FieldError(number, bad[0], "BAD_ROW", "values must be strings or numbers")
            continue
        for key, value in obj.items():
            row[key.strip().lower()] = _scalar(value)
        yield number, row


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_rows(raw: io.RawIOBase, required: tuple[str, ...]) -> Iterator[Row]:
    from openpyxl import load_workbook  # heavy import, only for Excel uploads

    # zipfile needs to seek (the directory sits at the end), so an .xlsx is spooled to a temporary
    # file: disk, not memory, and openpyxl's read_only mode then streams the sheet XML row by row.
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    try:
        while chunk := raw.read(1024 * 1024):
            spool.write(chunk)
        spool.seek(0)
        try:
            workbook = load_workbook(spool, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
            raise MalformedFile("the .xlsx file cannot be opened") from e
        try:
            rows = workbook.worksheets[0].iter_rows(values_only=True)
            header_cells = next(rows, None)
            if header_cells is None:
                raise EmptyFile("the first sheet is empty")
            header = [_cell(h).strip().lower() for h in header_cells]
            while header and not header[-1]:
                header.pop()
            _check_columns(header, required)
            width = len(header)
            for number, cells in enumerate(rows, start=2):
                values = [_cell(v) for v in cells]
                while len(values) > width and not values[-1]:
                    values.pop()
                if not any(values):
                    continue
                if len(values) > width:
                    yield number, FieldError(number, "", "BAD_ROW",
                                             f"row has {len(values)} cells, the header has {width}")
                    continue
                values += [""] * (width - len(values))
                yield number, dict(zip(header, values))
        finally:
            workbook.close()
    finally:
        spool.close()
