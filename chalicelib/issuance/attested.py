"""Countersigning a chunk of a facility-attested batch (a countersign queue message).

Before the ministry signs anything it checks, per entry, what the facility signed: the entry
hashes to its digest and sits in the attested Merkle tree (inclusion proof against the attested
root and size). Then it claims the entry's records for this batch (`mark_signed`, conditional on
the batch's reservation), so two batches never countersign the same records. Entries failing
either check are reported and skipped; the rest go to the countersign use case, which also
drops people whose records changed after the manifest.
"""
from __future__ import annotations

from typing import Protocol, Sequence

from chalicelib import errors
from chalicelib.issuance.service import CountersignRequest, CountersignService, Outcome
from chalicelib.signing.manifest import entry_digest, verify_inclusion


class SignedRecords(Protocol):
    def mark_signed(self, batch_id: str, keys: Sequence[tuple[str, str]], now) -> set[tuple[str, str]]: ...


class AttestedBatchCountersigner:
    def __init__(self, service: CountersignService, records: SignedRecords, clock) -> None:
        self._service = service
        self._records = records
        self._now = clock

    def handle(self, message: dict) -> list[Outcome]:
        try:
            batch_id = message["batch_id"]
            att = message["attestation"]
            root, size = bytes.fromhex(att["merkle_root"]), int(att["count"])
            entries = list(message["entries"])
        except (KeyError, TypeError, ValueError) as e:
            raise errors.ValidationError("malformed countersign message") from e
        outcomes, proven = [], []
        for entry in entries:
            if not self._proven(entry, root, size):
                outcomes.append(Outcome(str(entry.get("citizen_id", "")), "not_attested"))
            else:
                proven.append(entry)
        keys = [(d["facility_id"], d["record_id"]) for e in proven for d in e["doses"]]
        claimed = self._records.mark_signed(batch_id, keys, self._now()) if keys else set()
        requests = []
        for entry in proven:
            mine = {(d["facility_id"], d["record_id"]) for d in entry["doses"]}
            if not mine <= claimed:
                outcomes.append(Outcome(entry["citizen_id"], "stale", detail=sorted(r for _, r in mine - claimed)))
                continue
            requests.append(CountersignRequest(entry["citizen_id"], entry["doses"], {
                "batch_id": batch_id, "sequence": att.get("sequence"), "entry_hash": att.get("entry_hash"),
                "facility_id": att.get("facility_id"), "province_code": att.get("province_code"),
                "certificate_fingerprint": att.get("certificate_fingerprint"),
                "merkle_root": att["merkle_root"], "entry_index": entry["index"]}))
        if requests:
            outcomes += self._service.countersign(requests)
        return outcomes

    @staticmethod
    def _proven(entry: dict, root: bytes, size: int) -> bool:
        try:
            digest = entry_digest(entry)
            if digest != entry.get("entry_digest"):
                return False
            proof = [bytes.fromhex(p) for p in entry["proof"]]
            return verify_inclusion(bytes.fromhex(digest), int(entry["index"]), proof, root, size)
        except (KeyError, TypeError, ValueError):
            return False
