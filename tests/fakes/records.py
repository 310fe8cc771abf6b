"""The records table in memory: one item per (facility, record id), read and written through the
ports that the DynamoDB adapters serve from that table (intake's RecordStore, the cleaning
worker's CleaningRepository, corrections' RecordReader, the never-cleaned sweep, facility
signing's SigningRecords, the countersign worker's SignedRecords and DoseSource, complaints'
CitizenRecords). The item keeps the attributes the adapters keep and every write has the
adapter's condition; tests/contracts/test_records.py runs the same tests on both.
"""
from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections import Counter
from datetime import date, datetime, timezone

from chalicelib.cleaning.corrections import RecordView
from chalicelib.cleaning.worker import Cleaned, RecordForCleaning, counter_moves, moved_away_from
from chalicelib.complaints.service import CitizenRecord
from chalicelib.intake.records import validate_row
from chalicelib.intake.service import NewRecord, StoredRecord
from chalicelib.issuance.domain import DoseRecord
from chalicelib.reports.never_cleaned import PendingRecord
from chalicelib.signing.service import VERIFIED_STATES, CandidateRecord, candidate_from_record


def _second(t: datetime) -> datetime:
    # The adapter stores reservation times to the second (fixed-width UTC strings).
    return t.astimezone(timezone.utc).replace(microsecond=0)


class FakeRecords:
    """`items[(facility_id, record_id)]` is the stored item (a dict); `requests` counts calls per
    method, as the adapters' requests are counted. Optional `counters` (FakeCounters) and `batches`
    (FakeBatchStore) receive what the cleaning adapter's transaction adds to them."""

    def __init__(self, counters=None, batches=None) -> None:
        self.items: dict[tuple[str, str], dict] = {}
        self.requests: Counter = Counter()
        self.counters = counters
        self.batches = batches
        # Run once, just before the next put_many / save_results (with its arguments): another
        # writer or worker getting in first.
        self.before_next_put = None
        self.before_next_save = None
        self._lock = threading.RLock()

    # -- RecordStore (intake) -----------------------------------------------------------------
    def get_many(self, keys):
        self.requests["get_many"] += 1
        with self._lock:
            return {k: self._stored(self.items[k]) for k in keys if k in self.items}

    @staticmethod
    def _stored(i: dict) -> StoredRecord:
        return StoredRecord(facility_id=i["facility_id"], record_id=i["record_id"], digest=i["digest"],
                            version=i["version"], batch_id=i["batch_id"], row_number=i["row_number"],
                            counted_state=i["counted_state"], province_code=i["province_code"],
                            cleaned_version=i["cleaned_version"], earlier_digests=frozenset(i["earlier_digests"]),
                            matched_citizen_id=i["matched_citizen_id"])

    def put_many(self, records: list[NewRecord], now: datetime) -> set:
        if self.before_next_put is not None:
            race, self.before_next_put = self.before_next_put, None
            race()
        self.requests["put_many"] += 1
        lost = set()
        with self._lock:
            for n in records:
                key, p = n.record.business_key, n.previous
                cur = self.items.get(key)
                if p is None and cur is not None or p is not None and (
                        cur is None or (cur["version"], cur["digest"], cur["cleaned_version"])
                        != (p.version, p.digest, p.cleaned_version)):
                    lost.add(key)
                    continue
                r = n.record
                # A put replaces the whole item: the old version's cleaning result and signing
                # marks go with it; the citizen it matched is carried over.
                self.items[key] = {
                    "facility_id": r.facility_id, "record_id": r.record_id, "province_code": r.province_code,
                    "digest": r.digest(), "version": n.version, "batch_id": n.batch_id, "row_number": n.row_number,
                    "counted_state": n.counted_state, "cleaned_version": 0, "earlier_digests": set(n.earlier_digests),
                    "data": json.loads(json.dumps(r.canonical(), ensure_ascii=False)),
                    "original": json.loads(json.dumps(dict(r.original), ensure_ascii=False, default=str)),
                    "state": "PENDING", "cleaning": None,
                    "matched_citizen_id": p.matched_citizen_id if p is not None else None,
                    "moved_from_citizen_id": None, "citizen_index": r.citizen_id or None,
                    "signing_batch": None, "signing_until": None, "signed_batch": None, "updated_at": now}
        return lost

    # -- CleaningRepository (cleaning worker) ---------------------------------------------------
    def load(self, keys):
        self.requests["load"] += 1
        with self._lock:
            return {k: RecordForCleaning(i["facility_id"], i["record_id"], i["province_code"], i["version"],
                                         i["cleaned_version"], i["counted_state"], i["batch_id"],
                                         copy.deepcopy(i["data"]), copy.deepcopy(i["original"]),
                                         i["matched_citizen_id"], i["moved_from_citizen_id"])
                    for k in keys if (i := self.items.get(k)) is not None}

    def save_results(self, cleaned: list[Cleaned], now: datetime) -> set:
        if self.before_next_save is not None:
            race, self.before_next_save = self.before_next_save, None
            race(cleaned, now)
        self.requests["save_results"] += 1
        stored = set()
        with self._lock:
            for c in cleaned:
                record, result = c.record, c.result
                key = (record.facility_id, record.record_id)
                item = self.items.get(key)
                if item is None or item["version"] != record.version or item["cleaned_version"] >= record.version:
                    continue  # a lost race: the adapter drops it from its transaction
                outcome = result.outcome.value
                citizen = result.matched_citizen_id or record.data.get("citizen_id") or ""
                item.update(state=outcome, counted_state=outcome, cleaned_version=record.version,
                            cleaning=json.loads(json.dumps(c.view, ensure_ascii=False)),
                            matched_citizen_id=result.matched_citizen_id or None,
                            moved_from_citizen_id=moved_away_from(record.matched_citizen_id,
                                                                  result.matched_citizen_id),
                            updated_at=now)
                if citizen:
                    item["citizen_index"] = citizen
                stored.add(key)
                moves = counter_moves(record, outcome)
                if self.counters is not None and moves:
                    self.counters.add(record.facility_id, record.province_code, **moves)
                if self.batches is not None and record.batch_id:
                    self.batches.add_cleaned(record.batch_id)
        return stored

    # -- RecordReader (corrections) -------------------------------------------------------------
    def get(self, facility_id, record_id):
        self.requests["get"] += 1
        with self._lock:
            i = self.items.get((facility_id, record_id))
            if i is None:
                return None
            return RecordView(i["facility_id"], i["record_id"], i["province_code"], i["version"], i["state"],
                              copy.deepcopy(i["data"]), copy.deepcopy(i["original"]), copy.deepcopy(i["cleaning"]))

    # -- PendingRecordSource (reports reconcile) ------------------------------------------------
    def pending_records(self):
        with self._lock:
            return [PendingRecord(i["facility_id"], i["record_id"], i["version"], i["cleaned_version"], i["batch_id"],
                                  i["updated_at"]) for i in self.items.values() if i["state"] == "PENDING"]

    # -- SigningRecords (facility signing) and SignedRecords (countersign worker) ---------------
    @staticmethod
    def _free(item: dict, now: datetime) -> bool:
        return item["signed_batch"] is None and (item["signing_batch"] is None
                                                 or item["signing_until"] < _second(now))

    def candidates(self, facility_id, *, max_people, now):
        out: list[CandidateRecord] = []
        people: set[str] = set()
        with self._lock:
            for state in VERIFIED_STATES:
                for (f, r), i in sorted(self.items.items()):
                    if f != facility_id or i["state"] != state or not self._free(i, now):
                        continue
                    c = candidate_from_record(facility_id=f, record_id=r, version=i["version"], digest=i["digest"],
                                              data=i["data"], matched_citizen_id=i["matched_citizen_id"])
                    if c is None:
                        continue
                    if c.citizen_id not in people:
                        if len(people) == max_people:
                            break  # as the adapter: the rest of this state waits for the next batch
                        people.add(c.citizen_id)
                    out.append(c)
        return out

    def reserve(self, batch_id, records, *, until, now):
        done = set()
        with self._lock:
            for c in records:
                i = self.items.get(c.key)
                if (i is not None and (i["version"], i["digest"]) == (c.dose.version, c.dose.digest)
                        and i["state"] in VERIFIED_STATES and i["signed_batch"] is None
                        and (i["signing_batch"] in (None, batch_id) or i["signing_until"] < _second(now))):
                    i.update(signing_batch=batch_id, signing_until=_second(until))
                    done.add(c.key)
        return done

    def current_versions(self, keys):
        with self._lock:
            return {k: (self.items[k]["version"], self.items[k]["digest"]) for k in keys if k in self.items}

    def mark_signed(self, batch_id, keys, now):
        self.requests["mark_signed"] += 1
        done = set()
        with self._lock:
            for k in keys:
                i = self.items.get(k)
                if i is not None and i["signing_batch"] == batch_id:
                    i["signed_batch"] = batch_id
                    done.add(k)
        return done

    def release(self, batch_id, keys, now):
        self.requests["release"] += 1
        done = set()
        with self._lock:
            for k in keys:
                i = self.items.get(k)
                if i is not None and i["signing_batch"] == batch_id:
                    i.update(signed_batch=None, signing_batch=None, signing_until=None)
                    done.add(k)
        return done

    # -- DoseSource (countersigning) and CitizenRecords (complaints) ----------------------------
    def _keys_of(self, citizen_id: str) -> list[tuple[str, str]]:
        return [k for k, i in self.items.items() if i["citizen_index"] == citizen_id]

    def attested_doses(self, citizen_ids, also=(), query=None):
        self.requests["attested_doses"] += 1
        out: dict[str, list[DoseRecord]] = {c: [] for c in citizen_ids}
        with self._lock:
            keys = set(also)
            for c in citizen_ids if query is None else [c for c in citizen_ids if c in set(query)]:
                self.requests["citizen_index_query"] += 1
                keys.update(self._keys_of(c))
            for k in sorted(keys):
                i = self.items.get(k)
                if (i is None or i["state"] not in VERIFIED_STATES or i["cleaned_version"] != i["version"]
                        or not i["signed_batch"]):
                    continue
                d = i["data"]
                citizen = i["matched_citizen_id"] or d.get("citizen_id")
                if citizen in out:
                    out[citizen].append(DoseRecord(i["facility_id"], i["record_id"], i["version"], i["digest"],
                                                   int(d["dose_number"]), date.fromisoformat(d["vaccination_date"]),
                                                   d["vaccine_product"], i["province_code"], i["signed_batch"]))
        return out

    def find(self, citizen_id, record_id):
        with self._lock:
            return [CitizenRecord(f, r, i["province_code"]) for (f, r), i in sorted(self.items.items())
                    if i["citizen_index"] == citizen_id and r == record_id]

    # -- test helpers -------------------------------------------------------------------------
    def dose(self, key) -> DoseRecord:
        """The stored version of a record as a dose (what a manifest names)."""
        i = self.items[key]
        return DoseRecord(i["facility_id"], i["record_id"], i["version"], i["digest"], int(i["data"]["dose_number"]),
                          date.fromisoformat(i["data"]["vaccination_date"]), i["data"]["vaccine_product"],
                          i["province_code"], i["signed_batch"])

    def attest(self, key, batch_id: str = "SB1") -> None:
        """A facility head's attestation of the stored version (its record claimed and signed)."""
        self.items[key].update(signing_batch=batch_id, signed_batch=batch_id)

    def mark_cleaned(self, key, state: str = "VERIFIED", matched_citizen_id: str | None = None) -> None:
        """What the cleaning worker does to the stored version (without a result to show)."""
        with self._lock:
            item = self.items[key]
            item.update(cleaned_version=item["version"], counted_state=state, state=state,
                        matched_citizen_id=matched_citizen_id)
            if matched_citizen_id:
                item["citizen_index"] = matched_citizen_id

    def add(self, facility_id, record_id, citizen_id, *, dose=1, version=1, state="VERIFIED", date="2021-08-01",
            product="EU/1/20/1528", province="001", full_name="Nguyễn Văn An", date_of_birth="1990-05-01", sex="",
            signed_batch=None):
        """A record as intake and the cleaning worker would have left it (verified by default,
        matched to `citizen_id`, attested by `signed_batch`); returns its key."""
        rec = validate_row({"record_id": record_id, "facility_id": facility_id, "citizen_id": citizen_id,
                            "full_name": full_name, "date_of_birth": date_of_birth, "sex": sex,
                            "province_code": province, "vaccine_product": product, "lot_number": "L1",
                            "dose_number": str(dose), "vaccination_date": str(date)}, row_number=1)
        if isinstance(rec, list):
            raise ValueError(f"not a valid record: {rec}")
        now = datetime(2026, 1, 5, tzinfo=timezone.utc)
        self.items.pop(rec.business_key, None)
        self.put_many([NewRecord(rec, "seed", 1)], now)
        item = self.items[rec.business_key]
        cleaned = state != "PENDING"
        matched = citizen_id if state in VERIFIED_STATES else None
        item.update(version=version, cleaned_version=version if cleaned else 0, state=state,
                    counted_state=state if cleaned else None, matched_citizen_id=matched,
                    citizen_index=citizen_id or None, signed_batch=signed_batch,
                    signing_batch=signed_batch, signing_until=_second(now) if signed_batch else None)
        if version != 1:  # another version: other values, so another digest
            item["digest"] = hashlib.sha256(f"{item['digest']}#{version}".encode()).hexdigest()
        return rec.business_key
