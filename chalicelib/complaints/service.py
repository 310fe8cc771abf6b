"""Complaint use cases: a citizen files one about their own record; the facility that recorded the
dose works it (start, resolve with a correction, reject with a reason); the province sees the
overdue ones with the facility head accountable for each.

A resolution with a correction goes through the existing CorrectionService: a new version of the
record, verified again by cleaning. The new version drops the record's signing reservation, so the
facility's next signing batch holds the person again and countersigning re-issues the passport
(revoking the old one) because the passport's content digest covers each record version. The
correction is written as the principal working the complaint, so intake authorises it against the
stored record like any other write.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Mapping, Protocol

from chalicelib import errors
from chalicelib.auth.principal import Principal
from chalicelib.complaints import domain
from chalicelib.complaints.domain import Complaint, Resolution, WorkingCalendar
from chalicelib.identity import normalise_province_code

MAX_KEY = 128
# How long a change that corrects the record holds the complaint: longer than any API call lives
# (the function's timeout), so a claim lapses only when its holder died.
CLAIM_LEASE = timedelta(minutes=15)


@dataclass(frozen=True)
class CitizenRecord:
    facility_id: str
    record_id: str
    province_code: str


class CitizenRecords(Protocol):
    def find(self, citizen_id: str, record_id: str) -> list[CitizenRecord]:
        """The citizen's own records with this id (one per facility that used it); records of
        other people are never found."""


class ComplaintStore(Protocol):
    def create(self, complaint: Complaint, idempotency_key: str) -> Complaint:
        """Stores a new complaint and counts it once; if the citizen already filed one for this
        record with this key, returns that one instead and counts nothing."""

    def get(self, complaint_id: str) -> Complaint | None: ...

    def claim(self, complaint: Complaint, *, token: str, until: datetime, now: datetime) -> None:
        """Holds the complaint for one change that corrects its record, so no other change is
        stored while the record is being corrected: only if the stored version is still
        `complaint.version` and no other unexpired claim holds it (else Conflict)."""

    def release(self, complaint: Complaint, *, token: str) -> None:
        """Drops this claim if it still holds (a change that failed after claiming)."""

    def save_change(self, complaint: Complaint, *, expected_version: int, now: datetime,
                    claim: str | None = None) -> None:
        """Stores a status change if the stored version is still `expected_version` and no claim
        but `claim` (if any) holds the complaint (else Conflict); counts complaints_resolved in the
        same write when it closes the complaint, and drops the claim."""

    def for_facility(self, facility_id: str, status: str | None) -> list[Complaint]: ...

    def for_citizen(self, citizen_id: str) -> list[Complaint]: ...

    def open_due_before(self, province_code: str, before: datetime) -> list[Complaint]:
        """Open complaints of a province whose due date is before `before`, earliest first."""


class Corrector(Protocol):
    def correct(self, facility_id: str, record_id: str, *, writer: Principal, accept_suggestion: bool = False,
                changes: Mapping[str, object] | None = None) -> dict: ...


class FacilityHeads(Protocol):
    def head(self, facility_id: str) -> str | None:
        """The name of the head of a registered facility (accountable for its complaints)."""


@dataclass(frozen=True)
class Actor:
    """Who changes a complaint, as recorded in its history (a role and the scope acted for)."""

    role: str
    scope: str

    def __str__(self) -> str:
        return f"{self.role}:{self.scope}"


class ComplaintService:
    def __init__(self, records: CitizenRecords, store: ComplaintStore, corrector: Corrector, heads: FacilityHeads,
                 clock: Callable[[], datetime], *, sla_working_days: int,
                 calendar: WorkingCalendar = domain.VIETNAM,
                 new_id: Callable[[], str] = lambda: f"CMP{uuid.uuid4().hex[:16]}",
                 new_claim: Callable[[], str] = lambda: uuid.uuid4().hex) -> None:
        self._records = records
        self._store = store
        self._corrector = corrector
        self._heads = heads
        self._now = clock
        self._sla = sla_working_days
        self._calendar = calendar
        self._new_id = new_id
        self._new_claim = new_claim

    # -- citizen ------------------------------------------------------------------------------
    def file(self, citizen_id: str, body: Mapping[str, object], idempotency_key: str | None) -> dict:
        if not idempotency_key or len(idempotency_key) > MAX_KEY:
            raise errors.ValidationError("an Idempotency-Key header (up to 128 characters) is required",
                                         details={"field": "Idempotency-Key"})
        filing = domain.validate_filing(body)
        record = self._pick(self._records.find(citizen_id, filing.record_id), filing.facility_id)
        if record is None:
            raise errors.NotFound("no such record of yours", details={"record_id": filing.record_id})
        now = self._now()
        complaint = domain.new_complaint(
            complaint_id=self._new_id(), citizen_id=citizen_id, facility_id=record.facility_id,
            province_code=record.province_code, record_id=record.record_id, fields=filing.fields,
            proposed=filing.proposed, text=filing.text, now=now, sla_working_days=self._sla,
            calendar=self._calendar)
        return self._store.create(complaint, idempotency_key).to_dict(now)

    @staticmethod
    def _pick(found: list[CitizenRecord], facility_id: str | None) -> CitizenRecord | None:
        # Record ids are unique per facility only: two facilities may have used the same one.
        if facility_id is not None:
            found = [r for r in found if r.facility_id == facility_id]
        if len(found) > 1:
            raise errors.ValidationError("several of your records have this id; name the facility_id",
                                         details={"field": "facility_id"})
        return found[0] if found else None

    def mine(self, citizen_id: str) -> dict:
        now = self._now()
        return {"complaints": [c.to_dict(now) for c in self._store.for_citizen(citizen_id)]}

    # -- staff --------------------------------------------------------------------------------
    def get(self, complaint_id: str) -> Complaint:
        complaint = self._store.get(complaint_id)
        if complaint is None:
            raise errors.NotFound("no such complaint", details={"complaint_id": complaint_id})
        return complaint

    def view(self, complaint: Complaint) -> dict:
        return complaint.to_dict(self._now())

    def for_facility(self, facility_id: str, status: str | None = None, order: str = "due") -> dict:
        if status is not None and status not in domain.STATUSES:
            raise errors.ValidationError("unknown status", details={"field": "status",
                                                                    "allowed": list(domain.STATUSES)})
        if order not in ("due", "newest"):
            raise errors.ValidationError("order is due or newest", details={"field": "order"})
        found = self._store.for_facility(facility_id, status)
        found.sort(key=(lambda c: (c.due_at, c.complaint_id)) if order == "due"
                   else (lambda c: (c.filed_at, c.complaint_id)), reverse=order == "newest")
        now = self._now()
        return {"facility_id": facility_id, "complaints": [c.to_dict(now) for c in found]}

    def overdue_in_province(self, province_code: str) -> dict:
        # '1', '01' and '001' are one province (the route authorised it that way): the open
        # complaints are kept under the 3-digit code, and '1' must not read as "nothing overdue".
        code = normalise_province_code(province_code or "")
        if code is None:
            raise errors.NotFound("no such province", details={"province_code": province_code})
        province_code = code
        now = self._now()
        found = self._store.open_due_before(province_code, now)
        heads = {f: self._heads.head(f) for f in {c.facility_id for c in found}}
        return {"province_code": province_code, "as_of": now.isoformat(timespec="seconds"),
                "complaints": [{**c.to_dict(now), "facility_head": heads[c.facility_id]} for c in found]}

    def overdue_counts(self, province_code: str) -> dict[str, int]:
        """Overdue open complaints per facility of a province (for the progress reports)."""
        counts: dict[str, int] = {}
        for c in self._store.open_due_before(province_code, self._now()):
            counts[c.facility_id] = counts.get(c.facility_id, 0) + 1
        return counts

    def change_status(self, complaint: Complaint, body: Mapping[str, object], actor: Actor, *,
                      writer: Principal) -> dict:
        """start (in_progress), resolve (optionally with a correction of the record: `correction`
        fields, or `apply_proposed` for the citizen's proposal), reject (with a reason). A
        correction is written as `writer`, authorised again on the stored record by intake."""
        status = body.get("status")
        reason = body.get("reason")
        reason = domain.clean_text(reason, field_name="reason", limit=domain.MAX_REASON, multiline=True) \
            if reason is not None else None
        correction = domain.validate_values(body.get("correction"), field_name="correction",
                                            allowed=domain.COMPLAINABLE)
        if body.get("apply_proposed") is True:
            correction = {**complaint.proposed, **correction}  # the facility may edit what was proposed
        if correction and status != domain.RESOLVED:
            raise errors.ValidationError("a correction goes with status resolved", details={"field": "correction"})
        now = self._now()
        # Check the transition before touching the record: a closed complaint corrects nothing.
        complaint.move_to(str(status), actor=str(actor), now=now, reason=reason)
        resolution = None
        if status == domain.REJECTED:
            resolution = Resolution("rejected", reason)
        elif status == domain.RESOLVED:
            resolution = Resolution("resolved", reason)
        token = None
        if status == domain.RESOLVED and correction:
            # Claimed before the record is touched: of two people resolving (or one resolving, one
            # rejecting) at once, the one refused has corrected nothing. The record first, then
            # the complaint: if the complaint write fails, the claim is dropped, and a retry
            # corrects the record to the same values again, which intake treats as an unchanged
            # duplicate, so nothing is corrected twice.
            token = self._new_claim()
            self._store.claim(complaint, token=token, until=now + CLAIM_LEASE, now=now)
        try:
            if token is not None:
                out = self._corrector.correct(complaint.facility_id, complaint.record_id, changes=correction,
                                              writer=writer)
                resolution = Resolution("corrected", reason, correction, out.get("version"))
            changed = complaint.move_to(str(status), actor=str(actor), now=now, reason=reason, resolution=resolution)
            self._store.save_change(changed, expected_version=complaint.version, now=now, claim=token)
        except BaseException:
            if token is not None:
                self._store.release(complaint, token=token)
            raise
        return changed.to_dict(now)

