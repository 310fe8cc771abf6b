"""The signing marks on record items (signing_batch, signing_until, signed_batch; see
adapters/dynamo.py): picking a facility's verified, unsigned records for a batch, reserving them
until it expires, and marking or releasing them for the countersign worker.
"""
from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Sequence

from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables, cancelled_items, read_failed, record_pk
from chalicelib.adapters.transactions import Update, apply_updates
from chalicelib.signing.service import VERIFIED_STATES, CandidateRecord, candidate_from_record
from chalicelib.timestamps import utc_stamp

MAX_TRANSACTION_ITEMS = 100
CONFLICT_ROUNDS = 8


class DynamoSigningRecords:
    """Selects and reserves records through the records table (gsi2 = FAC#<facility>#<state>)."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def candidates(self, facility_id: str, *, max_people: int, now: datetime) -> list[CandidateRecord]:
        R = self._t.Record
        stamp = utc_stamp(now)
        free = ((R.signing_batch.does_not_exist() | (R.signing_until < stamp)) & R.signed_batch.does_not_exist())
        out: list[CandidateRecord] = []
        people: set[str] = set()
        try:
            for state in VERIFIED_STATES:
                for item in R.by_facility_state.query(f"FAC#{facility_id}#{state}", filter_condition=free,
                                                      page_size=500):
                    c = candidate_from_record(facility_id=item.facility_id, record_id=item.record_id,
                                              version=int(item.version), digest=item.digest,
                                              data=json.loads(item.data), matched_citizen_id=item.matched_citizen_id)
                    if c is None:
                        continue
                    if c.citizen_id not in people:
                        if len(people) == max_people:
                            break  # enough people; the rest wait for the next batch
                        people.add(c.citizen_id)
                    out.append(c)
        except PynamoDBException as e:
            raise read_failed("records") from e
        return out

    def reserve(self, batch_id: str, records: Sequence[CandidateRecord], *, until: datetime,
                now: datetime) -> set[tuple[str, str]]:
        """Conditional transactions of 100 records each (a batch of 10,000 people is about 100
        requests, not 22,000): a record changed since the head was offered it, or held by another
        open batch, fails its condition and is left out; the others are reserved."""
        R = self._t.Record
        stamp, until_stamp = utc_stamp(now), utc_stamp(until)
        unique = list({c.key: c for c in records}.values())  # a transaction names an item once
        units = [[Update(R(record_pk(*c.key), "REC"), [R.signing_batch.set(batch_id), R.signing_until.set(until_stamp)],
                         (R.version == c.dose.version) & (R.digest == c.dose.digest)
                         & R.state.is_in(*VERIFIED_STATES) & R.signed_batch.does_not_exist()
                         & (R.signing_batch.does_not_exist() | (R.signing_batch == batch_id)
                            | (R.signing_until < stamp)))] for c in unique]
        applied = apply_updates(self._t.connection, units, "records: reserve")
        return {unique[u].key for u, _ in applied}

    def current_versions(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, str]]:
        out = {}
        try:
            for item in self._t.Record.batch_get([(record_pk(f, r), "REC") for f, r in keys],
                                                 attributes_to_get=["facility_id", "record_id", "version", "digest"]):
                out[(item.facility_id, item.record_id)] = (int(item.version), item.digest)
        except PynamoDBException as e:
            raise read_failed("records") from e
        return out

    def mark_signed(self, batch_id: str, keys: Sequence[tuple[str, str]], now: datetime) -> set[tuple[str, str]]:
        R = self._t.Record
        # A record changed since, or taken by another batch after this one expired, stays as it is.
        return self._update_held(batch_id, keys, [R.signed_batch.set(batch_id)], "mark signed")

    def release(self, batch_id: str, keys: Sequence[tuple[str, str]], now: datetime) -> set[tuple[str, str]]:
        R = self._t.Record
        # A record changed since, or already held by another batch, stays as it is.
        return self._update_held(batch_id, keys, [R.signed_batch.remove(), R.signing_batch.remove(),
                                                  R.signing_until.remove()], "release")

    def _update_held(self, batch_id: str, keys: Sequence[tuple[str, str]], actions: list,
                     what: str) -> set[tuple[str, str]]:
        """Applies `actions` to each record the batch holds, 100 records per transaction; the keys
        done. A cancelled transaction names the records whose condition failed: they are left
        out and the rest are sent again (a conflict with another writer: all of them again)."""
        R = self._t.Record
        pending = sorted(set(keys))
        done: set[tuple[str, str]] = set()
        conflicts = 0
        while pending:
            part = pending[:MAX_TRANSACTION_ITEMS]
            try:
                with TransactWrite(connection=self._t.connection) as tx:
                    for key in part:
                        tx.update(R(record_pk(*key), "REC"), actions=actions, condition=R.signing_batch == batch_id)
            except TransactWriteError as e:
                failed = cancelled_items(e, "ConditionalCheckFailed")
                if failed:
                    pending = [k for i, k in enumerate(part) if i not in failed] + pending[len(part):]
                    continue
                conflicts += 1
                if not cancelled_items(e, "TransactionConflict") or conflicts >= CONFLICT_ROUNDS:
                    raise errors.DependencyUnavailable(f"records: {what} failed") from e
                time.sleep(0.05 * conflicts)
                continue
            done.update(part)
            pending = pending[len(part):]
        return done
