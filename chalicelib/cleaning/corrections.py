"""A facility looks at a record's cleaning result and corrects it: by accepting the suggestion
(the registry's values) or by editing fields. The engine never changes a record by itself; a
correction is a new version of the record, verified again through the cleaning queue.

A correction goes through intake like any write, as its caller (`writer`): authorised on the
corrected record and on the stored owner, never moving the record (facility and province are not
correctable). It is made on the version read, so it is stored only on top of that version; when
someone else wrote meanwhile, the record is read again and the changes applied to the new version.
Unlike an upload, a correction may restore an earlier version's values: it is the owner's
explicit way back.

A result is only ever shown as `disclosure.facility_view` (applied again on every read), and
every showing is written to the access log first."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Mapping, Protocol

from chalicelib import errors
from chalicelib.auth.principal import Principal
from chalicelib.cleaning.access import AccessEntry, AccessLog, Disclosure, Reader
from chalicelib.cleaning.disclosure import facility_view
from chalicelib.privacy import Pseudonyms
from chalicelib.intake.service import IntakeService, Writer

# Not facility_id nor province_code: who owns a record never changes through a correction.
EDITABLE = ("citizen_id", "full_name", "date_of_birth", "sex", "phone",
            "vaccine_product", "lot_number", "dose_number", "vaccination_date", "country")
# Re-reads when a concurrent write lands between reading the record and storing the correction.
ATTEMPTS = 3


@dataclass(frozen=True)
class RecordView:
    facility_id: str
    record_id: str
    province_code: str
    version: int
    state: str
    data: Mapping[str, str]
    original: Mapping[str, str]
    cleaning: Mapping | None

    def disclosed(self) -> dict | None:
        return facility_view(self.cleaning, self.data, self.original)

    def to_dict(self) -> dict:
        return {"facility_id": self.facility_id, "record_id": self.record_id, "version": self.version,
                "state": self.state, "record": dict(self.data), "cleaning": self.disclosed()}


class RecordReader(Protocol):
    def get(self, facility_id: str, record_id: str) -> RecordView | None: ...


class CorrectionCounters(Protocol):
    def corrected(self, facility_id: str, province_code: str) -> None: ...


class CorrectionService:
    def __init__(self, reader: RecordReader, intake: IntakeService, counters: CorrectionCounters,
                 access: AccessLog, clock: Callable[[], datetime],
                 pseudonyms: Pseudonyms, new_id: Callable[[], str] = lambda: uuid.uuid4().hex) -> None:
        self._reader = reader
        self._intake = intake
        self._counters = counters
        self._access = access
        self._now = clock
        self._new_id = new_id
        self._pseudonyms = pseudonyms

    def view(self, facility_id: str, record_id: str) -> dict:
        """The record and its (disclosed) result, for authorising a call; `show` it to a caller."""
        return self._get(facility_id, record_id).to_dict()

    def show(self, view: Mapping, reader: Reader) -> dict:
        """`view` is being returned to `reader`: logged first, so no read goes unlogged."""
        facility_id, record_id = str(view["facility_id"]), str(view["record_id"])
        citizen_id = str((view.get("record") or {}).get("citizen_id") or "").strip()
        # The person the record is about, by pseudonym, so it is in their history (access-log --citizen).
        people = (Disclosure(self._pseudonyms.pseudonym(citizen_id), (f"{facility_id}#{record_id}",)),) \
            if citizen_id else ()
        self._access.record_read(AccessEntry(reader, facility_id, record_id, self._now(),
                                             "GET /v1/vaccination-records/{record_id}", people))
        return dict(view)

    def _get(self, facility_id: str, record_id: str) -> RecordView:
        if not facility_id:
            raise errors.ValidationError("facility_id is required", details={"field": "facility_id"})
        rec = self._reader.get(facility_id, record_id)
        if rec is None:
            raise errors.NotFound("no such record", details={"record_id": record_id})
        return rec

    def correct(self, facility_id: str, record_id: str, *, writer: Principal, accept_suggestion: bool = False,
                changes: Mapping[str, object] | None = None) -> dict:
        for _ in range(ATTEMPTS):
            rec = self._get(facility_id, record_id)
            fields = self._fields(rec, accept_suggestion, changes)
            row = {**(rec.original or rec.data), **{k: "" if v is None else str(v) for k, v in fields.items()},
                   "facility_id": facility_id, "record_id": record_id}
            chunk = self._intake.process_rows(f"corr-{self._new_id()}", [(0, row)], writer=Writer(writer),
                                              default_province=rec.province_code,
                                              seen_versions={(facility_id, record_id): rec.version})
            result = chunk.per_row[0]
            if result["status"] == "rejected":
                if any(e["code"] == "CONCURRENT_UPDATE" for e in result["errors"]):
                    continue  # changed meanwhile: apply the changes to the new version
                raise errors.ValidationError("the corrected record is not valid", details={"errors": result["errors"]})
            if result["status"] == "duplicate":
                # No cleaning result in a correction's answer: results are read (and logged) by GET.
                return {"status": "unchanged", "version": rec.version}
            self._counters.corrected(facility_id, rec.province_code)
            return {"status": "corrected", "version": result["version"], "fields": sorted(fields),
                    "verification": "queued"}
        raise errors.Conflict("the record kept changing while it was being corrected; try again")

    @staticmethod
    def _fields(rec: RecordView, accept_suggestion: bool, changes: Mapping[str, object] | None) -> dict:
        if accept_suggestion:
            # Only what the facility was shown: a stored suggestion the rules no longer allow
            # (stored before them, or for an older version) is not applied either.
            suggestion = (rec.disclosed() or {}).get("suggestion") or {}
            if not suggestion:
                raise errors.Conflict("this record has no suggestion to accept", details={"state": rec.state})
            fields = dict(suggestion)
        else:
            fields = dict(changes or {})
            if not fields:
                raise errors.ValidationError("give accept_suggestion=true or the fields to change",
                                             details={"field": "changes"})
        unknown = sorted(set(fields) - set(EDITABLE))
        if unknown:
            raise errors.ValidationError("these fields cannot be corrected", details={"fields": unknown})
        return fields
