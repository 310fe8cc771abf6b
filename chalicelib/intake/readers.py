"""Streaming readers for batch uploads: CSV, JSON Lines and Excel .xlsx.

Each reader takes a binary file-like object (an S3 body, an open file) and yields
`(row_number, row)` one at a time, where `row` is a dict of strings or, for a row that cannot be
parsed (wrong number of cells, bad JSON), a `FieldError` the caller records as a rejection. Memory
stays flat whatever the file size: text is read line by line with a bound on the line length, so
a file with a 10 MB line is refused after reading 64 KB of it. Whole-file problems (binary content,
not UTF-8, missing columns, unknown format) raise a `BadFile` subclass with a stable code.

Files are hostile input: every failure a file can cause is a `BadFile` or a row's `FieldError`,
never another exception (a fuzz test mutates valid files to hold this). A row over the intake caps
(`IntakeLimits`) is rejected as soon as it is read, so a chunk never holds an oversized row. An
.xlsx is checked on its zip directory (sizes, total, compression ratio) before anything is
decompressed, and its sheet is read cell by cell as stored, so neither a declared dimension nor
the row numbers it claims can hide rows.
"""
from __future__ import annotations

import csv
import io
import json
import re
import tempfile
import zipfile
from collections import Counter
from datetime import date, datetime
from typing import IO, BinaryIO, Generator, Iterable, Iterator

from chalicelib.intake.errors import (
    BadFile, BinaryFile, DuplicateColumns, EmptyFile, FileTooLarge, FileTooLargeUncompressed,
    InvalidUnicode, LineTooLong, MalformedFile, MissingColumns, UnknownFormat, WrongEncoding,
)
from chalicelib.intake.records import (
    REQUIRED_COLUMNS, FieldError, IntakeLimits, lone_surrogate_field, printable_name, shape_error,
)

MAX_LINE_BYTES = 64 * 1024
_SNIFF_BYTES = 8192
_XLSX_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls: not supported, say so clearly
FORMATS = ("csv", "jsonl", "xlsx")
DEFAULT_LIMITS = IntakeLimits()
# A JSON escape of a UTF-16 surrogate; only a line holding one can decode to a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

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
              max_line_bytes: int = MAX_LINE_BYTES, limits: IntakeLimits = DEFAULT_LIMITS) -> Iterator[Row]:
    """Detects the format (from `fmt`, else the file name, else the content) and streams rows."""
    head = stream.read(_SNIFF_BYTES)
    if not head:
        raise EmptyFile("the file is empty")
    fmt = fmt or detect_format(head, filename)
    if fmt not in FORMATS:
        raise UnknownFormat(f"unsupported format {fmt!r}", details={"format": fmt})
    if fmt == "xlsx":
        return _xlsx_rows(_HeadThenRest(head, stream), tuple(required_columns), limits)
    if b"\x00" in head:
        raise BinaryFile("the file is binary, not text: upload CSV, JSON Lines or .xlsx")
    buffered = io.BufferedReader(_HeadThenRest(head, stream), buffer_size=64 * 1024)
    lines = _text_lines(buffered, max_line_bytes)
    if fmt == "jsonl":
        return _jsonl_rows(lines, limits)
    return _csv_rows(lines, tuple(required_columns), limits)


def _text_lines(buffered: BinaryIO, max_line_bytes: int) -> Iterator[str]:
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
    # Two columns with one name would make a row keep only the last one's value.
    duplicated = sorted(h for h, n in Counter(header).items() if h and n > 1)
    if duplicated:
        raise DuplicateColumns(f"columns named more than once: {', '.join(duplicated)}",
                               details={"duplicated": duplicated})


def _csv_rows(lines: Iterator[str], required: tuple[str, ...], limits: IntakeLimits) -> Iterator[Row]:
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
            row = dict(zip(header, cells))
            yield reader.line_num, shape_error(reader.line_num, row, limits) or row
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


def _jsonl_rows(lines: Iterator[str], limits: IntakeLimits) -> Iterator[Row]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except RecursionError:
            yield number, FieldError(number, "", "BAD_ROW", "line is nested too deeply to be a record")
            continue
        except ValueError:  # JSONDecodeError, and integers longer than Python converts
            yield number, FieldError(number, "", "BAD_ROW", "line is not valid JSON")
            continue
        if not isinstance(obj, dict):
            yield number, FieldError(number, "", "BAD_ROW", "line is not a JSON object")
            continue
        if _SURROGATE_ESCAPE.search(line):
            field = lone_surrogate_field(obj)
            if field is not None:
                # The file was written by a broken encoder: none of its text can be trusted.
                raise InvalidUnicode(
                    f"line {number} holds a lone surrogate escape (such as \\ud800) in {field}: the file "
                    f"is not valid Unicode text", details={"line": number, "field": field})
        row: dict[str, str] = {}
        bad = [k for k, v in obj.items() if _scalar(v) is None]
        if bad:
            yield number, FieldError(number, bad[0], "BAD_ROW", "values must be strings or numbers")
            continue
        twice = None
        for key, value in obj.items():
            name = key.strip().lower()
            if name in row:  # "Full_Name" and "full_name": which one would win is not for us to guess
                twice = name
                break
            row[name] = _scalar(value) or ""  # never None: such rows were refused above
        if twice is not None:
            yield number, FieldError(number, twice, "BAD_ROW", f"the field {twice} is given twice")
            continue
        yield number, shape_error(number, row, limits) or row


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


def _xlsx_rows(raw: io.RawIOBase, required: tuple[str, ...], limits: IntakeLimits) -> Iterator[Row]:
    # zipfile needs to seek (the directory sits at the end), so an .xlsx is spooled to a temporary
    # file: disk, not memory. Its sheet XML is then parsed as a stream, row by row.
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    try:
        size = 0
        while chunk := raw.read(1024 * 1024):
            size += len(chunk)
            if size > limits.xlsx_max_uncompressed_bytes:
                raise FileTooLarge(f"the .xlsx file is larger than {limits.xlsx_max_uncompressed_bytes} bytes",
                                   details={"limit": limits.xlsx_max_uncompressed_bytes})
            spool.write(chunk)
        check_zip(spool, limits)
        spool.seek(0)
        yield from _sheet_rows(spool, required, limits)
    finally:
        spool.close()


# A workbook's directory lists a dozen parts; 1 MB of it would be thousands.
_MAX_ZIP_DIRECTORY_BYTES = 1024 * 1024
# Parts smaller than this are not held to the ratio: a few KB of spaces compress a thousandfold
# harmlessly, and no bomb fits in them.
_RATIO_FLOOR_BYTES = 1024 * 1024
# No cell, tag or attribute of a vaccination record comes near this; the XML parser holds a whole
# text node in memory, so one node of hundreds of MB would be a bomb inside the size limits.
MAX_XML_TOKEN_BYTES = 1024 * 1024
_WORKSHEETS = "xl/worksheets/"


def check_zip(fp: IO[bytes], limits: IntakeLimits) -> None:
    """Refuses a zip bomb from its directory alone: the uncompressed size of every part, their
    total and each part's compression ratio. zipfile never inflates a part beyond the size its
    directory entry declares (it fails the CRC check instead), so the declared sizes are binding.
    Then every part is inflated once through `XmlScan` (which also checks every CRC) before any
    parser sees it: openpyxl parses the start of each sheet while it opens the workbook."""
    fp.seek(0)
    # zipfile reads the whole central directory into memory: bound it first (a 30 MB directory
    # of tiny entries would become hundreds of MB of ZipInfo objects).
    # Private, but exactly the record zipfile itself will use; typeshed leaves private names out.
    end = zipfile._EndRecData(fp)  # type: ignore[attr-defined]
    if end is None:
        raise MalformedFile("the .xlsx file is not a zip archive (its directory is missing or cut off)")
    directory_bytes = end[zipfile._ECD_SIZE]  # type: ignore[attr-defined]  # private, as above
    if directory_bytes > _MAX_ZIP_DIRECTORY_BYTES:
        raise FileTooLargeUncompressed(
            f"the .xlsx directory takes {directory_bytes} bytes: far more parts than a workbook has",
            details={"reason": "directory", "limit": _MAX_ZIP_DIRECTORY_BYTES})
    fp.seek(0)
    with _parser_errors(), zipfile.ZipFile(fp) as archive:
        total = 0
        for info in archive.infolist():
            streamed = info.filename.startswith(_WORKSHEETS)
            part_limit = limits.xlsx_max_uncompressed_bytes if streamed else limits.xlsx_max_part_bytes
            if info.file_size > part_limit:
                raise _too_large(info, "part", part_limit)
            total += info.file_size
            if total > limits.xlsx_max_uncompressed_bytes:
                raise _too_large(info, "total", limits.xlsx_max_uncompressed_bytes)
            if (info.file_size > _RATIO_FLOOR_BYTES
                    and info.file_size > limits.xlsx_max_ratio * max(info.compress_size, 1)):
                raise _too_large(info, "ratio", limits.xlsx_max_ratio)
        for info in archive.infolist():
            if not info.is_dir():
                scan = XmlScan(info.filename)
                with archive.open(info) as part:
                    while chunk := part.read(64 * 1024):
                        scan.feed(chunk)
                scan.close()


def _too_large(info: zipfile.ZipInfo, reason: str, limit: int) -> FileTooLargeUncompressed:
    what = {"part": f"expands to {info.file_size} bytes, more than {limit}",
            "total": f"brings the uncompressed total over {limit} bytes",
            "ratio": f"expands {info.file_size // max(info.compress_size, 1)} times, more than {limit}"}[reason]
    return FileTooLargeUncompressed(
        f"the .xlsx part {info.filename[:100]} {what}: refused before reading it",
        details={"part": info.filename[:100], "reason": reason, "limit": limit,
                 "uncompressed_bytes": info.file_size, "compressed_bytes": info.compress_size})


class XmlScan:
    """Reads an XML part's bytes before a parser holds them. Refuses a DTD (Excel never writes
    one; its entities expand a few KB into gigabytes, and a workbook with one parsed by openpyxl
    has crashed this interpreter at exit with a segfault) and any single token - a text node, a
    tag, a CDATA section - over MAX_XML_TOKEN_BYTES. Byte patterns only mean something in UTF-8,
    so XML in any other encoding is refused; a part that does not start as XML (an image) is not
    looked into, as no XML parser would read past its first bytes. Each byte is looked at once;
    the last few bytes of a chunk wait for the next, so no marker is ever seen cut in two."""

    _KEEP = 8  # len(b"<![CDATA[") - 1
    _ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]*)""")

    def __init__(self, part: str, limit: int = MAX_XML_TOKEN_BYTES) -> None:
        self.part = part
        self.limit = limit
        self._run = 0  # bytes of the current token
        self._cdata = False
        self._started = False
        self._binary = False
        self._pending = b""

    def feed(self, chunk: bytes) -> None:
        data = self._pending + chunk
        cut = len(data) - self._KEEP
        if cut > 0:
            self._scan(data, cut)
            self._pending = data[cut:]
        else:
            self._pending = data

    def close(self) -> None:
        self._scan(self._pending, len(self._pending))
        self._pending = b""

    def _refuse(self, why: str, reason: str) -> MalformedFile:
        return MalformedFile(f"the .xlsx part {self.part[:100]} {why}",
                             details={"part": self.part[:100], "reason": reason})

    def _start(self, data: bytes) -> None:
        body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
        if body[:2] in (b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<"):
            raise self._refuse("is not UTF-8 XML, as workbook parts are", "encoding")
        body = body.lstrip(b" \t\r\n")
        if not body:
            return  # blank so far: decide on the next bytes
        self._started = True
        self._binary = not body.startswith(b"<")
        declared = self._ENCODING.match(body[:256])
        if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
            raise self._refuse("is not UTF-8 XML, as workbook parts are", "encoding")

    def _scan(self, data: bytes, end: int) -> None:
        if not self._started:
            self._start(data)
        if self._binary:
            return
        if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
            raise self._refuse("declares a DTD, which workbooks never do", "dtd")
        if not self._cdata and data.find(b"<![CDATA[", 0, end + self._KEEP) < 0:
            # The common case, at C speed: only the token running across chunks can grow past
            # the limit, unless the chunk itself is longer than the limit.
            first, last = data.find(b"<", 0, end), data.rfind(b"<", 0, end)
            if first < 0:
                self._grow(end)
                return
            self._grow(first)
            if end > self.limit:
                self._run = 0
                self._grow(max(map(len, data[first + 1:last].split(b"<"))))
            self._run = 0
            self._grow(end - last - 1)
            return
        i = 0
        while i < end:
            if self._cdata:
                close = data.find(b"]]>", i)
                if close < 0 or close >= end:
                    self._grow(end - i)
                    return
                self._grow(close - i)
                self._cdata, self._run, i = False, 0, close + 3
                continue
            lt = data.find(b"<", i, end)
            if lt < 0:
                self._grow(end - i)
                return
            self._grow(lt - i)
            self._run = 0
            if data.startswith(b"<![CDATA[", lt):
                self._cdata, i = True, lt + 9
            else:
                i = lt + 1
        # A marker that ran past `end` is seen again in the bytes kept back: harmless, its tail
        # holds no "<" and only adds a few bytes to the current token.

    def _grow(self, n: int) -> None:
        self._run += n
        if self._run > self.limit:
            raise FileTooLargeUncompressed(
                f"the .xlsx part {self.part[:100]} holds a single cell, tag or text over {self.limit} bytes",
                details={"part": self.part[:100], "reason": "token", "limit": self.limit})


class _parser_errors:
    """openpyxl and zipfile answer a damaged workbook with whatever exception their code meets
    (ParseError, zlib.error, EOFError, BadZipFile, KeyError, TypeError, IndexError, ...). Around
    calls into them, and only there, any such exception is the file's fault: a MalformedFile naming
    the exception class (never its text, which may quote the file). BadFile and MemoryError pass."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None or isinstance(exc, (BadFile, MemoryError)) or not isinstance(exc, Exception):
            return  # never swallows an exception: it passes, or becomes a MalformedFile
        raise MalformedFile("the .xlsx file is damaged and cannot be read",
                            details={"parser_error": exc_type.__name__}) from exc


def _sheet_rows(spool: IO[bytes], required: tuple[str, ...], limits: IntakeLimits) -> Iterator[Row]:
    from openpyxl import load_workbook  # heavy import, only for Excel uploads

    with _parser_errors():
        workbook = load_workbook(spool, read_only=True, data_only=True)
    rows: Generator[tuple[int, list[tuple[int, object]]], None, None] | None = None
    try:
        with _parser_errors():
            if not workbook.worksheets:
                raise EmptyFile("the workbook has no sheet")
            rows = _stored_rows(workbook, workbook.worksheets[0])
        header: list[str] | None = None
        while True:
            with _parser_errors():
                item = next(rows, None)
            if item is None:
                break
            number, cells = item
            if header is None:
                header = _header(cells)
                if header:
                    _check_columns(header, required)
                else:
                    header = None  # blank rows above the header
                continue
            row = _xlsx_row(number, cells, header, limits)
            if row is not None:
                yield number, row
        if header is None:
            raise EmptyFile("the first sheet is empty")
    finally:
        with _parser_errors():
            if rows is not None:
                rows.close()  # releases the XML parser now, not in whatever order the GC picks
            workbook.close()


def _stored_rows(workbook, sheet) -> Generator[tuple[int, list[tuple[int, object]]], None, None]:
    """(row number, [(column, value), ...]) exactly as the sheet XML stores them. A read-only
    worksheet stops at the row count the file declares and silently skips a row numbered lower
    than one before it, each losing rows; so the parser it uses is driven directly, and rows (and
    the cells in a row) must come in strictly increasing order, as every spreadsheet writes them."""
    from openpyxl.worksheet._reader import WorkSheetParser  # what ReadOnlyWorksheet iterates

    with workbook._archive.open(sheet._worksheet_path) as source:
        parser = WorkSheetParser(source, sheet._shared_strings, data_only=True, epoch=workbook.epoch,
                                 date_formats=workbook._date_formats,
                                 timedelta_formats=workbook._timedelta_formats)
        previous = 0
        for number, cells in parser.parse():
            if number <= previous:
                raise MalformedFile(f"row {number} comes after row {previous}: rows are out of order",
                                    details={"row": number})
            previous = number
            out: list[tuple[int, object]] = []
            for cell in cells:
                column = cell["column"]
                if cell["row"] != number or column < 1 or (out and column <= out[-1][0]):
                    raise MalformedFile(f"row {number} has cells out of order or outside the row",
                                        details={"row": number})
                out.append((column, cell["value"]))
            yield number, out


def _header(cells: list[tuple[int, object]]) -> list[str]:
    header = [""] * (cells[-1][0] if cells else 0)
    for column, value in cells:
        header[column - 1] = _cell(value).strip().lower()
    while header and not header[-1]:
        header.pop()
    return header


def _xlsx_row(number: int, cells: list[tuple[int, object]], header: list[str],
              limits: IntakeLimits) -> "dict[str, str] | FieldError | None":
    """A row as a dict over the header; None for a blank row. Cells beyond the header must be
    blank; a row over the size cap is rejected before more of it is converted."""
    width = len(header)
    values = [""] * width
    last = size = 0
    largest = (0, 0)
    for column, value in cells:
        text = _cell(value)
        if not text:
            continue
        last, size = column, size + len(text)
        largest = max(largest, (len(text), column))
        if size > limits.max_row_bytes:
            name = printable_name(header[largest[1] - 1] if largest[1] <= width else f"column {largest[1]}")
            return FieldError(number, name, "ROW_TOO_LARGE",
                              f"the row takes more than {limits.max_row_bytes} bytes once stored; "
                              f"its largest field is {name}")
        if column <= width:
            values[column - 1] = text
    if last == 0:
        return None
    if last > width:
        return FieldError(number, "", "BAD_ROW", f"row has {last} cells, the header has {width}")
    row = dict(zip(header, values))
    return shape_error(number, row, limits) or row
