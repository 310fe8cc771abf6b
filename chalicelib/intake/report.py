"""Rejected-rows report for facilities and provinces (CSV, opened in Excel).

Every cell that came from an upload is escaped against CSV/formula injection (OWASP): a value
starting with =, +, -, @, tab or carriage return would be run as a formula by a spreadsheet, so it
is prefixed with a single quote, which spreadsheets display as text.
"""
from __future__ import annotations

import csv
from typing import Iterable, TextIO

from chalicelib.intake.records import FieldError

REPORT_COLUMNS = ("row_number", "field", "code", "message", "original_value")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def write_rejections(out: TextIO, rejections: Iterable[FieldError]) -> int:
    """Writes the report to a text stream (open it with newline=''); returns the rows written."""
    writer = csv.writer(out)
    writer.writerow(REPORT_COLUMNS)
    count = 0
    for r in rejections:
        writer.writerow([str(r.row_number), escape_cell(r.field), r.code, escape_cell(r.message),
                         escape_cell(r.original)])
        count += 1
    return count
