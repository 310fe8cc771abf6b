"""Use case: clean a stream of raw rows (from any reader) against a registry.

Shared by the offline CLI and (`prepare_row`, then the matcher per chunk) by the SQS cleaning
worker, so both treat invalid rows the same way: an INVALID result carrying the field errors,
never an exception.
"""
from __future__ import annotations

from datetime import date
from typing import Iterable, Iterator

from chalicelib.cleaning.matcher import CleaningResult, Matcher, invalid_result
from chalicelib.intake.records import FieldError, VaccinationRecord, validate_row


def prepare_row(row_number: int, row: "dict[str, str] | FieldError", *, default_facility: str | None = None,
                default_province: str | None = None, today: date | None = None
                ) -> VaccinationRecord | CleaningResult:
    """The row as a record to match, or its INVALID result (nothing to match on)."""
    if isinstance(row, FieldError):
        return invalid_result("", [row])
    record = validate_row(row, row_number=row_number, default_facility=default_facility,
                          default_province=default_province, today=today)
    if isinstance(record, list):
        return invalid_result(str(row.get("record_id", "")), record)
    return record


def clean_row(matcher: Matcher, row_number: int, row: "dict[str, str] | FieldError", *,
              default_facility: str | None = None, default_province: str | None = None,
              today: date | None = None) -> CleaningResult:
    prepared = prepare_row(row_number, row, default_facility=default_facility,
                           default_province=default_province, today=today)
    return prepared if isinstance(prepared, CleaningResult) else matcher.clean(prepared)


def clean_rows(matcher: Matcher, rows: Iterable[tuple[int, "dict[str, str] | FieldError"]], *,
               default_facility: str | None = None, default_province: str | None = None,
               today: date | None = None) -> Iterator[CleaningResult]:
    for number, row in rows:
        yield clean_row(matcher, number, row, default_facility=default_facility,
                        default_province=default_province, today=today)
