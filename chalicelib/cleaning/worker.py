"""Use case behind the cleaning queue: verify stored records against the registry, once per
record version, and keep the outcome counters right.

A message names (facility, record id, version) triples. A record is verified only if the stored
version is the one named and that version has not been verified yet, so duplicate deliveries and
stale messages (the record changed since) do nothing. The result is written together with the
counter moves (old outcome -1, new outcome +1) in one conditional transaction.
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


class CleaningRepository(Protocol):
    def load(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], RecordForCleaning]: ...

    def save_result(self, record: RecordForCleaning, result: CleaningResult, view: Mapping,
                    now: datetime) -> bool:
        """Stores the outcome and the matched person (for signing and the citizen's own records,
        never shown) with `view`, the only form of the result anyone may read, if this version is
        still unverified; False if someone else did."""


@dataclass
class WorkerStats:
    verified: int = 0
    skipped_stale: int = 0
    skipped_done: int = 0
    lost_race: int = 0


class VerificationWorker:
    def __init__(self, repo: CleaningRepository, matcher: Matcher, clock: Callable[[], datetime]) -> None:
        self._repo = repo
        self._matcher = matcher
        self._now = clock

    def verify(self, refs: Sequence[Sequence]) -> WorkerStats:
        stats = WorkerStats()
        keys = [(str(f), str(r)) for f, r, _v in refs]
        loaded = self._repo.load(keys)
        for facility, record_id, version in refs:
            rec = loaded.get((str(facility), str(record_id)))
            if rec is None or rec.version != int(version):
                stats.skipped_stale += 1  # a newer version has its own message
                continue
            if rec.cleaned_version >= rec.version:
                stats.skipped_done += 1
                continue
            # Verify what the facility typed, not the normalised copy: whether only the form
            # differed (VERIFIED_NORMALIZED) is part of the answer.
            row = dict(rec.original) if rec.original else dict(rec.data)
            result = clean_row(self._matcher, 0, row, default_facility=rec.facility_id,
                               default_province=rec.province_code)
            # What no one may read is not stored: candidates, scores, undisclosed registry values.
            view = facility_view(result.to_dict(), rec.data, rec.original)
            if self._repo.save_result(rec, result, view, self._now()):
                stats.verified += 1
            else:
                stats.lost_race += 1
        return stats
