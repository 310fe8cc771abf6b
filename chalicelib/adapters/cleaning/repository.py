"""DynamoDB adapter of the cleaning worker's repository."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Mapping, Sequence

from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import errors
from chalicelib.adapters.counters import counter_updates
from chalicelib.adapters.dynamo import Tables, batch_pk, cancelled_by_condition, record_pk
from chalicelib.cleaning.matcher import CleaningResult
from chalicelib.cleaning.worker import COUNTER_FOR_OUTCOME, RecordForCleaning, moved_away_from


class DynamoCleaningRepository:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def load(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], RecordForCleaning]:
        out = {}
        try:
            for item in self._t.Record.batch_get([(record_pk(f, r), "REC") for f, r in keys]):
                out[(item.facility_id, item.record_id)] = RecordForCleaning(
                    item.facility_id, item.record_id, item.province_code, int(item.version),
                    int(item.cleaned_version or 0), item.counted_state, item.batch_id, json.loads(item.data),
                    json.loads(item.original) if item.original else {}, item.matched_citizen_id,
                    item.moved_from_citizen_id)
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("records: read failed") from e
        return out

    def save_result(self, record: RecordForCleaning, result: CleaningResult, view: Mapping,
                    now: datetime) -> bool:
        Record, Counter, Batch = self._t.Record, self._t.Counter, self._t.Batch
        outcome = result.outcome.value
        new_counter = COUNTER_FOR_OUTCOME[outcome]
        old_counter = COUNTER_FOR_OUTCOME.get(record.counted_state or "")
        citizen = result.matched_citizen_id or record.data.get("citizen_id") or ""
        actions = [
            Record.state.set(outcome), Record.counted_state.set(outcome),
            Record.cleaned_version.set(record.version),
            Record.cleaning.set(json.dumps(view, ensure_ascii=False)),
            Record.gsi2pk.set(f"FAC#{record.facility_id}#{outcome}"),
            Record.updated_at.set(now.isoformat(timespec="seconds")),
        ]
        # The match of this version replaces the one carried over from the last cleaned version;
        # whom the dose moved away from stays on the record for a redelivery to queue again.
        actions.append(Record.matched_citizen_id.set(result.matched_citizen_id) if result.matched_citizen_id
                       else Record.matched_citizen_id.remove())
        away = moved_away_from(record.matched_citizen_id, result.matched_citizen_id)
        actions.append(Record.moved_from_citizen_id.set(away) if away else Record.moved_from_citizen_id.remove())
        if citizen:
            actions += [Record.gsi1pk.set(f"CIT#{citizen}"),
                        Record.gsi1sk.set(f"{record.data.get('vaccination_date', '')}#"
                                          f"{int(record.data.get('dose_number') or 0):02d}")]
        try:
            with TransactWrite(connection=self._t.connection) as tx:
                tx.update(Record(record_pk(record.facility_id, record.record_id), "REC"), actions=actions,
                          condition=(Record.version == record.version)
                          & (Record.cleaned_version < record.version))
                if old_counter != new_counter:
                    moves = {new_counter: 1, **({old_counter: -1} if old_counter else {})}
                    for item, actions in counter_updates(Counter, record.facility_id, record.province_code, moves):
                        tx.update(item, actions=actions)
                if record.batch_id:
                    tx.update(Batch(batch_pk(record.batch_id), "BATCH"), actions=[Batch.cleaned.add(1)])
        except TransactWriteError as e:
            if cancelled_by_condition(e):
                return False
            raise errors.DependencyUnavailable("records: could not store the cleaning result") from e
        return True
