"""Reconciliation: recompute the counters from the data and report where they drifted.

The counters are updated in the same transactions as the events they count, so they should
never drift; this job is the proof, and the repair if a bug or a manual edit ever breaks them.
It reads whole tables (the only place that may: it is an audit, not a read path).

What can be recomputed from the stored data, and how (mirroring each writer):
- received: one per stored record (a record item exists once per facility + record id;
  new versions and duplicates do not add), on the record's facility and province.
- verified, verified_normalized, mismatched, not_found, ambiguous, invalid: one per record,
  for its `counted_state` (the outcome it currently adds to the counters).
- passports_issued: one per stored passport version, on the facility and province of the
  version's attestation; passports_revoked: one per version above 1 (issuing version n revokes
  version n-1 in the same transaction, booked on version n's scopes), except a version issued
  over a revocation in place (`issued_over_revocation`: its predecessor was already counted), plus
  one per version revoked in place, by the ministry (`revocation_sequence`) or by a
  re-evaluation that found no attested dose (`revoked_by`), booked on that version's scopes.
- DAY#<date> passports_issued: one per version on the UTC day of its created_at, nation and
  province.
Not recomputed (no stored data says how many there were): corrected (a correction is just a
new record version, like a changed re-upload), signed_by_facility and complaints_* (owned by
the signing and complaints contexts; their audits belong with their data).

Stranded people: everyone a facility head attested is in the status item of the countersign
chunk that carried them (one item per dispatched message, written at dispatch and finished by
the worker). A person is stranded when no chunk holding them is still pending (QUEUED, and young
enough that its message may still be in the queue or its DLQ) and their passport does not rest
on that attestation: they have none, or theirs was issued on an older attestation (a new dose
attested for a passport holder whose message was lost) and does not name the attestation's batch.
The pipeline will not issue them without someone acting. Refused people were released by the worker
and wait for their facility's next signing batch; people whose message was lost keep their
claim, and `--fix` releases it so the next batch offers them again. A person a ministry
revocation holds is owed nothing until the ministry lifts the hold: listed as `held`, not
stranded, and never released by `--fix` (their claims stay as they are).

The same job also sweeps for records stored but never cleaned (never_cleaned.py).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Iterable, Mapping, Protocol, Sequence

from chalicelib.cleaning.worker import COUNTER_FOR_OUTCOME
from chalicelib.reports.domain import OUTCOME_COUNTERS, scope_keys

AUDITED_TOTAL: tuple[str, ...] = ("received",) + OUTCOME_COUNTERS + ("passports_issued", "passports_revoked")
AUDITED_DAY: tuple[str, ...] = ("passports_issued",)

Key = tuple[str, str]  # (pk, sk)


@dataclass(frozen=True)
class RecordFact:
    facility_id: str
    province_code: str | None
    counted_state: str | None


@dataclass(frozen=True)
class PassportFact:
    facility_id: str | None
    province_code: str | None
    version: int
    created_day: str | None  # YYYY-MM-DD (UTC)
    revoked_in_place: bool = False  # by the ministry, or for lack of an attested dose
    issued_over_revocation: bool = False


@dataclass(frozen=True)
class Drift:
    pk: str
    sk: str
    counter: str
    stored: int
    recomputed: int
    fixed: bool | None = None  # None: not asked to fix

    def to_dict(self) -> dict:
        return {**asdict(self), "difference": self.stored - self.recomputed}


@dataclass(frozen=True)
class ChunkFact:
    """A dispatched countersign chunk's status item (see chalicelib/adapters/signing/)."""

    batch_id: str
    chunk: int
    facility_id: str | None
    status: str  # QUEUED | DONE | DEAD_LETTERED
    first_index: int
    people: tuple[str, ...]  # citizen ids in entry order
    refused: tuple[int, ...]  # entry indexes the worker refused
    pending_until: datetime | None

    def pending(self, now: datetime) -> bool:
        """Its message may still deliver it: not processed yet, and not older than a message lives."""
        return self.status == "QUEUED" and self.pending_until is not None and now < self.pending_until


@dataclass(frozen=True)
class Holder:
    """A person's current passport, as far as stranding goes: the audit-log sequence of the
    attestation it accounts for, the batches it names, and the ministry revocation holding the
    person, if any."""

    attestation_sequence: int | None
    held_by: int | None = None
    batches: frozenset[str] = frozenset()

    def covers(self, batch_id: str, attestation_sequence: int | None) -> bool:
        """Its doses include this batch's (whichever attestation issued it: countersigning does not
        follow the audit log's order), or issued on a later attestation (which read every dose
        claimed by then)."""
        if attestation_sequence is None:
            return True  # no logged attestation to compare with: any passport will do
        return batch_id in self.batches or (self.attestation_sequence is not None
                                            and self.attestation_sequence >= attestation_sequence)


def holder_of(attestation: Mapping, held_by: int | None) -> Holder:
    """What a current version's stored `attestation` says it rests on: a re-evaluation names the
    batches of its doses; a countersigned version its own batch and (since versions name them) every
    batch its doses were attested in."""
    sequence = attestation.get("sequence")
    batches = list(attestation.get("batches") or ())
    if attestation.get("kind") != "re-evaluation":
        batches.append(attestation.get("batch_id"))
    return Holder(sequence if isinstance(sequence, int) else None, held_by,
                  frozenset(b for b in batches if isinstance(b, str)))


@dataclass(frozen=True)
class Stranded:
    """A person attested by a facility who holds no passport and whom nothing pending will issue.
    Named by batch and entry index (the manifest holds the person), never by citizen id."""

    batch_id: str
    chunk: int
    entry_index: int
    facility_id: str | None
    chunk_status: str
    refused: bool
    released: int | None = None  # records released by --fix (None: not asked to fix)

    def to_dict(self) -> dict:
        return {"kind": "stranded", **asdict(self)}


@dataclass(frozen=True)
class Held:
    """An attested person not issued because a ministry revocation holds them (named like a
    stranded person, plus the revocation's audit-log sequence: the ministry lifts it by its UVCI)."""

    batch_id: str
    chunk: int
    entry_index: int
    facility_id: str | None
    revocation_sequence: int

    def to_dict(self) -> dict:
        return {"kind": "held", **asdict(self)}


def audited(sk: str) -> tuple[str, ...]:
    return AUDITED_DAY if sk.startswith("DAY#") else AUDITED_TOTAL


def recompute(records: Iterable[RecordFact], passports: Iterable[PassportFact]) -> dict[Key, dict[str, int]]:
    out: dict[Key, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in records:
        outcome = COUNTER_FOR_OUTCOME.get(r.counted_state or "")
        for pk in scope_keys(r.facility_id, r.province_code):
            out[(pk, "TOTAL")]["received"] += 1
            if outcome:
                out[(pk, "TOTAL")][outcome] += 1
    for p in passports:
        for pk in scope_keys(p.facility_id, p.province_code):
            out[(pk, "TOTAL")]["passports_issued"] += 1
            if p.version > 1 and not p.issued_over_revocation:
                out[(pk, "TOTAL")]["passports_revoked"] += 1
            if p.revoked_in_place:
                out[(pk, "TOTAL")]["passports_revoked"] += 1
        if p.created_day:
            for pk in scope_keys(None, p.province_code):
                out[(pk, f"DAY#{p.created_day}")]["passports_issued"] += 1
    return {k: dict(v) for k, v in out.items()}


def compare(stored: Mapping[Key, Mapping[str, int]], recomputed: Mapping[Key, Mapping[str, int]]) -> list[Drift]:
    """Every audited counter whose stored value differs from the recomputed one, in key order.
    A scope missing on either side counts as zeros."""
    drifts = []
    for key in sorted(set(stored) | set(recomputed)):
        have, want = stored.get(key, {}), recomputed.get(key, {})
        for counter in audited(key[1]):
            s, r = int(have.get(counter, 0)), int(want.get(counter, 0))
            if s != r:
                drifts.append(Drift(key[0], key[1], counter, s, r))
    return drifts


class AuditSource(Protocol):
    def record_facts(self) -> Iterable[RecordFact]: ...

    def passport_facts(self) -> Iterable[PassportFact]: ...

    def stored_counters(self) -> Iterable[tuple[Key, dict[str, int]]]: ...

    def set_if_unchanged(self, pk: str, sk: str, counter: str, expected: int, value: int) -> bool: ...

    def chunk_facts(self, *, queued_only: bool) -> Iterable[ChunkFact]: ...

    def passport_holders(self, citizen_ids: Sequence[str]) -> Mapping[str, Holder]:
        """The current passport (and hold) of each of these people who has one (batched reads)."""

    def attestation_sequence(self, batch_id: str) -> int | None:
        """The audit-log sequence of the batch's attestation (None if none is logged)."""

    def release_claims(self, batch_id: str, citizen_id: str, now: datetime) -> int:
        """Releases the person's records this batch still holds; returns how many."""


class Reconciler:
    def __init__(self, source: AuditSource) -> None:
        self._source = source

    def stranded(self, now: datetime, *, fix: bool = False) -> list[Stranded]:
        return [s for s in self.unissued(now, fix=fix) if isinstance(s, Stranded)]

    def unissued(self, now: datetime, *, fix: bool = False) -> list[Stranded | Held]:
        """Attested people with no passport resting on their attestation and no pending chunk:
        stranded, or held by a ministry revocation. Two passes over the chunk items: first the
        pending ones (few: the work in flight), then every chunk, reading passports for its people
        not pending elsewhere. With fix=True, each stranded person's claim in that batch is
        released, so the facility's next signing batch offers them again (held people's claims
        stay as they are)."""
        pending = {p for c in self._source.chunk_facts(queued_only=True) if c.pending(now) for p in c.people}
        seen: set[str] = set()
        sequences: dict[str, int | None] = {}
        out: list[Stranded | Held] = []
        for c in self._source.chunk_facts(queued_only=False):
            if c.pending(now):
                continue
            candidates = [p for p in c.people if p not in pending and p not in seen]
            if not candidates:
                continue
            holders = self._source.passport_holders(candidates)
            if c.batch_id not in sequences:
                sequences[c.batch_id] = self._source.attestation_sequence(c.batch_id)
            for position, person in enumerate(c.people):
                holder = holders.get(person)
                if person not in candidates or (holder is not None and holder.covers(c.batch_id,
                                                                                    sequences[c.batch_id])):
                    continue
                seen.add(person)
                index = c.first_index + position
                if holder is not None and holder.held_by is not None:
                    out.append(Held(c.batch_id, c.chunk, index, c.facility_id, holder.held_by))
                    continue
                released = self._source.release_claims(c.batch_id, person, now) if fix else None
                out.append(Stranded(c.batch_id, c.chunk, index, c.facility_id, c.status, index in c.refused,
                                    released))
        return out

    def run(self, *, fix: bool = False) -> list[Drift]:
        """Drifts found; with fix=True each is set to its recomputed value unless an event moved
        the counter since it was read (then `fixed` is False and a re-run will look again).
        Run it while the pipeline is quiet: an event landing between the data scan and the
        counter scan shows up as a (transient) drift."""
        # Counters first, data second: an event in between is then in the data but not yet in the
        # counter, and a fix's condition (counter still equals what was read) fails safely.
        stored = dict(self._source.stored_counters())
        wanted = recompute(self._source.record_facts(), self._source.passport_facts())
        drifts = compare(stored, wanted)
        if not fix:
            return drifts
        return [Drift(d.pk, d.sk, d.counter, d.stored, d.recomputed,
                      self._source.set_if_unchanged(d.pk, d.sk, d.counter, d.stored, d.recomputed))
                for d in drifts]
