"""DynamoDB adapter of intake's record store: reads and conditional writes of record versions."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Sequence

from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables, cancelled_items, is_conditional, record_pk
from chalicelib.intake.service import NewRecord, StoredRecord
from chalicelib.timestamps import iso_seconds


class DynamoRecordStore:
    """Reads a chunk's records with BatchGet (100 keys a call) and writes them with conditional
    transactions (TransactWriteItems: up to 100 items and TX_BYTES a call), several calls in
    flight: a chunk of 500 rows is 5 reads and 5 writes. Each item is put only if the version it
    was decided on is still the stored one. When a transaction is cancelled because a condition
    failed, the rest of its items are written again in one transaction (the cancellation names
    each failed item); if a race cancels that one too, its items are put one by one with the same
    conditions, in parallel: a lost race costs its transaction at most one request per item, never
    the whole chunk."""

    TX_ITEMS = 100
    TX_BYTES = 3_000_000  # under the 4 MB a transaction may carry, with room for attribute names

    def __init__(self, tables: Tables, parallel: int = 8) -> None:
        self._t = tables
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="records")
        # Fallback puts run from inside a transaction's worker: a pool of their own cannot deadlock.
        self._single = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="records-put")

    def get_many(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StoredRecord]:
        groups = [keys[i:i + 100] for i in range(0, len(keys), 100)]
        out: dict[tuple[str, str], StoredRecord] = {}
        for part in self._pool.map(self._get_group, groups):
            out.update(part)
        return out

    def _get_group(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StoredRecord]:
        Record = self._t.Record
        out = {}
        try:
            for item in Record.batch_get([(record_pk(f, r), "REC") for f, r in keys],
                                         attributes_to_get=self._t.fields(Record, [
                                             "facility_id", "record_id", "province_code", "digest",
                                             "version", "batch_id", "row_number", "counted_state",
                                             "cleaned_version", "earlier_digests", "matched_citizen_id"])):
                out[(item.facility_id, item.record_id)] = StoredRecord(
                    facility_id=item.facility_id, record_id=item.record_id, digest=item.digest,
                    version=int(item.version), batch_id=item.batch_id,
                    row_number=int(item.row_number) if item.row_number is not None else None,
                    counted_state=item.counted_state, province_code=item.province_code,
                    cleaned_version=int(item.cleaned_version or 0),
                    earlier_digests=frozenset(item.earlier_digests or ()),
                    matched_citizen_id=item.matched_citizen_id)
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("records: read failed") from e
        return out

    def put_many(self, records: Sequence[NewRecord], now: datetime) -> set[tuple[str, str]]:
        stamp = iso_seconds(now)
        lost: set[tuple[str, str]] = set()
        # Build the transactions' botocore client here, once: pynamodb keeps a session per thread,
        # so workers racing to create it would each load a session and a client (tens of MB).
        _ = self._t.connection.client
        # list() waits for every group and re-raises the first failure.
        for part in list(self._pool.map(lambda g: self._put_group(g, stamp), self._groups(records))):
            lost |= part
        return lost

    def _groups(self, records: Sequence[NewRecord]) -> list[list[NewRecord]]:
        groups: list[list[NewRecord]] = [[]]
        size = 0
        for n in records:
            # data and original dominate an item; the rest is a few hundred bytes
            item_bytes = (2 * len(json.dumps(n.record.canonical(), ensure_ascii=False))
                          + 65 * len(n.earlier_digests) + 512)
            if groups[-1] and (len(groups[-1]) == self.TX_ITEMS or size + item_bytes > self.TX_BYTES):
                groups.append([])
                size = 0
            groups[-1].append(n)
            size += item_bytes
        return [g for g in groups if g]

    def _put_group(self, records: Sequence[NewRecord], stamp: str) -> set[tuple[str, str]]:
        lost, rest = self._transact([(n, self._item(n, stamp)) for n in records])
        if rest:
            # The cancellation names every item whose condition failed, so the others go again in
            # one transaction; one by one only if a race cancels that one too.
            again, rest = self._transact(rest)
            lost |= again
            for key in self._single.map(self._put_one, rest):
                if key is not None:
                    lost.add(key)
        return lost

    def _transact(self, items: list) -> tuple[set[tuple[str, str]], list]:
        """One conditional transaction of (record, item) pairs: the keys whose condition failed,
        and the pairs still to write when it was cancelled (none when it committed)."""
        try:
            with TransactWrite(connection=self._t.connection) as tx:
                for n, item in items:
                    tx.save(item, condition=self._condition(n))
        except TransactWriteError as e:
            if not getattr(e, "cancellation_reasons", None):
                raise errors.DependencyUnavailable("records: write failed") from e
            failed = cancelled_items(e, "ConditionalCheckFailed")
            return ({items[i][0].record.business_key for i in failed},
                    [pair for i, pair in enumerate(items) if i not in failed])
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("records: write failed") from e
        return set(), []

    def _put_one(self, pair) -> tuple[str, str] | None:
        """One conditional put; the record's key if its condition failed."""
        n, item = pair
        try:
            item.save(condition=self._condition(n))
        except PynamoDBException as e:
            if is_conditional(e):
                return n.record.business_key
            raise errors.DependencyUnavailable("records: write failed") from e
        return None

    def _condition(self, n: NewRecord):
        Record, p = self._t.Record, n.previous
        if p is None:
            return Record.pk.does_not_exist()
        # The cleaning state too: the counted outcome carried to the new version must be current.
        cleaned = Record.cleaned_version == p.cleaned_version
        if p.cleaned_version == 0:
            cleaned = cleaned | Record.cleaned_version.does_not_exist()
        return (Record.version == p.version) & (Record.digest == p.digest) & cleaned

    def _item(self, n: NewRecord, stamp: str):
        """The whole item of a version: a put replaces the last one, so the cleaning result and
        the signing marks of the old version go with it (a changed record is verified and signed
        again). The citizen the old version matched is carried over (the write is conditional on
        the cleaning state read with it)."""
        r = n.record
        return self._t.Record(
            record_pk(r.facility_id, r.record_id), "REC",
            gsi1pk=self._t.citizen_key(r.citizen_id) if r.citizen_id else None,
            gsi1sk=f"{r.vaccination_date.isoformat()}#{r.dose_number:02d}" if r.citizen_id else None,
            gsi2pk=f"FAC#{r.facility_id}#PENDING", gsi2sk=r.record_id,
            facility_id=r.facility_id, record_id=r.record_id, province_code=r.province_code,
            batch_id=n.batch_id, row_number=n.row_number, digest=r.digest(), version=n.version,
            earlier_digests=set(n.earlier_digests) or None,
            data=json.dumps(r.canonical(), ensure_ascii=False),
            original=json.dumps(dict(r.original), ensure_ascii=False, default=str),
            state="PENDING", cleaned_version=0, counted_state=n.counted_state,
            matched_citizen_id=n.previous.matched_citizen_id if n.previous is not None else None,
            created_at=stamp, updated_at=stamp)
