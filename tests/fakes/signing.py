"""Fakes of the signing ports (chalicelib/signing/service.py, signing/anchor.py, issuance/attested.py):
the facility registry, manifests and their chunk status items, the audit log, the countersign
queue, the audit anchor and the security events. Each keeps its adapter's conditions
(tests/contracts/test_signing.py)."""
from __future__ import annotations

import dataclasses
import json
from collections import Counter
from datetime import datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib import errors
from chalicelib.signing import facility_pki as pki
from chalicelib.signing.audit import GENESIS, Checkpoint, LoggedEntry, SignedCheckpoint, chain_hash
from chalicelib.signing.manifest import canonical_json
from chalicelib.signing.facilities import Facility, FocalAgency, ProvinceFixed
from chalicelib.signing.service import ATTESTED, CHUNK_QUEUED, OPEN, DuplicateAuditKey, StoredBatch

MAX_MESSAGE_BYTES = 256 * 1024  # an SQS message


class FakeFacilityRegistry:
    """Facilities, focal agencies and government CAs (FacilityRegistry, and intake's
    FacilityDirectory). A facility's province is fixed at its first registration."""

    def __init__(self, facilities: dict[str, str] | None = None) -> None:
        self.facilities: dict[str, Facility] = {}
        self.agencies: dict[str, FocalAgency] = {}
        self.cas: dict[str, str] = {}  # fingerprint -> PEM
        self.requests: Counter = Counter()
        for facility_id, province in (facilities or {}).items():
            self.register(facility_id, province)

    def register(self, facility_id: str, province: str, *, head: str = "BS. Lan", name: str | None = None) -> None:
        self.save_facility(Facility(facility_id, name or f"Trạm Y tế {facility_id}", province, head), None)

    def force_province(self, facility_id: str, province: str) -> None:
        """What a writer of the facilities table could do (the registry itself refuses it)."""
        self.facilities[facility_id] = dataclasses.replace(self.facilities[facility_id], province=province)

    def get_facility(self, facility_id):
        return self.facilities.get(facility_id)

    def provinces(self, facility_ids):
        self.requests["provinces"] += 1
        return {f: self.facilities[f].province for f in sorted(facility_ids) if f in self.facilities}

    def focal_agencies(self, province):
        return [a for a in self.agencies.values() if a.province == province]

    def ca_certificates(self):
        return list(self.cas.values())

    @staticmethod
    def _fixed(old, province) -> None:
        if old is not None and old.province != province:
            raise ProvinceFixed("this facility or agency is registered in another province; its province "
                                "cannot change", details={"province": province})

    def save_facility(self, facility, now):
        old = self.facilities.get(facility.facility_id)
        self._fixed(old, facility.province)
        certs = tuple(dict.fromkeys((old.certificates if old else ()) + tuple(facility.certificates)))
        self.facilities[facility.facility_id] = dataclasses.replace(facility, certificates=certs)

    def save_focal_agency(self, agency, now):
        old = self.agencies.get(agency.agency_id)
        self._fixed(old, agency.province)
        certs = tuple(dict.fromkeys((old.certificates if old else ()) + tuple(agency.certificates)))
        self.agencies[agency.agency_id] = dataclasses.replace(agency, certificates=certs)

    def save_ca(self, certificate_pem, now):
        self.cas.setdefault(pki.fingerprint(pki.load_certificate(certificate_pem)), certificate_pem)


class FakeManifestStore:
    """Manifests (ManifestStore) and the status items of their dispatched chunks (ChunkStatus)."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[str, str]] = {}  # batch -> (manifest JSON, status)
        self.chunks: dict[tuple[str, int], dict] = {}  # (batch, chunk) -> status item

    def put(self, manifest):
        if manifest["batch_id"] in self.items:
            raise errors.Conflict("signing batch id already used")
        self.items[manifest["batch_id"]] = (json.dumps(manifest, ensure_ascii=False), OPEN)

    def get(self, batch_id):
        if batch_id not in self.items:
            return None
        doc, status = self.items[batch_id]
        return StoredBatch(json.loads(doc), status)

    def set_status(self, batch_id, status, now):
        doc, current = self.items[batch_id]
        if status == ATTESTED and current != OPEN:
            return  # status only moves forward: a late ATTESTED never undoes a DISPATCHED
        self.items[batch_id] = (doc, status)

    def chunks_queued(self, batch_id, facility_id, chunks, *, pending_until, now):
        for c in chunks:
            self.chunks[(batch_id, c.chunk)] = {"status": CHUNK_QUEUED, "facility_id": facility_id,
                                                "first_index": c.first_index, "people": list(c.people),
                                                "refused": [], "pending_until": pending_until.replace(microsecond=0)}

    def finish_chunk(self, batch_id, chunk, *, first_index, size, status, refused, now):
        item = self.chunks.get((batch_id, chunk))
        if item is None or item["first_index"] != first_index or len(item["people"]) != size:
            return False
        item.update(status=status, refused=list(refused))
        return True


class FakeAuditLog:
    """The hash-chained audit log (AuditLog, and the countersign worker's Attestations). `log` is
    the chain as stored: a test may rewrite it the way a writer of the table could."""

    def __init__(self) -> None:
        self.log: list[LoggedEntry] = []
        self.keys: dict[str, int] = {}
        self.requests: Counter = Counter()

    def append(self, entry, *, unique_key):
        self.requests["append"] += 1
        if unique_key in self.keys:
            logged = self.log[self.keys[unique_key] - 1]
            # The same entry again is a retried append whose answer was lost: it is ours.
            if canonical_json(logged.entry) == canonical_json(entry):
                return logged.sequence, logged.entry_hash
            raise DuplicateAuditKey(unique_key)
        prev = bytes.fromhex(self.log[-1].entry_hash) if self.log else GENESIS
        stored = json.loads(json.dumps(entry, ensure_ascii=False))
        logged = LoggedEntry(len(self.log) + 1, prev.hex(), stored, chain_hash(prev, entry).hex())
        self.log.append(logged)
        self.keys[unique_key] = logged.sequence
        return logged.sequence, logged.entry_hash

    def find(self, unique_key):
        self.requests["find"] += 1
        seq = self.keys.get(unique_key)
        return self.log[seq - 1] if seq else None

    def entries(self):
        return list(self.log)


class FakeCountersignQueue:
    """The countersign queue (CountersignQueue, and Reevaluations): message bodies as
    SqsCountersignQueue sends them. `fail_times` makes the next sends fail (SQS down)."""

    def __init__(self, fail_times: int = 0) -> None:
        self.messages: list[dict] = []
        self.fail_times = fail_times

    def _sending(self) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise errors.DependencyUnavailable("sqs: messages could not be sent")

    def enqueue(self, batch_id, attestation_ref, people_chunks):
        bodies = [{"kind": "facility-attested", "batch_id": batch_id, "chunk": i, "chunks": len(people_chunks),
                   "attestation": attestation_ref, "entries": list(chunk)} for i, chunk in enumerate(people_chunks)]
        for b in bodies:
            if len(json.dumps(b, separators=(",", ":"), ensure_ascii=False).encode("utf-8")) > MAX_MESSAGE_BYTES:
                raise errors.ValidationError("a countersign chunk exceeds the SQS message limit; use smaller chunks")
        self._sending()
        self.messages += json.loads(json.dumps(bodies, ensure_ascii=False))
        return len(bodies)

    def reevaluate(self, citizen_ids):
        self._sending()
        self.messages += [{"kind": "reevaluate", "citizen_id": cid} for cid in citizen_ids]
        return len(citizen_ids)

    def open(self, body):
        """Messages are kept as the worker reads them (SqsCountersignQueue.open's answer)."""
        return body

    @property
    def reevaluated(self) -> list[str]:
        return [m["citizen_id"] for m in self.messages if m["kind"] == "reevaluate"]

    @property
    def chunks(self) -> list[dict]:
        return [m for m in self.messages if m["kind"] == "facility-attested"]


# One anchor key for the test session: generating a P-256 key is cheap but not free.
ANCHOR_KEY = ec.generate_private_key(ec.SECP256R1())


class FakeAuditAnchor:
    """Checkpoints of the audit log signed with a local P-256 key (the anchor's KMS key): the
    AuditAnchor, CheckpointSource and CheckpointReader ports. Writing a checkpoint that exists
    keeps the first one, as S3's If-None-Match does."""

    def __init__(self, key=None) -> None:
        self.key = key or ANCHOR_KEY
        self.checkpoints: dict[int, SignedCheckpoint] = {}

    def write(self, checkpoint: Checkpoint) -> None:
        self.checkpoints.setdefault(checkpoint.sequence, SignedCheckpoint(
            checkpoint, self.key.sign(checkpoint.message(), ec.ECDSA(hashes.SHA256())), "local"))

    def sequences(self):
        return sorted(self.checkpoints)

    def load(self, sequence):
        return self.checkpoints.get(sequence)

    def checkpoint(self, sequence):
        return self.checkpoints.get(sequence)

    def public_key(self):
        return self.key.public_key()


class FakeSecurityEvents:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def record(self, event, now: datetime):
        key = f"security-events/{now.date().isoformat()}/{now.strftime('%H%M%S')}-{len(self.events):08d}.json"
        self.events.append({"key": key, **json.loads(json.dumps(event, ensure_ascii=False)),
                            "at": now.isoformat(timespec="seconds")})
        return key

    def latest(self, limit):
        return sorted(self.events, key=lambda e: e["key"])[-limit:] if limit > 0 else []
