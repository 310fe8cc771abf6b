"""Use case behind the cleaning queue: verify stored records against the registry, once per
record version, and keep the outcome counters right.

A message names (facility, record id, version) triples. A record is verified only if the stored
version is the one named and that version has not been verified yet, so duplicate deliveries and
stale messages (the record changed since) do nothing. The result is written together with the
counter moves (old outcome -1, new outcome +1) in one conditional transaction.

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
from chalicelib.cleaning.service import clean_row

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


class CleaningRepository(Protocol):
    def load(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], RecordForCleaning]: ...

    def save_result(self, record: RecordForCleaning, result: CleaningResult, view: Mapping,
                    now: datetime) -> bool:
        """Stores the outcome and the matched person (for signing and the citizen's own records,
        never shown) with `view`, the only form of the result anyone may read, and whom the dose
        moved away from (`moved_away_from`), if this version is still unverified; False if
        someone else did."""


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
        keys = [(str(f), str(r)) for f, r, _v in refs]
        loaded = self._repo.load(keys)
        moved: set[str] = set()
        for facility, record_id, version in refs:
            rec = loaded.get((str(facility), str(record_id)))
            if rec is None or rec.version != int(version):
                stats.skipped_stale += 1  # a newer version has its own message
                continue
            if rec.cleaned_version >= rec.version:
                stats.skipped_done += 1
                if rec.moved_from:
                    moved.add(rec.moved_from)  # the delivery that stored it may have died before sending
                continue
            # Verify what the facility typed, not the normalised copy: whether only the form
            # differed (VERIFIED_NORMALIZED) is part of the answer.
            row = dict(rec.original) if rec.original else dict(rec.data)
            result = clean_row(self._matcher, 0, row, default_facility=rec.facility_id,
                               default_province=rec.province_code)
            # What no one may read is not stored: candidates, scores, undisclosed registry values.
            view = facility_view(result.to_dict(), rec.data, rec.original) or {}  # None only for no result
            if self._repo.save_result(rec, result, view, self._now()):
                stats.verified += 1
                away = moved_away_from(rec.matched_citizen_id, result.matched_citizen_id)
                if away:
                    moved.add(away)
            else:
                stats.lost_race += 1
        if moved:
            # After the results are stored, so the re-evaluation reads the dose where it now is.
            stats.reevaluations = self._reevaluations.reevaluate(sorted(moved))
        return stats
