"""DynamoDB adapter of the access log (chalicelib/cleaning/access.py): one item per person shown
by a read (or one per cleaning-result read of a record without a citizen id) in the `access` table
(layout in adapters/dynamo.py), expiring by `ttl`.

Append-only: every item is put only if no item has its key (a fresh nonce makes the key new, so a
put can never overwrite an entry), no route updates or deletes an entry, and the API function holds
no DeleteItem on the table (infra/spec.py). One request per read: a single conditional PutItem, or
one transaction of up to 100 puts when a read showed several people (a facility's complaint list).

`at` is UTC ISO-8601 to the microsecond, so the sort keys order reads in time. The API function may
put entries and query one citizen's own (GET /v1/access-log/me); anything else is an operator's job.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Callable

from pynamodb.exceptions import PynamoDBException, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables, cancelled_by_condition, is_conditional
from chalicelib.cleaning.access import AccessEntry, Disclosure, Reader
from chalicelib.timestamps import utc_iso

# Microseconds, so that reads within a second keep their order in the sort keys.
AT_PRECISION = "microseconds"
TRANSACTION_ITEMS = 100


class DynamoAccessLog:
    def __init__(self, tables: Tables, retention_days: int,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex[:12]) -> None:
        self._t = tables
        self._keep = timedelta(days=retention_days)
        self._new_id = new_id

    def record_read(self, entry: AccessEntry) -> None:
        items = self._items(entry)
        Item = self._t.Access
        try:
            if len(items) == 1:
                items[0].save(condition=Item.pk.does_not_exist())
                return
            for i in range(0, len(items), TRANSACTION_ITEMS):
                with TransactWrite(connection=self._t.connection) as tx:
                    for item in items[i:i + TRANSACTION_ITEMS]:
                        tx.save(item, condition=Item.pk.does_not_exist())
        except (PutError, TransactWriteError) as e:
            if cancelled_by_condition(e) if isinstance(e, TransactWriteError) else is_conditional(e):
                raise errors.Conflict("access log: an entry with this key exists; entries are never replaced") from e
            raise errors.DependencyUnavailable("access log: write failed; the result is not shown") from e
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("access log: write failed; the result is not shown") from e

    def _items(self, entry: AccessEntry) -> list:
        at, r, Item = utc_iso(entry.at, AT_PRECISION), entry.reader, self._t.Access
        common = dict(gsi1pk=f"BY#{r.key()}", role=r.role, subject=r.subject, scope=r.scope,
                      facility_id=entry.facility_id or None, record_id=entry.record_id or None,
                      route=entry.route or None, at=at, ttl=int((entry.at + self._keep).timestamp()))
        if not entry.people and not entry.record_id:
            raise ValueError("an access-log entry names a record or the people it showed")
        items = []
        for d in entry.people or (None,):
            sk = f"{at}#{self._new_id()}"
            pk = f"READ#{entry.facility_id}#{entry.record_id}" if entry.record_id or d is None else f"WHO#{d.person}"
            person = {} if d is None else dict(gsi2pk=f"WHO#{d.person}", gsi2sk=sk,
                                               shown=json.dumps(list(d.keys), ensure_ascii=False))
            items.append(Item(pk, sk, gsi1sk=sk, **common, **person))
        return items

    def reads_of_record(self, facility_id: str, record_id: str, *, since: datetime | None = None) -> list[AccessEntry]:
        Item = self._t.Access
        condition = Item.sk >= utc_iso(since, AT_PRECISION) if since else None
        return self._entries(lambda: Item.query(f"READ#{facility_id}#{record_id}", condition))

    def reads_by(self, reader_key: str, *, since: datetime | None = None) -> list[AccessEntry]:
        Item = self._t.Access
        condition = Item.gsi1sk >= utc_iso(since, AT_PRECISION) if since else None
        return self._entries(lambda: Item.by_reader.query(f"BY#{reader_key}", condition))

    def reads_of_person(self, person: str, *, since: datetime | None = None) -> list[AccessEntry]:
        Item = self._t.Access
        condition = Item.gsi2sk >= utc_iso(since, AT_PRECISION) if since else None
        return self._entries(lambda: Item.by_person.query(f"WHO#{person}", condition))

    def latest_reads_of_person(self, person: str, *, before: datetime | None, limit: int) -> list[AccessEntry]:
        Item = self._t.Access
        condition = Item.gsi2sk < utc_iso(before, AT_PRECISION) if before else None
        return self._entries(lambda: Item.by_person.query(f"WHO#{person}", condition, scan_index_forward=False,
                                                          limit=limit, page_size=limit))

    @staticmethod
    def _entries(run) -> list[AccessEntry]:
        try:
            return [AccessEntry(Reader(i.role or "", i.subject or "", i.scope or ""), i.facility_id or "",
                                i.record_id or "", datetime.fromisoformat(i.at), i.route or "",
                                _people(i)) for i in run()]
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("access log: read failed") from e


def _people(item) -> tuple[Disclosure, ...]:
    if not item.gsi2pk:
        return ()
    return (Disclosure(item.gsi2pk.removeprefix("WHO#"), tuple(json.loads(item.shown or "[]"))),)

