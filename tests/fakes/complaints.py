"""Fakes of the complaint ports (chalicelib/complaints/service.py): the complaint store with its
version and claim conditions (tests/contracts/test_complaints.py), the facility heads, and a
corrector standing in for the correction service."""
from __future__ import annotations

from chalicelib import errors


class FakeComplaintStore:
    """Complaints by id. `counters` (a FakeCounters) receives what the adapter adds to the counters
    in the same writes: a filing, a closing."""

    def __init__(self, counters=None) -> None:
        from tests.fakes.reports import FakeCounters

        self.items: dict = {}
        self.keys: dict[tuple, str] = {}
        self.counters = counters if counters is not None else FakeCounters()
        self.claims: dict[str, tuple] = {}  # complaint id -> (token, until)

    def create(self, c, key):
        k = (c.citizen_id, c.facility_id, c.record_id, key)
        if k in self.keys:
            return self.items[self.keys[k]]  # filed before with this key: nothing new counted
        if c.complaint_id in self.items:
            raise errors.Conflict("a concurrent filing with this Idempotency-Key is in progress")
        self.keys[k] = c.complaint_id
        self.items[c.complaint_id] = c
        self.counters.add(c.facility_id, c.province_code, complaints_received=1)
        return c

    def get(self, complaint_id):
        return self.items.get(complaint_id)

    def _unclaimed(self, complaint_id, now) -> bool:
        held = self.claims.get(complaint_id)
        return held is None or held[1].replace(microsecond=0) < now.replace(microsecond=0)

    def claim(self, c, *, token, until, now):
        stored = self.items.get(c.complaint_id)
        if stored is None or stored.version != c.version or not self._unclaimed(c.complaint_id, now):
            raise errors.Conflict("the complaint changed meanwhile or is being resolved by someone else; read it again",
                                  details={"complaint_id": c.complaint_id})
        self.claims[c.complaint_id] = (token, until)

    def release(self, c, *, token):
        if self.claims.get(c.complaint_id, (None,))[0] == token:
            del self.claims[c.complaint_id]

    def save_change(self, c, *, expected_version, now, claim=None):
        stored = self.items.get(c.complaint_id)
        held = self.claims.get(c.complaint_id)
        free = self._unclaimed(c.complaint_id, now) if claim is None else (held is not None and held[0] == claim)
        if stored is None or stored.version != expected_version or not free:
            raise errors.Conflict("the complaint changed meanwhile; read it again",
                                  details={"complaint_id": c.complaint_id})
        self.claims.pop(c.complaint_id, None)
        if not c.is_open:
            self.counters.add(c.facility_id, c.province_code, complaints_resolved=1)
        self.items[c.complaint_id] = c

    def for_facility(self, facility_id, status):
        return sorted((c for c in self.items.values() if c.facility_id == facility_id and status in (None, c.status)),
                      key=lambda c: (c.status, c.due_at, c.complaint_id))

    def for_citizen(self, citizen_id):
        return sorted((c for c in self.items.values() if c.citizen_id == citizen_id),
                      key=lambda c: (c.filed_at, c.complaint_id), reverse=True)

    def open_due_before(self, province_code, before):
        return sorted((c for c in self.items.values()
                       if c.province_code == province_code and c.is_open and c.due_at < before),
                      key=lambda c: (c.due_at, c.complaint_id))


class FakeFacilityHeads:
    def __init__(self, heads: dict[str, str] | None = None) -> None:
        self.heads = dict(heads or {})

    def head(self, facility_id):
        return self.heads.get(facility_id) or None


class FakeCorrector:
    """Stands in for the correction service (the Corrector port): records each call."""

    def __init__(self, version: int = 2) -> None:
        self.calls: list[tuple] = []
        self.version = version

    def correct(self, facility_id, record_id, *, writer, accept_suggestion=False, changes=None):
        self.calls.append((facility_id, record_id, dict(changes or {}), writer))
        return {"status": "corrected", "version": self.version}
