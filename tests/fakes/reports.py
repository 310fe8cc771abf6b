"""Fakes of the counters (chalicelib/adapters/counters.py: Counters, CounterReader, CorrectionCounters)
and of the reconciliation job's AuditSource, which reads the other fakes' stores the way
DynamoAuditSource scans the tables."""
from __future__ import annotations

from datetime import date, datetime

from chalicelib.reports.domain import COUNTERS, raw_counts, scope_keys
from chalicelib.reports.reconcile import ChunkFact, PassportFact, RecordFact, holder_of
from chalicelib.signing.service import attestation_key


class FakeCounters:
    """`items[(pk, sk)]` holds the counters of one scope item (TOTAL or DAY#<date>); FAC# items
    remember their province, as the adapter indexes them."""

    def __init__(self, items: dict | None = None, facility_province: dict[str, str] | None = None) -> None:
        self.items: dict[tuple[str, str], dict[str, int]] = {k: dict(v) for k, v in (items or {}).items()}
        self.province_of: dict[str, str] = dict(facility_province or {})

    # -- Counters (writes) ----------------------------------------------------------------------
    def add(self, facility_id, province_code, **deltas):
        unknown = sorted(set(deltas) - set(COUNTERS))
        if unknown:
            raise ValueError(f"not a counter: {unknown}")
        if not any(deltas.values()):
            return
        for pk in scope_keys(facility_id, province_code):
            item = self.items.setdefault((pk, "TOTAL"), {})
            for name, n in deltas.items():
                item[name] = item.get(name, 0) + int(n)
        if facility_id and province_code:
            self.province_of[facility_id] = province_code

    def issued_on(self, province_code, day: date) -> None:
        """The per-day series a passport version adds to (nation and province)."""
        for pk in scope_keys(None, province_code):
            item = self.items.setdefault((pk, f"DAY#{day.isoformat()}"), {})
            item["passports_issued"] = item.get("passports_issued", 0) + 1

    def corrected(self, facility_id, province_code):
        self.add(facility_id, province_code, corrected=1)

    # -- CounterReader (reports) ----------------------------------------------------------------
    def totals(self, pks):
        return {pk: raw_counts(self.items[(pk, "TOTAL")]) for pk in pks if (pk, "TOTAL") in self.items}

    def facilities(self, province_code):
        return {f: raw_counts(self.items.get((f"FAC#{f}", "TOTAL"))) for f, p in self.province_of.items()
                if p == province_code and (f"FAC#{f}", "TOTAL") in self.items}

    def issued_per_day(self, pk, first, last):
        out = {}
        for (k, sk), v in self.items.items():
            if k == pk and sk.startswith("DAY#") and first <= date.fromisoformat(sk[4:]) <= last:
                out[date.fromisoformat(sk[4:])] = int(v.get("passports_issued", 0))
        return out

    # -- the reconciliation job -----------------------------------------------------------------
    def scan_all(self):
        return [(key, raw_counts(v)) for key, v in self.items.items()]

    def set_if_unchanged(self, pk, sk, counter, expected, value):
        item = self.items.setdefault((pk, sk), {})
        if item.get(counter, 0) != expected:
            return False
        item[counter] = value
        return True

    def total(self, pk: str, counter: str) -> int:
        return int(self.items.get((pk, "TOTAL"), {}).get(counter, 0))


class FakeAuditSource:
    """What `reports reconcile` reads, from the fakes of the tables it scans: FakeRecords,
    FakePassports, FakeCounters, FakeManifestStore and FakeAuditLog."""

    def __init__(self, records, passports, counters: FakeCounters, manifests, audit) -> None:
        self._records = records
        self._passports = passports
        self._counters = counters
        self._manifests = manifests
        self._audit = audit

    def record_facts(self):
        return [RecordFact(i["facility_id"], i["province_code"], i["counted_state"])
                for i in self._records.items.values()]

    def passport_facts(self):
        out = []
        for (_, version), v in sorted(self._passports.version_items.items()):
            a = v["attestation"]
            in_place = v["revocation_sequence"] is not None or v["revoked_by"] is not None
            out.append(PassportFact(a.get("facility_id"), a.get("province_code"), version,
                                    v["created_at"][:10] or None, revoked_in_place=in_place,
                                    issued_over_revocation=v["issued_over_revocation"] is not None))
        return out

    def stored_counters(self):
        return self._counters.scan_all()

    def set_if_unchanged(self, pk, sk, counter, expected, value):
        return self._counters.set_if_unchanged(pk, sk, counter, expected, value)

    def chunk_facts(self, *, queued_only):
        return [ChunkFact(batch_id, chunk, c["facility_id"], c["status"], c["first_index"], tuple(c["people"]),
                          tuple(c["refused"]), c["pending_until"])
                for (batch_id, chunk), c in sorted(self._manifests.chunks.items())
                if not queued_only or c["status"] == "QUEUED"]

    def passport_holders(self, citizen_ids):
        out = {}
        for cid in citizen_ids:
            pointer = self._passports.pointers.get(cid)
            if pointer is None:
                continue
            hold = self._passports.holds.get(cid)
            out[cid] = holder_of(self._passports.version_items[(cid, pointer["version"])]["attestation"],
                                 hold.revocation_sequence if hold is not None else None)
        return out

    def attestation_sequence(self, batch_id):
        logged = self._audit.find(attestation_key(batch_id))
        return logged.sequence if logged is not None else None

    def release_claims(self, batch_id, citizen_id, now: datetime):
        keys = self._records._keys_of(citizen_id)
        return len(self._records.release(batch_id, keys, now)) if keys else 0
