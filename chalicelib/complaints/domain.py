"""Citizen complaints ("phản ánh") about their vaccination data. Pure: no AWS, no HTTP.

A citizen says a record is wrong (which fields, what they should be, free text). The complaint is
routed to the facility that recorded the dose, which must answer by a due date: N working days
after filing (Settings.complaint_sla_working_days). The facility starts work on it, then resolves
it (usually with a correction of the record) or rejects it with a reason. A closed complaint is
final: a citizen who disagrees files a new one, so the history of each complaint stays honest.

    received --> in_progress --> resolved | rejected
    received ------------------> resolved | rejected
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Iterable, Mapping

from chalicelib import errors
from chalicelib.timestamps import iso_seconds

RECEIVED, IN_PROGRESS, RESOLVED, REJECTED = "received", "in_progress", "resolved", "rejected"
STATUSES = (RECEIVED, IN_PROGRESS, RESOLVED, REJECTED)
OPEN = (RECEIVED, IN_PROGRESS)
TRANSITIONS: Mapping[str, frozenset[str]] = {
    RECEIVED: frozenset({IN_PROGRESS, RESOLVED, REJECTED}),
    IN_PROGRESS: frozenset({RESOLVED, REJECTED}),
    RESOLVED: frozenset(),
    REJECTED: frozenset(),
}

# What a citizen may say is wrong. Not the citizen id (that is who they are, from the token) nor
# the facility's province (routing, not the citizen's data); a subset of what a correction edits.
COMPLAINABLE = ("full_name", "date_of_birth", "sex", "phone", "vaccine_product", "lot_number",
                "dose_number", "vaccination_date")
MAX_TEXT = 2000
MAX_VALUE = 200
MAX_REASON = 1000
# Free text may span lines; every other control character (NUL, terminal escapes) is refused rather
# than stored and shown to staff. Format characters (Cf, e.g. zero-width joiners) occur in real text.
_TEXT_CONTROLS_ALLOWED = {"\n", "\r", "\t"}


class InvalidTransition(errors.Conflict):
    code = "COMPLAINT_STATUS_CONFLICT"


# -- working days -----------------------------------------------------------------------------
# Public holidays of Viet Nam (Labour Code 2019, art. 112): fixed solar days every year, plus the
# lunar ones (Tết, Hùng Kings) whose solar dates the government announces each year. The list is
# data the calendar is built from, so a deployment can pass the year's official list instead.
VN_FIXED_HOLIDAYS = ((1, 1), (4, 30), (5, 1), (9, 2))
VN_LUNAR_HOLIDAYS = frozenset(
    [date(2025, 1, 25) + timedelta(days=i) for i in range(9)]      # Tết Ất Tỵ, as announced
    + [date(2025, 4, 7), date(2025, 9, 1)]                          # Hùng Kings; day next to 2/9
    + [date(2026, 2, 14) + timedelta(days=i) for i in range(9)]     # Tết Bính Ngọ, as announced
    + [date(2026, 4, 27), date(2026, 9, 1)])                        # Hùng Kings (in lieu); 2/9


@dataclass(frozen=True)
class WorkingCalendar:
    """Saturdays and Sundays are not working days, nor the holidays given."""

    holidays: frozenset[date] = frozenset()
    yearly: tuple[tuple[int, int], ...] = ()

    def is_working_day(self, d: date) -> bool:
        return d.weekday() < 5 and d not in self.holidays and (d.month, d.day) not in self.yearly

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The same time of day, `days` working days after `start` (filed on a weekend, the
        count starts with the next working day)."""
        if days < 0:
            raise ValueError("days must not be negative")  # configuration error, not user input
        d, counted = start.date(), 0
        while counted < days:
            d += timedelta(days=1)
            if self.is_working_day(d):
                counted += 1
        return datetime.combine(d, start.timetz())


VIETNAM = WorkingCalendar(VN_LUNAR_HOLIDAYS, VN_FIXED_HOLIDAYS)


# -- the complaint ----------------------------------------------------------------------------
@dataclass(frozen=True)
class StatusChange:
    status: str
    actor: str
    at: datetime
    reason: str | None = None

    def to_dict(self) -> dict:
        return {"status": self.status, "actor": self.actor, "at": iso_seconds(self.at),
                **({"reason": self.reason} if self.reason else {})}


@dataclass(frozen=True)
class Resolution:
    kind: str  # "corrected" | "rejected" | "resolved" (closed without a change to the record)
    reason: str | None = None
    correction: Mapping[str, str] = field(default_factory=dict)
    record_version: int | None = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "reason": self.reason, "correction": dict(self.correction),
                "record_version": self.record_version}


@dataclass(frozen=True)
class Complaint:
    complaint_id: str
    citizen_id: str
    facility_id: str
    province_code: str
    record_id: str
    fields: tuple[str, ...]
    proposed: Mapping[str, str]
    text: str
    filed_at: datetime
    due_at: datetime
    status: str = RECEIVED
    history: tuple[StatusChange, ...] = ()
    resolution: Resolution | None = None
    version: int = 1  # optimistic concurrency: every stored change adds 1

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def is_overdue(self, now: datetime) -> bool:
        return self.is_open and now > self.due_at

    def move_to(self, status: str, *, actor: str, now: datetime, reason: str | None = None,
                resolution: Resolution | None = None) -> "Complaint":
        """The complaint after a status change; InvalidTransition (409) if the change is not allowed."""
        if status not in STATUSES:
            raise errors.ValidationError("unknown status", details={"field": "status", "allowed": list(STATUSES)})
        if status not in TRANSITIONS[self.status]:
            raise InvalidTransition(f"a {self.status} complaint cannot become {status}",
                                    details={"from": self.status, "to": status,
                                             "allowed": sorted(TRANSITIONS[self.status])})
        if status == REJECTED and not reason:
            raise errors.ValidationError("a rejection needs a reason", details={"field": "reason"})
        return replace(self, status=status, version=self.version + 1,
                       history=self.history + (StatusChange(status, actor, now, reason),),
                       resolution=resolution if status in (RESOLVED, REJECTED) else self.resolution)

    def to_dict(self, now: datetime | None = None) -> dict:
        out = {"complaint_id": self.complaint_id, "citizen_id": self.citizen_id, "facility_id": self.facility_id,
               "province_code": self.province_code, "record_id": self.record_id, "fields": list(self.fields),
               "proposed": dict(self.proposed), "text": self.text, "status": self.status,
               "filed_at": iso_seconds(self.filed_at), "due_at": iso_seconds(self.due_at),
               "history": [h.to_dict() for h in self.history],
               "resolution": self.resolution.to_dict() if self.resolution else None, "version": self.version}
        if now is not None:
            out["overdue"] = self.is_overdue(now)
        return out

    @classmethod
    def from_dict(cls, d: Mapping) -> "Complaint":
        res = d.get("resolution")
        return cls(
            d["complaint_id"], d["citizen_id"], d["facility_id"], d["province_code"], d["record_id"],
            tuple(d["fields"]), dict(d["proposed"]), d["text"], datetime.fromisoformat(d["filed_at"]),
            datetime.fromisoformat(d["due_at"]), d["status"],
            tuple(StatusChange(h["status"], h["actor"], datetime.fromisoformat(h["at"]), h.get("reason"))
                  for h in d["history"]),
            Resolution(res["kind"], res.get("reason"), dict(res.get("correction") or {}), res.get("record_version"))
            if res else None,
            int(d["version"]))


def new_complaint(*, complaint_id: str, citizen_id: str, facility_id: str, province_code: str, record_id: str,
                  fields: Iterable[str], proposed: Mapping[str, str], text: str, now: datetime,
                  sla_working_days: int, calendar: WorkingCalendar) -> Complaint:
    """A just-filed complaint; the inputs must have been through `validate_filing`."""
    return Complaint(complaint_id, citizen_id, facility_id, province_code, record_id, tuple(fields),
                     dict(proposed), text, now, calendar.add_working_days(now, sla_working_days),
                     history=(StatusChange(RECEIVED, "citizen", now),))


# -- validation of what callers send ----------------------------------------------------------
@dataclass(frozen=True)
class Filing:
    record_id: str
    facility_id: str | None
    fields: tuple[str, ...]
    proposed: Mapping[str, str]
    text: str


def validate_filing(body: Mapping[str, object]) -> Filing:
    """A citizen's complaint body -> Filing; ValidationError (400) naming the first bad field."""
    record_id = body.get("record_id")
    if not isinstance(record_id, str) or not record_id.strip() or len(record_id) > 64:
        raise errors.ValidationError("record_id is required", details={"field": "record_id"})
    proposed = validate_values(body.get("proposed"), field_name="proposed", allowed=COMPLAINABLE)
    raw_fields = body.get("fields", [])
    if not isinstance(raw_fields, list) or not all(isinstance(f, str) for f in raw_fields):
        raise errors.ValidationError("fields must be a list of field names", details={"field": "fields"})
    unknown = sorted(set(raw_fields) - set(COMPLAINABLE))
    if unknown:
        raise errors.ValidationError("these fields cannot be complained about",
                                     details={"field": "fields", "fields": unknown, "allowed": list(COMPLAINABLE)})
    fields = tuple(dict.fromkeys([*raw_fields, *proposed]))
    if not fields:
        raise errors.ValidationError("name the fields that are wrong (fields or proposed)",
                                     details={"field": "fields"})
    text = clean_text(body.get("text", ""), field_name="text", limit=MAX_TEXT, multiline=True)
    facility_id = body.get("facility_id")
    if facility_id is not None and (not isinstance(facility_id, str) or not facility_id or len(facility_id) > 64):
        raise errors.ValidationError("facility_id must be a facility id", details={"field": "facility_id"})
    return Filing(record_id.strip(), facility_id, fields, proposed, text)


def validate_values(raw: object, *, field_name: str, allowed: Iterable[str]) -> dict[str, str]:
    """{field: value} with known fields and short single-line text values."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise errors.ValidationError(f"{field_name} must be an object", details={"field": field_name})
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise errors.ValidationError(f"{field_name}: these fields cannot be changed",
                                     details={"field": field_name, "fields": unknown})
    return {k: clean_text(v, field_name=f"{field_name}.{k}", limit=MAX_VALUE, multiline=False)
            for k, v in raw.items()}


def clean_text(value: object, *, field_name: str, limit: int, multiline: bool) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise errors.ValidationError(f"{field_name} must be text", details={"field": field_name})
    if len(value) > limit:
        raise errors.ValidationError(f"{field_name} is longer than {limit} characters",
                                     details={"field": field_name, "max": limit})
    allowed = _TEXT_CONTROLS_ALLOWED if multiline else set()
    if any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in value):
        raise errors.ValidationError(f"{field_name} contains control characters", details={"field": field_name})
    return unicodedata.normalize("NFC", value.strip())
