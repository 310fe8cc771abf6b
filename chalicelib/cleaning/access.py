"""The access log: who was shown whose data (a record's cleaning result, a passport, complaints,
dead letters revealed to an operator), and when.

A cleaning result says how a record compares with the population registry, so reading results is
what someone probing the registry would do in bulk. Every read is logged before the result is
returned (a read whose entry cannot be written fails), one entry per read, keeping the reader's
role, identity-provider subject and scope and the record's key, nothing else: no citizen data.
Operators query it by record, by reader or by citizen (`python -m chalicelib.cli access-log ...`);
a citizen reads their own history (`GET /v1/access-log/me`). People are named by their pseudonym
(the keyed `Pseudonyms` of chalicelib/privacy.py), never by citizen id, so the log does not itself leak.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Reader:
    """A caller as the access log and the rate limit see it."""

    role: str
    subject: str
    scope: str  # the facility id, the province code, or "" for national roles

    @classmethod
    def acting(cls, role: str, subject: str, facility_id: str | None, province_code: str | None) -> "Reader":
        scope = facility_id if role == "facility" else province_code if role == "province" else ""
        return cls(role, subject, scope or "")

    def key(self) -> str:
        """A role and the scope it acts for (national roles have none: the person). The by-reader
        index of the log, and the caller whose rate window a submission counts against."""
        return f"{self.role}#{self.scope or self.subject}"


@dataclass(frozen=True)
class Disclosure:
    """One person whose data a read showed: their pseudonym and the keys of what was shown
    (record keys, complaint ids, UVCIs)."""

    person: str
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccessEntry:
    """One read. A cleaning-result read names its record (`facility_id`, `record_id`); any read
    names the people it showed (`people`) and the route or command it went through (`route`)."""

    reader: Reader
    facility_id: str
    record_id: str
    at: datetime
    route: str = ""
    people: tuple[Disclosure, ...] = ()

    def to_dict(self) -> dict:
        out: dict[str, object] = {"at": self.at.isoformat(timespec="seconds"), "role": self.reader.role,
               "subject": self.reader.subject, "scope": self.reader.scope,
               "facility_id": self.facility_id, "record_id": self.record_id}
        if self.route:
            out["route"] = self.route
        if self.people:
            out["people"] = [{"person": d.person, "keys": list(d.keys)} for d in self.people]
        return out


class AccessLog(Protocol):
    def record_read(self, entry: AccessEntry) -> None:
        """Stores one entry durably; raises DependencyUnavailable if it cannot."""

    def reads_of_record(self, facility_id: str, record_id: str, *, since: datetime | None = None) -> list[AccessEntry]:
        """Every kept read of one record's result, oldest first."""

    def reads_by(self, reader_key: str, *, since: datetime | None = None) -> list[AccessEntry]:
        """Every kept read by one reader (`Reader.key()`), oldest first."""

    def latest_reads_of_person(self, person: str, *, before: datetime | None, limit: int) -> list[AccessEntry]:
        """At most `limit` reads that showed one person, newest first, strictly before `before`
        (a page: the citizen's own view must stay bounded however often they were read)."""

    def reads_of_person(self, person: str, *, since: datetime | None = None) -> list[AccessEntry]:
        """Every kept read that showed one person (by pseudonym), oldest first; each entry's
        `people` holds that person's disclosure only."""
