"""Use cases of facility bulk signing: open a batch, accept its signature (who may sign: facilities.py).

1. `create_batch` picks up to 10,000 verified people of a facility that no batch holds, reserves
   their records for this batch until it expires (so two open batches never share a person), and
   stores a manifest whose Merkle root the facility signs offline.
2. `submit_signature` accepts the signature only if the stored manifest still hashes to its root,
   the certificate is registered for the signer, chains to a government CA and is valid now, the
   signer is the facility or the focal agency of its province, and the signature verifies. It then
   appends an attestation to the hash-chained audit log and fans the people out to the countersign
   queue, each entry with its inclusion proof so the worker can check it against the signed root.

Every step after the signature check is safe to repeat: a second submission of the same signature
returns the logged attestation (and re-sends the fan-out if it had not finished); a different
signature for an attested batch is a Conflict. Records are pinned by version and digest in the
manifest; `entries_still_current` (manifest.py) lets the countersign worker skip people whose
records changed after the manifest was built.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterable, Mapping, Protocol, Sequence

from chalicelib import errors
from chalicelib.identity import normalise_province_code
from chalicelib.signing import facility_pki as pki
from chalicelib.signing.audit import ChainCheck, LoggedEntry, verify_chain
from chalicelib.signing.facilities import Facility, FacilityRegistry, same_province
from chalicelib.signing.manifest import (ManifestInvalid, MerkleTree, DoseRecord, build_entries, build_manifest,
                                         check_manifest, signing_message)
from chalicelib.timestamps import iso_seconds

MAX_PEOPLE_PER_BATCH = 10_000
VERIFIED_STATES = ("VERIFIED", "VERIFIED_NORMALIZED")
# Long enough for a facility head to review and sign; short enough that an abandoned batch does
# not hold its people for long. Reservations on records expire with the batch.
DEFAULT_BATCH_TTL = timedelta(days=3)
# People per countersign message: ~1.5 KB each with its proof, so ~40 KB a message, several per
# 256 KB SendMessageBatch; small enough that one worker invocation finishes a message quickly.
DEFAULT_CHUNK_PEOPLE = 25

OPEN, ATTESTED, DISPATCHED = "OPEN", "ATTESTED", "DISPATCHED"
# A dispatched chunk's status: its message is on the queue (or being retried), it was processed, or
# it went to the DLQ because someone in it was refused (those people were released).
CHUNK_QUEUED, CHUNK_DONE, CHUNK_DEAD_LETTERED = "QUEUED", "DONE", "DEAD_LETTERED"
# How long a countersign message can still exist after it was sent: the queue keeps it 4 days and
# its DLQ 14 (infra/spec.py); a chunk QUEUED for longer has no message left to deliver it.
MESSAGE_LIFETIME = timedelta(days=18)


class NothingToSign(errors.Conflict):
    code = "NOTHING_TO_SIGN"


class BatchExpired(errors.Conflict):
    code = "SIGNING_BATCH_EXPIRED"


class AlreadyAttested(errors.Conflict):
    code = "SIGNING_BATCH_ALREADY_ATTESTED"


class ManifestTampered(errors.Conflict):
    """The stored manifest no longer hashes to the root it was created with."""

    code = "MANIFEST_TAMPERED"


class DuplicateAuditKey(Exception):
    """Raised by AuditLog.append when an entry with the same unique key is already logged (a
    concurrent or repeated submission); the service answers it from the logged entry."""


# -- records ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CandidateRecord:
    citizen_id: str
    dose: DoseRecord

    @property
    def key(self) -> tuple[str, str]:
        return (self.dose.facility_id, self.dose.record_id)


def candidate_from_record(*, facility_id: str, record_id: str, version: int, digest: str, data: Mapping,
                          matched_citizen_id: str | None) -> CandidateRecord | None:
    """The manifest's view of a stored record (its canonical `data`); None if no person is known."""
    citizen = matched_citizen_id or str(data.get("citizen_id") or "")
    if not citizen:
        return None
    try:
        dose_number = int(data.get("dose_number") or 0)
    except (TypeError, ValueError):
        return None
    return CandidateRecord(citizen, DoseRecord(facility_id, record_id, int(version), digest, dose_number,
                                               str(data.get("vaccination_date") or ""),
                                               str(data.get("vaccine_product") or "")))


class SigningRecords(Protocol):
    def candidates(self, facility_id: str, *, max_people: int, now: datetime) -> list[CandidateRecord]:
        """Verified records of the facility that no unexpired batch holds and none has signed, in a
        stable order, covering at least `max_people` people when that many exist."""

    def reserve(self, batch_id: str, records: Sequence[CandidateRecord], *, until: datetime,
                now: datetime) -> set[tuple[str, str]]:
        """Marks records as held by the batch until `until`, each only if it is still the same version
        and free (or its hold expired); returns the keys reserved."""

    def current_versions(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, str]]:
        """(version, digest) of each existing record: input to `entries_still_current`."""

    def mark_signed(self, batch_id: str, keys: Sequence[tuple[str, str]], now: datetime) -> set[tuple[str, str]]:
        """For the countersign worker: records this batch still holds become signed by it (never
        selected again until they change); returns the keys it could mark."""

    def release(self, batch_id: str, keys: Sequence[tuple[str, str]], now: datetime) -> set[tuple[str, str]]:
        """For the countersign worker: records of a person it refused leave this batch (reservation
        and signature removed, only while this batch holds them), so the next batch offers them."""


# -- manifests, audit log, queue ----------------------------------------------------------------
@dataclass(frozen=True)
class StoredBatch:
    manifest: dict
    status: str  # OPEN, ATTESTED, DISPATCHED


@dataclass(frozen=True)
class QueuedChunk:
    """What a chunk's status item holds: the people of one countersign message, by entry index."""

    chunk: int
    first_index: int
    people: tuple[str, ...]  # citizen ids in entry order: entry index = first_index + position


class ManifestStore(Protocol):
    def put(self, manifest: dict) -> None: ...

    def get(self, batch_id: str) -> StoredBatch | None: ...

    def set_status(self, batch_id: str, status: str, now: datetime) -> None: ...

    def chunks_queued(self, batch_id: str, facility_id: str, chunks: Sequence[QueuedChunk], *,
                      pending_until: datetime, now: datetime) -> None:
        """One status item per chunk (QUEUED), written before its message is sent."""

    def finish_chunk(self, batch_id: str, chunk: int, *, first_index: int, size: int, status: str,
                     refused: Sequence[int], now: datetime) -> bool:
        """Sets a chunk's final status if its item exists with that first index and size (a forged
        message naming a real chunk cannot finish it); refused = entry indexes. False if not."""


class AuditLog(Protocol):
    def append(self, entry: dict, *, unique_key: str) -> tuple[int, str]:
        """Appends at the head of the chain and returns (sequence, entry hash hex). Concurrent
        appends never fork the chain. Raises DuplicateAuditKey if `unique_key` is logged."""

    def find(self, unique_key: str) -> LoggedEntry | None: ...

    def entries(self) -> Iterable[LoggedEntry]:
        """Every entry in sequence order."""


class CountersignQueue(Protocol):
    def enqueue(self, batch_id: str, attestation_ref: dict, people_chunks: Sequence[Sequence[dict]]) -> int:
        """One message per chunk (sent in batches); returns the number of messages."""


# -- signing ------------------------------------------------------------------------------------
def attestation_key(batch_id: str) -> str:
    return f"batch:{batch_id}"


class SigningService:
    def __init__(self, facilities: FacilityRegistry, records: SigningRecords, manifests: ManifestStore,
                 audit: AuditLog, queue: CountersignQueue, *, new_id: Callable[[], str],
                 batch_ttl: timedelta = DEFAULT_BATCH_TTL, chunk_people: int = DEFAULT_CHUNK_PEOPLE,
                 counters=None) -> None:
        self._facilities = facilities
        # Progress counters (signed_by_facility); optional so the rules can be tested alone.
        self._counters = counters
        self._records = records
        self._manifests = manifests
        self._audit = audit
        self._queue = queue
        self._new_id = new_id
        self._ttl = batch_ttl
        self._chunk = chunk_people

    # -- 1. open a batch ------------------------------------------------------------------------
    def create_batch(self, facility_id: str, *, limit: int = MAX_PEOPLE_PER_BATCH, now: datetime) -> dict:
        if not 1 <= limit <= MAX_PEOPLE_PER_BATCH:
            raise errors.ValidationError(f"limit must be between 1 and {MAX_PEOPLE_PER_BATCH}")
        if self._facilities.get_facility(facility_id) is None:
            raise errors.NotFound("no such facility", details={"facility_id": facility_id})
        chosen: dict[str, list[CandidateRecord]] = {}
        for c in self._records.candidates(facility_id, max_people=limit, now=now):
            if c.citizen_id in chosen or len(chosen) < limit:
                chosen.setdefault(c.citizen_id, []).append(c)
        batch_id = self._new_id()
        expires = now + self._ttl
        wanted = [c for group in chosen.values() for c in group]
        reserved = self._records.reserve(batch_id, wanted, until=expires, now=now) if wanted else set()
        # A record another batch took in the meantime (or that changed) is left out; its person is
        # still signed for the doses this batch could hold.
        entries = build_entries({p: [c.dose for c in group if c.key in reserved] for p, group in chosen.items()})
        if not entries:
            raise NothingToSign("no verified, unsigned people at this facility",
                                details={"facility_id": facility_id})
        manifest = build_manifest(batch_id=batch_id, facility_id=facility_id, created_at=iso_seconds(now),
                                  expires_at=iso_seconds(expires), entries=entries)
        self._manifests.put(manifest)
        return manifest

    def get_batch(self, batch_id: str) -> StoredBatch:
        stored = self._manifests.get(batch_id)
        if stored is None:
            raise errors.NotFound("no such signing batch", details={"batch_id": batch_id})
        return stored

    # -- 2. accept the signature ----------------------------------------------------------------
    def submit_signature(self, batch_id: str, *, signature_b64: str, algorithm: str, signer_id: str,
                         certificate_pem: str | None = None, certificate_fingerprint: str | None = None,
                         now: datetime) -> dict:
        stored = self.get_batch(batch_id)
        manifest = stored.manifest
        try:
            root = check_manifest(manifest)
        except ManifestInvalid as e:
            raise ManifestTampered("the stored manifest no longer matches its merkle root",
                                   details={"batch_id": batch_id}) from e
        signature = _b64(signature_b64)
        logged = self._audit.find(attestation_key(batch_id))
        if logged is not None:
            return self._replay(stored, logged, signature, now)
        if now > datetime.fromisoformat(manifest["expires_at"]):
            raise BatchExpired("the signing batch expired; create a new one", details={"batch_id": batch_id})

        facility = self._facilities.get_facility(manifest["facility_id"])
        if facility is None:
            raise errors.NotFound("the batch's facility is no longer registered")
        registered = self._registered_certificates(facility, signer_id)
        cert = self._pick_certificate(registered, certificate_pem, certificate_fingerprint)
        cas = [pki.load_certificate(p) for p in self._facilities.ca_certificates()]
        who = pki.validate_signer_certificate(cert, ca_certs=cas, at=now)
        self._check_may_sign(who, signer_id, facility)
        message = signing_message(batch_id, manifest["facility_id"], manifest["count"], root)
        pki.verify_signature(cert, message, signature, algorithm)

        entry = {"type": "batch-attestation", "batch_id": batch_id, "facility_id": manifest["facility_id"],
                 "signer": {"role": who.role, "id": who.subject_id},
                 "certificate_fingerprint": pki.fingerprint(cert), "merkle_root": root.hex(),
                 "count": manifest["count"], "algorithm": algorithm,
                 "signature": base64.b64encode(signature).decode("ascii"), "signed_at": iso_seconds(now)}
        try:
            sequence, entry_hash = self._audit.append(entry, unique_key=attestation_key(batch_id))
        except DuplicateAuditKey:
            # A concurrent submission logged first: answer as for a repeated one.
            logged = self._audit.find(attestation_key(batch_id))
            if logged is None:
                raise errors.DependencyUnavailable("audit log reported a duplicate it cannot show") from None
            return self._replay(stored, logged, signature, now)
        self._manifests.set_status(batch_id, ATTESTED, now)
        if self._counters is not None:
            # Once per batch: only the first, successful append gets here (repeats are replays).
            self._counters.add(facility.facility_id, facility.province, signed_by_facility=manifest["count"])
        logged = LoggedEntry(sequence, "", entry, entry_hash)
        queued = self._dispatch(manifest, logged, now)
        return _attestation_result(logged, queued=queued, replayed=False)

    def _replay(self, stored: StoredBatch, logged: LoggedEntry, signature: bytes, now: datetime) -> dict:
        if base64.b64decode(logged.entry["signature"]) != signature:
            raise AlreadyAttested("the batch is already attested with another signature",
                                  details={"batch_id": logged.entry["batch_id"], "sequence": logged.sequence})
        queued = None
        if stored.status != DISPATCHED:
            # The earlier call stopped between logging and the fan-out; the worker is idempotent,
            # so sending again is harmless and ensures no person is lost.
            queued = self._dispatch(stored.manifest, logged, now)
        return _attestation_result(logged, queued=queued, replayed=True)

    def _registered_certificates(self, facility: Facility, signer_id: str) -> tuple[str, ...]:
        if signer_id == facility.facility_id:
            return facility.certificates
        # A facility registered before codes were normalised may hold "1" for "001".
        province = normalise_province_code(facility.province) or facility.province
        for agency in self._facilities.focal_agencies(province):
            if agency.agency_id == signer_id and same_province(agency.province, facility.province):
                return agency.certificates
        raise errors.Forbidden("signer may not sign for this facility",
                               details={"signer_id": signer_id, "facility_id": facility.facility_id})

    @staticmethod
    def _pick_certificate(registered: Sequence[str], certificate_pem: str | None, fp: str | None):
        by_fp = {pki.fingerprint(c): c for c in (pki.load_certificate(p) for p in registered)}
        if certificate_pem:
            fp_given = pki.fingerprint(pki.load_certificate(certificate_pem))
            if fp and fp.lower() != fp_given:
                raise errors.ValidationError("certificate and fingerprint do not match")
            fp = fp_given
        if not fp:
            raise errors.ValidationError("give the signing certificate or its SHA-256 fingerprint")
        cert = by_fp.get(fp.lower())
        if cert is None:
            raise errors.Forbidden("certificate is not registered for this signer", details={"fingerprint": fp})
        return cert

    @staticmethod
    def _check_may_sign(who: pki.SignerIdentity, signer_id: str, facility: Facility) -> None:
        # The registry said whom the certificate was registered for; the certificate itself must say
        # the same, so a mis-registered certificate cannot widen what its holder may sign.
        if who.subject_id != signer_id:
            raise errors.Forbidden("certificate was issued to another signer")
        if who.role == pki.ROLE_FACILITY and signer_id != facility.facility_id:
            raise errors.Forbidden("a facility certificate signs only for its own facility")
        if who.role == pki.ROLE_FOCAL_AGENCY and not same_province(who.province, facility.province):
            raise errors.Forbidden("focal agency certificate is for another province")

    def _dispatch(self, manifest: dict, logged: LoggedEntry, now: datetime) -> int:
        entries = manifest["entries"]
        tree = MerkleTree([bytes.fromhex(e["entry_digest"]) for e in entries])
        people = [dict(e, index=i, proof=[p.hex() for p in tree.proof(i)]) for i, e in enumerate(entries)]
        chunks = [people[i:i + self._chunk] for i in range(0, len(people), self._chunk)]
        self._manifests.chunks_queued(
            manifest["batch_id"], manifest["facility_id"],
            [QueuedChunk(n, c[0]["index"], tuple(e["citizen_id"] for e in c)) for n, c in enumerate(chunks)],
            pending_until=now + MESSAGE_LIFETIME, now=now)
        # The worker checks every field against the audit log; the province it books counters on
        # comes from the facility registry, so the message does not carry one.
        ref = {"sequence": logged.sequence, "entry_hash": logged.entry_hash, "facility_id": manifest["facility_id"],
               "merkle_root": manifest["merkle_root"],
               "count": manifest["count"], "certificate_fingerprint": logged.entry["certificate_fingerprint"]}
        sent = self._queue.enqueue(manifest["batch_id"], ref, chunks)
        self._manifests.set_status(manifest["batch_id"], DISPATCHED, now)
        return sent

    # -- 3. audit -------------------------------------------------------------------------------
    def verify_audit_chain(self) -> ChainCheck:
        return verify_chain(self._audit.entries())


def _b64(text: str) -> bytes:
    try:
        out = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError) as e:
        raise errors.ValidationError("signature must be base64") from e
    if not out:
        raise errors.ValidationError("signature is empty")
    return out


def _attestation_result(logged: LoggedEntry, *, queued: int | None, replayed: bool) -> dict:
    e = logged.entry
    return {"batch_id": e["batch_id"], "facility_id": e["facility_id"], "sequence": logged.sequence,
            "entry_hash": logged.entry_hash, "certificate_fingerprint": e["certificate_fingerprint"],
            "signer": e["signer"], "merkle_root": e["merkle_root"], "count": e["count"],
            "signed_at": e["signed_at"], "messages_queued": queued, "replayed": replayed}
