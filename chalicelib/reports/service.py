"""Report use cases: national totals, one row per province, one province with its facilities,
passports issued per day, and the CSV export. Reads only the counters (through CounterReader):
a few Gets and Queries per request, whatever the number of records."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Callable, Mapping, Protocol, Sequence

from chalicelib import errors
from chalicelib.identity.provinces import PROVINCES, normalise_province_code
from chalicelib.reports.domain import daily_series, derive, provinces_csv, raw_counts

MAX_DAYS = 366


class CounterReader(Protocol):
    def totals(self, pks: Sequence[str]) -> dict[str, dict[str, int]]:
        """Raw TOTAL counters of the scopes that exist (NATIONAL, PROV#<code>, FAC#<id>)."""

    def facilities(self, province_code: str) -> dict[str, dict[str, int]]:
        """Raw TOTAL counters per facility id of one province."""

    def issued_per_day(self, pk: str, first: date, last: date) -> dict[date, int]: ...


def _row(raw: Mapping[str, int] | None, overdue: int = 0) -> dict:
    return derive(raw_counts(raw), overdue)


def _no_complaints(province_code: str) -> dict[str, int]:
    return {}


class ReportService:
    def __init__(self, counters: CounterReader, clock: Callable[[], datetime],
                 overdue: Callable[[str], dict[str, int]] = _no_complaints) -> None:
        self._counters = counters
        self._now = clock
        # Overdue open complaints per facility of a province (ComplaintService.overdue_counts):
        # one Query per province, made at read time because time, not an event, makes them overdue.
        self._overdue = overdue

    def provinces(self) -> dict:
        """National totals and all 63 provinces (zeros where nothing happened yet), by code."""
        raw = self._counters.totals(["NATIONAL"] + [f"PROV#{c}" for c in PROVINCES])
        overdue = {code: sum(self._overdue(code).values()) for code in PROVINCES}
        return {
            "generated_at": self._now().isoformat(timespec="seconds"),
            "national": _row(raw.get("NATIONAL"), sum(overdue.values())),
            "provinces": [{"province_code": code, "province_name": name,
                           **_row(raw.get(f"PROV#{code}"), overdue[code])} for code, name in PROVINCES.items()],
        }

    def province(self, code: str) -> dict:
        """One province's row and a row per facility that has counted anything there."""
        norm = normalise_province_code(code or "")
        if norm is None:
            raise errors.NotFound("no such province", details={"province_code": code})
        raw = self._counters.totals([f"PROV#{norm}"])
        facilities = self._counters.facilities(norm)
        overdue = self._overdue(norm)
        return {
            "generated_at": self._now().isoformat(timespec="seconds"),
            "province": {"province_code": norm, "province_name": PROVINCES[norm],
                         **_row(raw.get(f"PROV#{norm}"), sum(overdue.values()))},
            "facilities": [{"facility_id": f, **_row(facilities[f], overdue.get(f, 0))} for f in sorted(facilities)],
        }

    def daily(self, days: object = 30, province_code: str | None = None) -> dict:
        """Passports issued per UTC day, the last `days` days up to today, oldest first."""
        try:
            n = int(str(days))
        except ValueError:
            n = 0
        if not 1 <= n <= MAX_DAYS:
            raise errors.ValidationError(f"days must be a whole number from 1 to {MAX_DAYS}",
                                         details={"field": "days"})
        pk = "NATIONAL"
        if province_code:
            norm = normalise_province_code(province_code)
            if norm is None:
                raise errors.NotFound("no such province", details={"province_code": province_code})
            pk = f"PROV#{norm}"
        today = self._now().date()
        per_day = self._counters.issued_per_day(pk, today - timedelta(days=n - 1), today)
        series = daily_series(per_day, today, n)
        return {"scope": pk, "days": n, "series": series}

    def provinces_csv(self) -> str:
        return provinces_csv(self.provinces()["provinces"])
