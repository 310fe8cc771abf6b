"""Hostile upload files for the intake tests: damaged and oversized workbooks, built from a valid
one so that each differs from a good file by exactly the attack it carries."""
from __future__ import annotations

import io
import struct
import zipfile
import zlib
from typing import Callable, Iterable

from openpyxl import Workbook

SHEET = "xl/worksheets/sheet1.xml"


def xlsx(rows: Iterable[Iterable[object]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    for r in rows:
        ws.append(list(r))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i.filename) for i in z.infolist()}


def rezip(files: dict[str, bytes]) -> bytes:
    """The files zipped as a workbook is: deflated (empty ones stored, which deflate would not
    shrink: a zip of thousands of empty parts is built in a tenth of the time)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in files.items():
            z.writestr(name, body, compress_type=zipfile.ZIP_DEFLATED if body else zipfile.ZIP_STORED)
    return out.getvalue()


def with_part(data: bytes, name: str, change: Callable[[bytes], bytes]) -> bytes:
    """The workbook with one part's XML changed, re-zipped (so its CRC is right)."""
    files = parts(data)
    files[name] = change(files[name])
    return rezip(files)


def broken_xml(data: bytes) -> bytes:
    """The sheet XML cut off in the middle of a tag: a well-formed zip around broken XML."""
    return with_part(data, SHEET, lambda x: x[: x.index(b"</sheetData>") - 7])


def truncated_member(data: bytes) -> bytes:
    """The sheet part's compressed data cut in half while the zip directory stays whole (an upload
    cut short and re-zipped by a broken tool): the archive opens, the sheet cannot be inflated."""
    files = parts(data)
    sheet = files.pop(SHEET)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)  # a raw deflate stream, as zip holds it
    deflated = deflater.compress(sheet) + deflater.flush()
    cut = deflated[: len(deflated) // 2]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in files.items():
            z.writestr(name, body)
        z.writestr(zipfile.ZipInfo(SHEET), cut, compress_type=zipfile.ZIP_STORED)
    raw = bytearray(out.getvalue())
    # Relabel the stored half-stream as deflated data of the whole sheet, in both headers.
    crc = zipfile.crc32(sheet)
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as z:
        local = z.getinfo(SHEET).header_offset
    struct.pack_into("<H", raw, local + 8, zipfile.ZIP_DEFLATED)
    struct.pack_into("<I", raw, local + 14, crc)
    struct.pack_into("<I", raw, local + 22, len(sheet))
    central = raw.rindex(b"PK\x01\x02")
    struct.pack_into("<H", raw, central + 10, zipfile.ZIP_DEFLATED)
    struct.pack_into("<I", raw, central + 16, crc)
    struct.pack_into("<I", raw, central + 24, len(sheet))
    return bytes(raw)


def bomb(data: bytes, expand_mib: int) -> bytes:
    """A workbook whose sheet holds one cell of `expand_mib` MiB of the same letter: a few hundred
    KB that a parser would expand to that size in memory. Written in pieces, so building it never
    holds the expanded text."""
    files = parts(data)
    sheet = files.pop(SHEET)
    head, tail = sheet.split(b"</sheetData>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, body in files.items():
            z.writestr(name, body)
        with z.open(SHEET, "w") as f:
            f.write(head + b'<row r="99"><c r="A99" t="inlineStr"><is><t>')
            block = b"A" * (1024 * 1024)
            for _ in range(expand_mib):
                f.write(block)
            f.write(b"</t></is></c></row></sheetData>" + tail)
    return out.getvalue()
