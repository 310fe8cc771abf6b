"""DynamoDB adapters of the access log (chalicelib/cleaning/access.py) and of the submission rate
windows (chalicelib/intake/ratelimit.py), both on the `access` table; every item expires by `ttl`.

  pk READ#<facility>#<record_id>  sk <at>#<nonce>   one read of a record's cleaning result: role,
                                                     subject, scope, facility_id, record_id, at;
                                                     gsi1 BY#<role>#<scope or subject> / <at>#<nonce>
  pk RATE#<caller>                sk <window start, epoch s>   used: records counted in the window

`at` is UTC ISO-8601 to the microsecond, so the sort keys order reads in time. The API function may only
put log entries and update windows (infra/spec.py); reading the log is an operator's job.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import cached_property
from typing import Callable

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PynamoDBException, UpdateError
from pynamodb.models import Model

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables, gsi, is_conditional, model_meta
from chalicelib.cleaning.access import AccessEntry, Reader
from chalicelib.timestamps import utc_iso


# Microseconds, so that reads within a second keep their order in the sort keys.
AT_PRECISION = "microseconds"


class _AccessTable:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    @cached_property
    def Item(self):
        s = self._t.settings

        class AccessItem(Model):
            Meta = model_meta(s, "access")
            pk = UnicodeAttribute(hash_key=True)
            sk = UnicodeAttribute(range_key=True)
            gsi1pk = UnicodeAttribute(null=True)
            gsi1sk = UnicodeAttribute(null=True)
            by_reader = gsi(1, s)
            role = UnicodeAttribute(null=True)
            subject = UnicodeAttribute(null=True)
            scope = UnicodeAttribute(null=True)
            facility_id = UnicodeAttribute(null=True)
            record_id = UnicodeAttribute(null=True)
            at = UnicodeAttribute(null=True)
            used = NumberAttribute(null=True)
            ttl = NumberAttribute(null=True)

        return AccessItem


class DynamoAccessLog(_AccessTable):
    def __init__(self, tables: Tables, retention_days: int,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex[:12]) -> None:
        super().__init__(tables)
        self._keep = timedelta(days=retention_days)
        self._new_id = new_id

    def record_read(self, entry: AccessEntry) -> None:
        at, r = utc_iso(entry.at, AT_PRECISION), entry.reader
        sk = f"{at}#{self._new_id()}"
        try:
            # One PutItem per read; the fresh nonce makes it a new item, never an overwrite.
            self.Item(f"READ#{entry.facility_id}#{entry.record_id}", sk, gsi1pk=f"BY#{r.key()}", gsi1sk=sk,
                      role=r.role, subject=r.subject, scope=r.scope, facility_id=entry.facility_id,
                      record_id=entry.record_id, at=at, ttl=int((entry.at + self._keep).timestamp())).save()
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("access log: write failed; the result is not shown") from e

    def reads_of_record(self, facility_id: str, record_id: str, *, since: datetime | None = None) -> list[AccessEntry]:
        Item = self.Item
        condition = Item.sk >= utc_iso(since, AT_PRECISION) if since else None
        return self._entries(lambda: Item.query(f"READ#{facility_id}#{record_id}", condition))

    def reads_by(self, reader_key: str, *, since: datetime | None = None) -> list[AccessEntry]:
        Item = self.Item
        condition = Item.gsi1sk >= utc_iso(since, AT_PRECISION) if since else None
        return self._entries(lambda: Item.by_reader.query(f"BY#{reader_key}", condition))

    @staticmethod
    def _entries(run) -> list[AccessEntry]:
        try:
            return [AccessEntry(Reader(i.role or "", i.subject or "", i.scope or ""), i.facility_id or "",
                                i.record_id or "", datetime.fromisoformat(i.at)) for i in run()]
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("access log: read failed") from e


class DynamoRateWindows(_AccessTable):
    def try_take(self, caller: str, window_start: int, amount: int, limit: int, expires_at: int) -> bool:
        Item = self.Item
        try:
            Item(f"RATE#{caller}", str(window_start)).update(
                actions=[Item.used.add(amount), Item.ttl.set(expires_at)],
                condition=Item.used.does_not_exist() | (Item.used <= limit - amount))
        except UpdateError as e:
            if is_conditional(e):
                return False
            raise errors.DependencyUnavailable("rate limit: window update failed") from e
        return True
