"""Records stored but never cleaned: intake stores a chunk, then queues it for cleaning; a crash
or an SQS failure in between (or a lost message) leaves records PENDING that no message will ever
clean. The next submission of the same record queues it again; this sweep (run by
`vaxpass reports reconcile`, beside the counter reconciliation) finds the ones nobody submits
again, and with --requeue queues them for cleaning.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterable, Protocol, Sequence


@dataclass(frozen=True)
class PendingRecord:
    facility_id: str
    record_id: str
    version: int
    cleaned_version: int
    batch_id: str | None
    stored_at: datetime | None  # when this version was written


def never_cleaned(records: Iterable[PendingRecord], *, now: datetime, grace: timedelta) -> list[PendingRecord]:
    """Versions nobody cleaned, stored more than `grace` ago (younger ones may still be queued),
    in key order."""
    cutoff = now - grace
    return sorted((r for r in records
                   if r.cleaned_version < r.version and (r.stored_at is None or r.stored_at <= cutoff)),
                  key=lambda r: (r.facility_id, r.record_id))


class PendingRecordSource(Protocol):
    def pending_records(self) -> Iterable[PendingRecord]: ...


class CleaningRequeue(Protocol):
    def enqueue(self, batch_id: str, refs: Sequence[tuple[str, str, int]]) -> int: ...


class NeverCleanedSweep:
    """Lists records stored but never cleaned and, when asked, queues them for cleaning again. A
    queued version the worker finds already cleaned (or superseded) is skipped there, so a
    record queued twice is verified once."""

    def __init__(self, source: PendingRecordSource, queue: CleaningRequeue, clock: Callable[[], datetime]) -> None:
        self._source = source
        self._queue = queue
        self._now = clock

    def run(self, *, grace: timedelta, requeue: bool = False) -> list[dict]:
        found = never_cleaned(self._source.pending_records(), now=self._now(), grace=grace)
        if requeue:
            by_batch: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
            for r in found:
                by_batch[r.batch_id or "reconcile"].append((r.facility_id, r.record_id, r.version))
            for batch_id, refs in sorted(by_batch.items()):
                self._queue.enqueue(batch_id, refs)
        return [{"never_cleaned": {"facility_id": r.facility_id, "record_id": r.record_id, "version": r.version,
                                   "batch_id": r.batch_id,
                                   "stored_at": r.stored_at.isoformat() if r.stored_at else None},
                 "requeued": requeue} for r in found]
