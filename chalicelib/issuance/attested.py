"""Countersigning a chunk of a facility-attested batch (a countersign queue message).

The message is hostile input: anyone able to send to the queue could write one. So the worker
trusts nothing in it that it can check against the record of truth:

1. The attestation comes from the audit log, found by its unique key `batch:<batch_id>`; the
   logged entry must link into the chain (its hash recomputes from its predecessor's) and be
   vouched for by the audit anchor (the KMS-signed checkpoint of its sequence names its hash, so
   an entry rewritten or added by a DynamoDB writer is refused), and the message's claims
   (sequence, entry hash, facility, certificate fingerprint, Merkle root, count) must equal it.
   Otherwise the chunk is refused: nothing is issued, the message goes to the DLQ with the
   reason, a security event is kept and `countersign_chunks_refused` moves. The facility
   and the province the counters are booked on come from the audit log and the facility
   registry, never from the message.
2. Per entry, what the facility signed: the entry hashes to its digest, sits in the attested
   Merkle tree (inclusion proof against the logged root and count) and names only the attested
   facility's records. Entries failing that are security events too (kept without personal data,
   counted as `countersign_entries_not_attested`); the rest of the chunk proceeds.
3. Per person, in one conditional transaction (`ChunkClaims.claim`): the person's signing lease is
   taken for this chunk, the batch is noted on the person (so that until a passport includes
   them, a later countersign of that person searches all their records instead of trusting the
   passport's) and the entry's records are claimed for this batch (conditional on the batch's
   reservation), so two batches never countersign the same records. Then the countersign use
   case issues the passports. A person whose lease another chunk holds (another facility's
   attestation of the same person, being signed right now) gets nothing of this chunk yet: they
   are claimed again after a short wait, once that chunk stored and let go, and read with its
   passport, so each passport version costs exactly one KMS Sign; still held after the wait, the
   message is retried (`PassportRaceLost`). A person it refuses (not in the registry, a name that
   cannot be transliterated) has the claim released, so the facility's next signing batch offers
   them again; the chunk's status item records the outcome for `reports reconcile`.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Mapping, NoReturn, Protocol, Sequence

from chalicelib import errors
from chalicelib.issuance.service import SIGNING_LEASE_S, CountersignRequest, CountersignService, Outcome
from chalicelib.signing.audit import LoggedEntry, entry_links
from chalicelib.signing.manifest import entry_digest, verify_inclusion
from chalicelib.signing.service import CHUNK_DEAD_LETTERED, CHUNK_DONE, attestation_key

# The attestation fields a countersign message repeats; each must equal the logged attestation.
CHECKED_FIELDS = ("sequence", "entry_hash", "facility_id", "certificate_fingerprint", "merkle_root", "count")
# Security events name at most this many dose records (a forged message can be arbitrarily long).
MAX_EVENT_DOSES = 200
MAX_BATCH_ID = 128
LEASE_S = SIGNING_LEASE_S
# Rounds of waiting for a person another chunk is signing (0.5 s, 1 s, ...: 7.5 s in all,
# a chunk's work several times over) before the message is left to SQS's redelivery.
LEASE_ROUNDS = 6
LEASE_WAIT_S = 0.5


class ChunkRefused(errors.ValidationError):
    """The chunk's attestation is absent from the audit log or differs from it: nothing issued."""

    code = "COUNTERSIGN_CHUNK_REFUSED"


class PassportRaceLost(errors.DependencyUnavailable):
    """Another worker stored a version for one of the chunk's people after this one read it.
    Retrying the message re-reads the person: issued again with both workers' doses, or unchanged."""

    code = "PASSPORT_RACE_LOST"


class SignedRecords(Protocol):
    def release(self, batch_id: str, keys: Sequence[tuple[str, str]], now: datetime) -> set[tuple[str, str]]:
        """Records this batch holds or signed leave it (free to be offered again)."""


@dataclass(frozen=True)
class Claimed:
    keys: set[tuple[str, str]]  # the records now signed by the batch
    held: set[str]  # people whose lease another chunk holds: nothing of theirs was written


class ChunkClaims(Protocol):
    def claim(self, batch_id: str, holder: str, people: Mapping[str, Sequence[tuple[str, str]]], *,
              until: datetime, now: datetime) -> Claimed:
        """Per person, together or not at all: the signing lease taken for `holder` (free,
        expired, or the holder's already), the batch noted on the person's claims, and each of
        their records the batch holds marked signed by it (a record it does not hold is left out)."""

    def release_leases(self, holder: str, citizen_ids: Sequence[str], now: datetime) -> None:
        """Lets go of those of the holder's leases it still holds."""


class Attestations(Protocol):
    def find(self, unique_key: str) -> LoggedEntry | None: ...


class Anchor(Protocol):
    def vouches(self, sequence: int, entry_hash: str) -> bool:
        """A KMS-signed checkpoint of the audit log at `sequence` names `entry_hash` as its head."""


class Facilities(Protocol):
    def get_facility(self, facility_id: str): ...


class ChunkStatus(Protocol):
    def finish_chunk(self, batch_id: str, chunk: int, *, first_index: int, size: int, status: str,
                     refused: Sequence[int], now: datetime) -> bool: ...


class SecurityEvents(Protocol):
    def record(self, event: dict, now: datetime) -> str: ...


class Counters(Protocol):
    def add(self, facility_id: str | None, province_code: str | None, **deltas: int) -> None: ...


@dataclass(frozen=True)
class CheckedAttestation:
    """An attestation as the audit log holds it, with the facility's registered province."""

    batch_id: str
    sequence: int
    entry_hash: str
    facility_id: str
    certificate_fingerprint: str
    merkle_root: str
    count: int
    province_code: str | None

    def claims(self) -> dict:
        return {f: getattr(self, f) for f in CHECKED_FIELDS}


class AttestedBatchCountersigner:
    def __init__(self, service: CountersignService, records: SignedRecords, clock, *, claims: ChunkClaims,
                 attestations: Attestations, anchor: Anchor, facilities: Facilities, chunks: ChunkStatus,
                 events: SecurityEvents, counters: Counters, sleep: Callable[[float], None] = time.sleep) -> None:
        self._service = service
        self._records = records
        self._claims = claims
        self._sleep = sleep
        self._now = clock
        self._attestations = attestations
        self._anchor = anchor
        self._facilities = facilities
        self._chunks = chunks
        self._events = events
        self._counters = counters

    def handle(self, message: dict, cache: dict | None = None) -> list[Outcome]:
        """`cache` lives for one handler invocation: a logged attestation never changes, so the
        chunks of one batch in the same invocation read the audit log once."""
        now = self._now()
        try:
            batch_id = message["batch_id"]
            claimed = message["attestation"]
            entries = list(message["entries"])
            chunk = int(message.get("chunk", 0))
            # A batch id is short (SB + 16 hex); a huge one must not reach DynamoDB as a key.
            if not isinstance(batch_id, str) or not 0 < len(batch_id) <= MAX_BATCH_ID or not isinstance(claimed, dict) \
                    or not entries or not all(isinstance(e, dict) for e in entries):
                raise TypeError("bad shape")
        except (KeyError, TypeError, ValueError, AttributeError):
            self._refuse(message, None, "MALFORMED", [], now)
        att = self._checked_attestation(batch_id, claimed, message, cache if cache is not None else {}, now)

        outcomes, proven, forged = [], [], []
        for entry in entries:
            if self._proven(entry, att):
                proven.append(entry)
            else:
                forged.append(entry)
                outcomes.append(Outcome(str(entry.get("citizen_id", "")), "not_attested"))
        if forged:
            self._events.record({"event": "countersign_entries_not_attested", "batch_id": batch_id, "chunk": chunk,
                                 "attestation": att.claims(), "entries": [_entry_summary(e) for e in forged]}, now)
            self._counters.add(att.facility_id, att.province_code, countersign_entries_not_attested=len(forged))

        index_of: dict[str, tuple[int, list[tuple[str, str]]]] = {}
        for e in proven:
            first, keys = index_of.get(e["citizen_id"], (int(e["index"]), []))
            mine = {(d["facility_id"], d["record_id"]) for d in e["doses"]}
            index_of[e["citizen_id"]] = (first, sorted({*keys, *mine}))
        holder = f"{batch_id}#{chunk}"
        leased: set[str] = set()
        try:
            waiting = list(proven)
            for attempt in range(LEASE_ROUNDS):
                if not waiting:
                    break
                got = self._claims.claim(batch_id, holder, {e["citizen_id"]: index_of[e["citizen_id"]][1]
                                                            for e in waiting},
                                         until=now + timedelta(seconds=LEASE_S), now=self._now())
                leased.update(e["citizen_id"] for e in waiting if e["citizen_id"] not in got.held)
                outcomes += self._countersign([e for e in waiting if e["citizen_id"] not in got.held], got.keys,
                                              batch_id, att)
                waiting = [e for e in waiting if e["citizen_id"] in got.held]
                if waiting and attempt < LEASE_ROUNDS - 1:
                    # Let go of the people done before waiting for the others: the chunk holding
                    # those may be waiting for one of these (two facilities, people in both).
                    self._let_go(holder, leased, now)
                    leased = set()
                    self._sleep(LEASE_WAIT_S * (attempt + 1))  # another chunk is signing them: let it finish
            outcomes += [Outcome(e["citizen_id"], "lost_race") for e in waiting]
        except BaseException:
            self._let_go(holder, leased, now, quietly=True)
            raise
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="leases") as pool:
            # Letting go of the leases needs nothing of what follows: it runs beside it.
            letting_go = pool.submit(self._let_go, holder, leased, now)
            self._finish(batch_id, chunk, entries, outcomes, index_of, forged=bool(forged), now=now)
            letting_go.result()
        return outcomes

    def _finish(self, batch_id: str, chunk: int, entries: list[dict], outcomes: list[Outcome],
                index_of: dict[str, tuple[int, list[tuple[str, str]]]], *, forged: bool, now: datetime) -> None:
        refused = [o for o in outcomes if o.status == "refused"]
        if refused:
            # Released, so they are offered again with the facility's next batch instead of waiting
            # for a DLQ replay that may never come (and that now finds them free, not claimed).
            self._records.release(batch_id, [k for o in refused for k in index_of[o.citizen_id][1]], now)
        if any(o.status == "lost_race" for o in outcomes):
            raise PassportRaceLost("another worker issued a passport for someone in this chunk first; retry")
        if not forged:
            # The chunk's status item (written at dispatch) says whether its people are still pending;
            # the adapter updates it only if this message has the chunk's first index and size.
            self._chunks.finish_chunk(batch_id, chunk, first_index=min(int(e["index"]) for e in entries),
                                      size=len(entries), status=CHUNK_DEAD_LETTERED if refused else CHUNK_DONE,
                                      refused=sorted(index_of[o.citizen_id][0] for o in refused), now=now)

    def _countersign(self, entries: list[dict], claimed_keys: set[tuple[str, str]], batch_id: str,
                     att: CheckedAttestation) -> list[Outcome]:
        outcomes, requests = [], []
        for entry in entries:
            mine = {(d["facility_id"], d["record_id"]) for d in entry["doses"]}
            if not mine <= claimed_keys:
                outcomes.append(Outcome(entry["citizen_id"], "stale", detail=sorted(r for _, r in mine - claimed_keys)))
                continue
            requests.append(CountersignRequest(entry["citizen_id"], entry["doses"], {
                "batch_id": batch_id, "sequence": att.sequence, "entry_hash": att.entry_hash,
                "facility_id": att.facility_id, "province_code": att.province_code,
                "certificate_fingerprint": att.certificate_fingerprint, "merkle_root": att.merkle_root,
                "entry_index": int(entry["index"])}))
        return outcomes + (self._service.countersign(requests) if requests else [])

    def _let_go(self, holder: str, leased: set[str], now: datetime, quietly: bool = False) -> None:
        if not leased:
            return
        try:
            self._claims.release_leases(holder, sorted(leased), now)
        except errors.DependencyUnavailable:
            if not quietly:
                raise
            # Already failing: the leases expire by themselves (LEASE_S), the first error is the one to report.

    # -- the attestation ----------------------------------------------------------------------
    def _checked_attestation(self, batch_id: str, claimed: dict, message: dict, cache: dict,
                             now: datetime) -> CheckedAttestation:
        att = cache.get(batch_id)
        if att is None:
            logged = self._attestations.find(attestation_key(batch_id))
            entry = logged.entry if logged is not None else {}
            if logged is None or entry.get("type") != "batch-attestation" or entry.get("batch_id") != batch_id:
                self._refuse(message, None, "ATTESTATION_NOT_FOUND", [], now)
            if not entry_links(logged):
                self._refuse(message, None, "ATTESTATION_NOT_IN_CHAIN", [], now)
            # A DynamoDB writer can rewrite an entry and recompute its hash so that it still links:
            # only the anchor's KMS-signed checkpoint tells the entry is the one the app appended.
            if not self._anchor.vouches(logged.sequence, logged.entry_hash):
                self._refuse(message, None, "ATTESTATION_NOT_ANCHORED", [], now)
            facility = self._facilities.get_facility(entry["facility_id"])
            att = CheckedAttestation(batch_id, logged.sequence, logged.entry_hash, entry["facility_id"],
                                     entry["certificate_fingerprint"], entry["merkle_root"], int(entry["count"]),
                                     facility.province if facility is not None else None)
            cache[batch_id] = att
        differ = [f for f in CHECKED_FIELDS if str(claimed.get(f)) != str(getattr(att, f))]
        if differ:
            self._refuse(message, att, "ATTESTATION_MISMATCH", differ, now)
        return att

    def _refuse(self, message, att: CheckedAttestation | None, reason: str, fields: list[str],
                now: datetime) -> NoReturn:
        """Counts and keeps the refused chunk, then raises: the message goes to the DLQ."""
        event = {"event": "countersign_chunk_refused", "reason": reason, "differing_fields": fields,
                 "logged_attestation": att.claims() if att is not None else None, **_message_summary(message)}
        self._events.record(event, now)
        self._counters.add(att.facility_id if att else None, att.province_code if att else None,
                           countersign_chunks_refused=1)
        detail = f" ({', '.join(fields)})" if fields else ""
        raise ChunkRefused(f"countersign chunk refused: {reason}{detail}; nothing was issued",
                           details={"reason": reason})

    @staticmethod
    def _proven(entry: dict, att: CheckedAttestation) -> bool:
        try:
            # A manifest entry always names at least one record, all of the attested facility.
            if not entry["doses"] or any(d["facility_id"] != att.facility_id for d in entry["doses"]):
                return False
            digest = entry_digest(entry)
            if digest != entry.get("entry_digest"):
                return False
            proof = [bytes.fromhex(p) for p in entry["proof"]]
            return verify_inclusion(bytes.fromhex(digest), int(entry["index"]), proof,
                                    bytes.fromhex(att.merkle_root), att.count)
        except (KeyError, TypeError, ValueError, AttributeError):
            return False


# -- security events: enough to investigate, no personal data -----------------------------------
def _short(value, limit: int = 100):
    return value[:limit] if isinstance(value, str) else (value if isinstance(value, (int, float, type(None))) else
                                                         type(value).__name__)


def _dose_keys(entry) -> list[list]:
    doses = entry.get("doses") if isinstance(entry, dict) else None
    if not isinstance(doses, list):
        return []
    return [[_short(d.get("facility_id")), _short(d.get("record_id")), _short(d.get("version"))]
            for d in doses if isinstance(d, dict)]


def _entry_summary(entry: dict) -> dict:
    """Which records an entry claims, by key only: citizen id, names and dates stay out."""
    return {"index": _short(entry.get("index")), "entry_digest": _short(entry.get("entry_digest")),
            "records": _dose_keys(entry)}


def _message_summary(message) -> dict:
    if not isinstance(message, dict):
        return {"claimed": None, "entries": None}
    claimed = message.get("attestation")
    entries = message.get("entries")
    entries = entries if isinstance(entries, list) else []
    records = [k for e in entries for k in _dose_keys(e)]
    return {"batch_id": _short(message.get("batch_id")), "chunk": _short(message.get("chunk")),
            "claimed_attestation": {f: _short(claimed.get(f)) for f in CHECKED_FIELDS}
            if isinstance(claimed, dict) else None,
            "entries": len(entries), "records": records[:MAX_EVENT_DOSES]}
