"""DynamoDB adapter of the access log (chalicelib/cleaning/access.py): one item per read of a
record's cleaning result in the `access` table (layout in adapters/dynamo.py), expiring by `ttl`.

`at` is UTC ISO-8601 to the microsecond, so the sort keys order reads in time. The API function may only
put log entries (infra/spec.py); reading the log is an operator's job.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Callable

from pynamodb.exceptions import PynamoDBException

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables
from chalicelib.cleaning.access import AccessEntry, Reader
from chalicelib.timestamps import utc_iso

# Microseconds, so that reads within a second keep their order in the sort keys.
AT_PRECISION = "microseconds"


class DynamoAccessLog:
    def __init__(self, tables: Tables, retention_days: int,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex[:12]) -> None:
        self._t = tables
        self._keep = timedelta(days=retention_days)
        self._new_id = new_id

    def record_read(self, entry: AccessEntry) -> None:
        at, r = utc_iso(entry.at, AT_PRECISION), entry.reader
        sk = f"{at}#{self._new_id()}"
        try:
            # One PutItem per read; the fresh nonce makes it a new item, never an overwrite.
            self._t.Access(f"READ#{entry.facility_id}#{entry.record_id}", sk, gsi1pk=f"BY#{r.key()}", gsi1sk=sk,
                           role=r.role, subject=r.subject, scope=r.scope, facility_id=entry.facility_id,
                           record_id=entry.record_id, at=at, ttl=int((entry.at + self._keep).timestamp())).save()
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("access log: write failed; the result is not shown") from e

    def reads_of_record(self, facility_id: str, record_id: str, *, since: datetime | None = None) -> list[AccessEntry]:
        Item = self._t.Access
        condition = Item.sk >= utc_iso(since, AT_PRECISION) if since else None
        return self._entries(lambda: Item.query(f"READ#{facility_id}#{record_id}", condition))

    def reads_by(self, reader_key: str, *, since: datetime | None = None) -> list[AccessEntry]:
        Item = self._t.Access
        condition = Item.gsi1sk >= utc_iso(since, AT_PRECISION) if since else None
        return self._entries(lambda: Item.by_reader.query(f"BY#{reader_key}", condition))

    @staticmethod
    def _entries(run) -> list[AccessEntry]:
        try:
            return [AccessEntry(Reader(i.role or "", i.subject or "", i.scope or ""), i.facility_id or "",
                                i.record_id or "", datetime.fromisoformat(i.at)) for i in run()]
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("access log: read failed") from e
