"""Progress report figures, derived from the incremental counters. Pure: no AWS, no HTTP.

The counters are kept as events happen (intake, cleaning, corrections, facility signing,
countersigning, complaints) in the counters table, per scope: NATIONAL, PROV#<code>, FAC#<id>.
A report row is those raw counts plus a few derived figures; each formula is written down here,
once, because the dashboard, the JSON routes and the CSV export must all mean the same thing.

Units matter: intake and cleaning count dose *records* (one per vaccination event), signing and
passports count *people* (one passport per person, whatever their number of doses).
"""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Iterable, Mapping

from chalicelib.intake.report import escape_cell

# The numeric attributes of a TOTAL counter item that reports use, in report order. (The model
# also has `duplicates` and `rejected`, which are kept per batch, not per scope.)
COUNTERS: tuple[str, ...] = (
    "received",
    "verified", "verified_normalized", "mismatched", "not_found", "ambiguous", "invalid", "corrected",
    "signed_by_facility", "passports_issued", "passports_revoked",
    "complaints_received", "complaints_resolved",
    # Security events of the countersign worker (booked on the logged attestation's facility and
    # province, or only nationally when the message names no logged attestation).
    "countersign_chunks_refused", "countersign_entries_not_attested",
)

# Cleaning outcomes: each stored record adds 1 to exactly one of these once it has been verified.
OUTCOME_COUNTERS: tuple[str, ...] = (
    "verified", "verified_normalized", "mismatched", "not_found", "ambiguous", "invalid")


def scope_keys(facility_id: str | None, province_code: str | None) -> list[str]:
    """The counter items (pk) one event adds to: the nation, its province and its facility."""
    keys = ["NATIONAL"]
    if province_code:
        keys.append(f"PROV#{province_code}")
    if facility_id:
        keys.append(f"FAC#{facility_id}")
    return keys


def raw_counts(values: Mapping[str, float | int | None] | None) -> dict[str, int]:
    """The counters of one scope with missing attributes as 0 (ADD creates them lazily)."""
    values = values or {}
    return {k: int(values.get(k) or 0) for k in COUNTERS}


def derive(raw: Mapping[str, int], complaints_overdue: int = 0) -> dict:
    """One report row from one scope's raw counters.

    - doses_received: records stored for the first time (a new version of a known record, a
      duplicate upload or a rejected row adds nothing).
    - verified = verified + verified_normalized: records that matched the registry, exactly or
      after normalising the form (diacritics, spacing, date format).
    - needs_correction = mismatched + not_found + ambiguous + invalid: records whose latest
      version was checked and did not verify; the facility has to act.
    - cleaning_backlog = received - (verified + verified_normalized + mismatched + not_found
      + ambiguous + invalid): records not verified yet at all (waiting in the cleaning queue).
      A correction does not enlarge it: the record keeps its counted outcome until the new
      version is verified, then the count moves from the old outcome to the new one.
    - people_with_passport = passports_issued - passports_revoked. A re-issue (new doses, a
      corrected name) stores a new version and revokes the previous one in the same
      transaction, so it adds 1 to both: the number of people holding a valid passport does not
      change. The revoked count is booked on the scope of the new version (its facility and
      province), so a person re-issued by another facility moves there.
    - issuing_progress = people_with_passport / signed_by_facility: of the people the facility
      heads attested, the share the ministry has countersigned. None while nobody was signed
      (no denominator); may exceed 1 only if passports were issued without going through
      facility signing (tests, replays), which the dashboard shows capped at 100%.
      (Verified *records* are not the denominator: a person has one passport for several doses.)
    - complaint_backlog = complaints_received - complaints_resolved.
    - complaints_overdue: open complaints past their due date. Not a counter (time makes a
      complaint overdue, no event does): counted at read time by the complaints context, one
      Query per province, and passed in here.
    """
    verified = raw["verified"] + raw["verified_normalized"]
    needs_correction = raw["mismatched"] + raw["not_found"] + raw["ambiguous"] + raw["invalid"]
    checked = verified + needs_correction
    people = raw["passports_issued"] - raw["passports_revoked"]
    signed = raw["signed_by_facility"]
    return {
        "doses_received": raw["received"],
        "verified": verified,
        "verified_exact": raw["verified"],
        "verified_normalized": raw["verified_normalized"],
        "mismatched": raw["mismatched"],
        "not_found": raw["not_found"],
        "ambiguous": raw["ambiguous"],
        "invalid": raw["invalid"],
        "needs_correction": needs_correction,
        "corrected": raw["corrected"],
        "cleaning_backlog": raw["received"] - checked,
        "signed_by_facility": signed,
        "passports_issued": raw["passports_issued"],
        "passports_revoked": raw["passports_revoked"],
        "people_with_passport": people,
        "issuing_progress": round(people / signed, 4) if signed > 0 else None,
        "complaints_received": raw["complaints_received"],
        "complaints_resolved": raw["complaints_resolved"],
        "complaints_overdue": complaints_overdue,
        "complaint_backlog": raw["complaints_received"] - raw["complaints_resolved"],
    }


ROW_FIELDS: tuple[str, ...] = tuple(derive(raw_counts({})))


def daily_series(per_day: Mapping[date, int], last: date, days: int) -> list[dict]:
    """`days` consecutive days ending with `last`, oldest first, 0 where nothing was issued."""
    first = last - timedelta(days=days - 1)
    return [{"date": (first + timedelta(days=i)).isoformat(),
             "passports_issued": int(per_day.get(first + timedelta(days=i), 0))} for i in range(days)]


CSV_HEADER = ("province_code", "province_name") + ROW_FIELDS


def provinces_csv(rows: Iterable[Mapping]) -> str:
    """The province report as CSV for Excel: a BOM so Excel reads UTF-8 (Vietnamese names
    intact), CRLF line ends, and every text cell escaped against formula injection."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(CSV_HEADER)
    for r in rows:
        w.writerow([escape_cell(str(r["province_code"])), escape_cell(str(r["province_name"]))]
                   + ["" if r[f] is None else r[f] for f in ROW_FIELDS])
    return "\ufeff" + buf.getvalue()
