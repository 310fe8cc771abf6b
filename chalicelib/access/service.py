"""Use cases of the access log beyond cleaning results: log that a read showed some people's data,
and show a citizen's history (to the citizen, to an operator).

Reads are logged before anything is returned (a read whose entry cannot be written answers 503,
and shows nothing), one request per read whatever the number of people shown. Citizen ids are
turned into pseudonyms here (the `Pseudonyms` port), so no citizen id reaches the log.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable, Iterable, Mapping

from chalicelib.cleaning.access import AccessEntry, AccessLog, Disclosure, Reader
from chalicelib.privacy import Pseudonyms

# Entries per page of a citizen's own log: a response stays far below Lambda's 6 MB however
# often someone read their data.
MINE_PAGE = 100


class PersonAccessLog:
    def __init__(self, log: AccessLog, pseudonyms: Pseudonyms, clock: Callable[[], datetime]) -> None:
        self._log = log
        self._pseudonyms = pseudonyms
        self._now = clock

    def shown(self, reader: Reader, route: str, people: Mapping[str, Iterable[str]], *,
              record: tuple[str, str] = ("", "")) -> None:
        """`people` (citizen id -> keys of what of theirs is shown) are about to be shown to
        `reader` through `route`. Nothing to log when nobody is shown (an empty list), unless the
        read names a `record` (facility or source, id) that is logged whoever it shows."""
        disclosures = tuple(Disclosure(self._pseudonyms.pseudonym(cid), tuple(dict.fromkeys(keys)))
                            for cid, keys in people.items() if cid)
        if disclosures or record[1]:
            self._log.record_read(AccessEntry(reader, *record, self._now(), route, disclosures))

    def history(self, citizen_id: str, *, since: datetime | None = None) -> list[AccessEntry]:
        """Every kept read of one citizen's data, oldest first (operators)."""
        return self._log.reads_of_person(self._pseudonyms.pseudonym(citizen_id), since=since)

    def mine(self, citizen_id: str, *, before: datetime | None = None) -> dict:
        """A page of a citizen's own history, newest first: who (role and the facility or province
        acting), what, when; `next_before` continues it. Not the staff member's identity-provider
        subject: that is the staff's personal data."""
        page = self._log.latest_reads_of_person(self._pseudonyms.pseudonym(citizen_id), before=before,
                                                limit=MINE_PAGE)
        return {"accesses": [
            {"at": e.at.isoformat(timespec="seconds"), "role": e.reader.role, "scope": e.reader.scope,
             "route": e.route or "GET /v1/vaccination-records/{record_id}",
             "keys": [k for d in e.people for k in d.keys]}
            for e in page],
            "next_before": page[-1].at.isoformat(timespec="microseconds") if len(page) == MINE_PAGE else None}


def people_of(items: Iterable[Mapping], key: str = "complaint_id") -> dict[str, list[str]]:
    """citizen id -> the keys of the items about them, for `shown` (a list of complaints)."""
    out: dict[str, list[str]] = {}
    for item in items:
        out.setdefault(str(item.get("citizen_id") or ""), []).append(str(item.get(key) or ""))
    return out
