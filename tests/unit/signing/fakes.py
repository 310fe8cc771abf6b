"""In-memory fakes of the signing ports (same Protocols as the adapters in chalicelib/adapters/signing/)."""
from __future__ import annotations

import json
from datetime import datetime

from chalicelib.signing.audit import GENESIS, LoggedEntry, chain_hash
from chalicelib.signing.facilities import Facility, FocalAgency
from chalicelib.signing.service import CandidateRecord, DuplicateAuditKey, StoredBatch, candidate_from_record


class MemoryRegistry:
    def __init__(self):
        self.facilities: dict[str, Facility] = {}
        self.agencies: dict[str, FocalAgency] = {}
        self.cas: list[str] = []

    def get_facility(self, facility_id):
        return self.facilities.get(facility_id)

    def focal_agencies(self, province):
        return [a for a in self.agencies.values() if a.province == province]

    def ca_certificates(self):
        return list(self.cas)

    def save_facility(self, facility, now):
        old = self.facilities.get(facility.facility_id)
        _province_fixed(old, facility.province)
        certs = tuple(dict.fromkeys((old.certificates if old else ()) + facility.certificates))
        self.facilities[facility.facility_id] = Facility(facility.facility_id, facility.name, facility.province,
                                                         facility.head, certs)

    def save_focal_agency(self, agency, now):
        old = self.agencies.get(agency.agency_id)
        _province_fixed(old, agency.province)
        certs = tuple(dict.fromkeys((old.certificates if old else ()) + agency.certificates))
        self.agencies[agency.agency_id] = FocalAgency(agency.agency_id, agency.name, agency.province, certs)

    def save_ca(self, pem, now):
        if pem not in self.cas:
            self.cas.append(pem)


class MemoryRecords:
    """Rows like the records table: state, version, digest, data, reservation attributes."""

    def __init__(self):
        self.rows: dict[tuple[str, str], dict] = {}

    def add(self, facility_id, record_id, citizen_id, *, dose=1, version=1, state="VERIFIED",
            date="2021-08-01"):
        data = {"citizen_id": citizen_id, "dose_number": str(dose), "vaccination_date": date,
                "vaccine_product": "EU/1/20/1528"}
        self.rows[(facility_id, record_id)] = {"version": version, "digest": f"d{record_id}v{version}",
                                               "state": state, "data": data, "matched": citizen_id}

    def _free(self, row, now):
        return row.get("signed") is None and (row.get("batch") is None or row["until"] < now)

    def candidates(self, facility_id, *, max_people, now):
        out: list[CandidateRecord] = []
        people = set()
        for (f, r), row in sorted(self.rows.items()):
            if f != facility_id or row["state"] not in ("VERIFIED", "VERIFIED_NORMALIZED") or not self._free(row, now):
                continue
            c = candidate_from_record(facility_id=f, record_id=r, version=row["version"], digest=row["digest"],
                                      data=row["data"], matched_citizen_id=row["matched"])
            if c is not None and (c.citizen_id in people or len(people) < max_people):
                people.add(c.citizen_id)
                out.append(c)
        return out

    def reserve(self, batch_id, records, *, until, now):
        done = set()
        for c in records:
            row = self.rows.get(c.key)
            if row and row["version"] == c.dose.version and (self._free(row, now) or row.get("batch") == batch_id):
                row.update(batch=batch_id, until=until)
                done.add(c.key)
        return done

    def current_versions(self, keys):
        return {k: (self.rows[k]["version"], self.rows[k]["digest"]) for k in keys if k in self.rows}

    def mark_signed(self, batch_id, keys, now):
        done = set()
        for k in keys:
            if k in self.rows and self.rows[k].get("batch") == batch_id:
                self.rows[k]["signed"] = batch_id
                done.add(k)
        return done

    def release(self, batch_id, keys, now):
        done = set()
        for k in keys:
            if k in self.rows and self.rows[k].get("batch") == batch_id:
                for attr in ("batch", "until", "signed"):
                    self.rows[k].pop(attr, None)
                done.add(k)
        return done


class MemoryManifests:
    def __init__(self):
        self.items: dict[str, tuple[str, str]] = {}  # batch -> (manifest JSON, status)
        self.chunks: dict[tuple[str, int], dict] = {}  # (batch, chunk) -> status item

    def put(self, manifest):
        self.items[manifest["batch_id"]] = (json.dumps(manifest), "OPEN")

    def get(self, batch_id):
        if batch_id not in self.items:
            return None
        doc, status = self.items[batch_id]
        return StoredBatch(json.loads(doc), status)

    def set_status(self, batch_id, status, now):
        self.items[batch_id] = (self.items[batch_id][0], status)

    def chunks_queued(self, batch_id, facility_id, chunks, *, pending_until, now):
        for c in chunks:
            self.chunks[(batch_id, c.chunk)] = {"status": "QUEUED", "facility_id": facility_id,
                                                "first_index": c.first_index, "people": list(c.people),
                                                "refused": [], "pending_until": pending_until}

    def finish_chunk(self, batch_id, chunk, *, first_index, size, status, refused, now):
        item = self.chunks.get((batch_id, chunk))
        if item is None or item["first_index"] != first_index or len(item["people"]) != size:
            return False
        item.update(status=status, refused=list(refused))
        return True


class MemoryAudit:
    def __init__(self):
        self.log: list[LoggedEntry] = []
        self.keys: dict[str, int] = {}

    def append(self, entry, *, unique_key):
        if unique_key in self.keys:
            raise DuplicateAuditKey(unique_key)
        prev = bytes.fromhex(self.log[-1].entry_hash) if self.log else GENESIS
        logged = LoggedEntry(len(self.log) + 1, prev.hex(), json.loads(json.dumps(entry)),
                             chain_hash(prev, entry).hex())
        self.log.append(logged)
        self.keys[unique_key] = logged.sequence
        return logged.sequence, logged.entry_hash

    def find(self, unique_key):
        seq = self.keys.get(unique_key)
        return self.log[seq - 1] if seq else None

    def entries(self):
        return list(self.log)


class MemoryQueue:
    def __init__(self, fail_times=0):
        self.messages: list[dict] = []
        self.fail_times = fail_times

    def enqueue(self, batch_id, attestation_ref, people_chunks):
        if self.fail_times:
            self.fail_times -= 1
            from chalicelib import errors

            raise errors.DependencyUnavailable("queue down")
        for chunk in people_chunks:
            self.messages.append({"batch_id": batch_id, "attestation": attestation_ref, "entries": list(chunk)})
        return len(people_chunks)


def ids():
    n = iter(range(1, 10**6))
    return lambda: f"SB{next(n):04d}"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _province_fixed(old, province) -> None:
    from chalicelib.signing.facilities import ProvinceFixed

    if old is not None and old.province != province:
        raise ProvinceFixed("registered in another province")
