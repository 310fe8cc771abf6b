"""Use case behind the cleaning queue: verify stored records against the registry, once per
record version, and keep the outcome counters right.

A message names (facility, record id, version) triples. A record is verified only if the stored
version is the one named and that version has not been verified yet, so duplicate deliveries and
stale messages (the record changed since) do nothing. The results are written together with the
counter moves (old outcome -1, new outcome +1) in conditional transactions, so a redelivered
chunk adds nothing twice.

Everything is done per chunk, not per record (a national campaign cleans hundreds of millions of
records): one batched read of the records, one of the registry people their ids name, blocking
queries only for the records the id did not settle, and the results of the whole chunk in as few
transactions as DynamoDB's 100-item limit allows, each adding the chunk's summed counter moves
to NATIONAL, a province and a facility once (not once per record).

A record carries the citizen its last cleaned version matched across new versions. When a new
version matches someone else (or no one), a passport may rest on a dose that is no longer its
person's: once the result is stored, the previous citizen is queued for re-evaluation (one
message per person, sent in batches for the whole chunk). The record keeps whom it moved away
from, so a redelivered message sends again what a crash may have lost; a re-evaluation only
recomputes from the store, so a second one changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Mapping, Protocol, Sequence

from chalicelib.cleaning.disclosure import facility_view
from chalicelib.cleaning.matcher import CleaningResult, Matcher
from chalicelib.cleaning.service import prepare_row

# Counter attribute per outcome, for the progress counters and reports.
COUNTER_FOR_OUTCOME = {
    "VERIFIED": "verified", "VERIFIED_NORMALIZED": "verified_normalized", "MISMATCH": "mismatched",
    "NOT_FOUND": "not_found", "AMBIGUOUS": "ambiguous", "INVALID": "invalid",
}


@dataclass(frozen=True)
class RecordForCleaning:
    facility_id: str
    record_id: str
    province_code: str
    version: int
    cleaned_version: int
    counted_state: str | None
    batch_id: str | None
    data: Mapping[str, str]  # canonical (normalised) values
    original: Mapping[str, str]  # the values as the facility typed them
    # The citizen the last cleaned version matched (carried over to new versions), and, once this
    # version is cleaned, the citizen its dose moved away from.
    matched_citizen_id: str | None = None
    moved_from: str | None = None


def moved_away_from(previous: str | None, matched: str | None) -> str | None:
    """The person whose passport may rest on this record's dose and who no longer owns it: the
    previously matched citizen, when the new version matches someone else or no one."""
    return previous if previous and previous != matched else None


def counter_moves(record: RecordForCleaning, outcome: str) -> dict[str, int]:
    """How storing `outcome` for this version moves the outcome counters (nothing if unchanged)."""
    new, old = COUNTER_FOR_OUTCOME[outcome], COUNTER_FOR_OUTCOME.get(record.counted_state or "")
    return {} if old == new else {new: 1, **({old: -1} if old else {})}


@dataclass(frozen=True)
class Cleaned:
    """A version's result, ready to store: `view` is the only form of it anyone may read."""
    record: RecordForCleaning
    result: CleaningResult
    view: Mapping


class CleaningRepository(Protocol):
    def load(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], RecordForCleaning]: ...

    def save_results(self, cleaned: Sequence[Cleaned], now: datetime) -> set[tuple[str, str]]:
        """Stores each outcome and the matched person (for signing and the citizen's own records,
        never shown) with its view, and whom the dose moved away from (`moved_away_from`), if
        that version is still unverified, together with the counter moves (`counter_moves`) and
        each batch's `cleaned` count of the results stored. Returns the keys stored; the others
        were verified by someone else or replaced meanwhile (a lost race). At most one entry per
        key."""


class Reevaluations(Protocol):
    def reevaluate(self, citizen_ids: Sequence[str]) -> int:
        """Queues one re-evaluation message per person, in batches (countersign queue)."""


@dataclass
class WorkerStats:
    verified: int = 0
    skipped_stale: int = 0
    skipped_done: int = 0
    lost_race: int = 0
    reevaluations: int = 0


class VerificationWorker:
    def __init__(self, repo: CleaningRepository, matcher: Matcher, clock: Callable[[], datetime],
                 reevaluations: Reevaluations) -> None:
        self._repo = repo
        self._matcher = matcher
        self._now = clock
        self._reevaluations = reevaluations

    def verify(self, refs: Sequence[Sequence]) -> WorkerStats:
        stats = WorkerStats()
        # A message is hostile input: a version named twice is verified once (a transaction may
        # not name an item twice either), and only the stored version of a record is.
        wanted = list(dict.fromkeys((str(f), str(r), int(v)) for f, r, v in refs))
        stats.skipped_done += len(refs) - len(wanted)
        loaded = self._repo.load(list(dict.fromkeys((f, r) for f, r, _v in wanted)))
        moved: set[str] = set()
        todo: list[RecordForCleaning] = []
        for facility, record_id, version in wanted:
            rec = loaded.get((facility, record_id))
            if rec is None or rec.version != version:
                stats.skipped_stale += 1  # a newer version has its own message
            elif rec.cleaned_version >= rec.version:
                stats.skipped_done += 1
                if rec.moved_from:
                    moved.add(rec.moved_from)  # the delivery that stored it may have died before sending
            else:
                todo.append(rec)
        # What no one may read is not stored: candidates, scores, undisclosed registry values.
        cleaned = [Cleaned(rec, result, facility_view(result.to_dict(), rec.data, rec.original) or {})
                   for rec, result in zip(todo, self._clean(todo))]
        stored = self._repo.save_results(cleaned, self._now()) if cleaned else set()
        for c in cleaned:
            if (c.record.facility_id, c.record.record_id) in stored:
                stats.verified += 1
                away = moved_away_from(c.record.matched_citizen_id, c.result.matched_citizen_id)
                if away:
                    moved.add(away)
            else:
                stats.lost_race += 1
        if moved:
            # After the results are stored, so the re-evaluation reads the dose where it now is.
            stats.reevaluations = self._reevaluations.reevaluate(sorted(moved))
        return stats

    def _clean(self, records: Sequence[RecordForCleaning]) -> list[CleaningResult]:
        # Verify what the facility typed, not the normalised copy: whether only the form differed
        # (VERIFIED_NORMALIZED) is part of the answer.
        prepared = [prepare_row(0, dict(rec.original) if rec.original else dict(rec.data),
                                default_facility=rec.facility_id, default_province=rec.province_code)
                    for rec in records]
        matched = iter(self._matcher.clean_many([p for p in prepared if not isinstance(p, CleaningResult)]))
        return [p if isinstance(p, CleaningResult) else next(matched) for p in prepared]
