"""DynamoDB adapter of the cleaning worker's repository: a chunk's records read with BatchGet and
its results written in as few conditional transactions as DynamoDB's 100-item limit allows.

Each transaction holds the conditional updates of its records (stored version == read, not yet
cleaned), the summed counter moves of those records (`aggregate_counter_updates`: NATIONAL, each
province and each facility once) and one `cleaned` add per batch. So a chunk's delta lands with
the writes that make its records change state, and a redelivered chunk adds nothing twice.

A transaction cancelled because some records' conditions failed (another worker or a new version
got there first) is sent again without them: the failed ones are a lost race, as a single record
was before; the rest are never lost. Any other failure is DependencyUnavailable: the message
is retried.
"""
from __future__ import annotations

import json
from collections import Counter as Tally
from datetime import datetime
from typing import Sequence

from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import errors
from chalicelib.adapters.counters import aggregate_counter_updates
from chalicelib.adapters.dynamo import Tables, batch_pk, cancelled_items, record_pk
from chalicelib.cleaning.worker import Cleaned, RecordForCleaning, counter_moves, moved_away_from
from chalicelib.reports.domain import scope_keys

TX_ITEMS = 100  # DynamoDB's limit per TransactWriteItems
# What verification reads of a record: not its indexes, digests, earlier result or signing marks,
# which would only be shipped, parsed and thrown away (the emulator's time is the worker's bound).
LOADED = ("pk", "sk", "facility_id", "record_id", "province_code", "version", "cleaned_version", "counted_state",
          "batch_id", "data", "original", "matched_citizen_id", "moved_from_citizen_id")


def _scopes(c: Cleaned) -> set[str]:
    """The extra items a record's result adds to its transaction (counter scopes, its batch)."""
    r = c.record
    out = {batch_pk(r.batch_id)} if r.batch_id else set()
    if counter_moves(r, c.result.outcome.value):
        out.update(scope_keys(r.facility_id, r.province_code))
    return out


def transaction_groups(cleaned: Sequence[Cleaned], limit: int = TX_ITEMS) -> list[list[Cleaned]]:
    """Consecutive groups whose records, counter items and batch items fit in one transaction."""
    groups: list[list[Cleaned]] = []
    scopes: set[str] = set()
    for c in cleaned:
        extra = _scopes(c)
        if not groups or len(groups[-1]) + 1 + len(scopes | extra) > limit:
            groups.append([])
            scopes = set()
        groups[-1].append(c)
        scopes |= extra
    return groups


class DynamoCleaningRepository:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def load(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], RecordForCleaning]:
        out = {}
        try:
            for item in self._t.Record.batch_get([(record_pk(f, r), "REC") for f, r in keys],
                                                 attributes_to_get=self._t.fields(self._t.Record, LOADED)):
                out[(item.facility_id, item.record_id)] = RecordForCleaning(
                    item.facility_id, item.record_id, item.province_code, int(item.version),
                    int(item.cleaned_version or 0), item.counted_state, item.batch_id, json.loads(item.data),
                    json.loads(item.original) if item.original else {}, item.matched_citizen_id,
                    item.moved_from_citizen_id)
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("records: read failed") from e
        return out

    def save_results(self, cleaned: Sequence[Cleaned], now: datetime) -> set[tuple[str, str]]:
        stored: set[tuple[str, str]] = set()
        for group in transaction_groups(cleaned):
            stored |= self._save_group(group, now)
        return stored

    def _save_group(self, group: list[Cleaned], now: datetime) -> set[tuple[str, str]]:
        while group:
            try:
                self._transact(group, now)
            except TransactWriteError as e:
                # The records come first in the transaction, so their indexes are theirs.
                failed = {i for i in cancelled_items(e, "ConditionalCheckFailed") if i < len(group)}
                if not failed:
                    raise errors.DependencyUnavailable("records: could not store the cleaning results") from e
                group = [c for i, c in enumerate(group) if i not in failed]  # lost races; the rest again
                continue
            return {(c.record.facility_id, c.record.record_id) for c in group}
        return set()

    def _transact(self, group: list[Cleaned], now: datetime) -> None:
        Record, Counter, Batch = self._t.Record, self._t.Counter, self._t.Batch
        stamp = now.isoformat(timespec="seconds")
        with TransactWrite(connection=self._t.connection) as tx:
            for c in group:
                r = c.record
                tx.update(Record(record_pk(r.facility_id, r.record_id), "REC"), actions=self._actions(c, stamp),
                          condition=(Record.version == r.version) & (Record.cleaned_version < r.version))
            moves = ((c.record.facility_id, c.record.province_code, counter_moves(c.record, c.result.outcome.value))
                     for c in group)
            for item, actions in aggregate_counter_updates(Counter, moves):
                tx.update(item, actions=actions)
            for batch_id, n in Tally(c.record.batch_id for c in group if c.record.batch_id).items():
                tx.update(Batch(batch_pk(batch_id), "BATCH"), actions=[Batch.cleaned.add(n)])

    def _actions(self, c: Cleaned, stamp: str) -> list:
        Record, record, result = self._t.Record, c.record, c.result
        outcome = result.outcome.value
        citizen = result.matched_citizen_id or record.data.get("citizen_id") or ""
        actions = [
            Record.state.set(outcome), Record.counted_state.set(outcome),
            Record.cleaned_version.set(record.version),
            Record.gsi2pk.set(f"FAC#{record.facility_id}#{outcome}"),
            Record.updated_at.set(stamp),
        ]
        # The match of this version replaces the one carried over from the last cleaned version;
        # whom the dose moved away from stays on the record for a redelivery to queue again. The
        # three are one sealed attribute, written whole (the condition holds the version it read).
        away = moved_away_from(record.matched_citizen_id, result.matched_citizen_id)
        actions.append(Record.seal_action("sealed_match", record_pk(record.facility_id, record.record_id), "REC",
                                          cleaning=json.dumps(c.view, ensure_ascii=False),
                                          matched_citizen_id=result.matched_citizen_id or None,
                                          moved_from_citizen_id=away or None))
        if citizen:
            actions += [Record.gsi1pk.set(self._t.citizen_key(citizen)),
                        Record.gsi1sk.set(f"{record.data.get('vaccination_date', '')}#"
                                          f"{int(record.data.get('dose_number') or 0):02d}")]
        return actions
