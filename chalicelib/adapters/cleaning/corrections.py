"""Adapters of the correction ports (chalicelib/cleaning/corrections.py): a facility's record with
its cleaning result, and the `corrected` counter.
"""
from __future__ import annotations

import json

from pynamodb.exceptions import PynamoDBException

from chalicelib import errors
from chalicelib.adapters.counters import DynamoCounters
from chalicelib.adapters.dynamo import Tables, record_pk


class DynamoRecordReader:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def get(self, facility_id: str, record_id: str):
        from chalicelib.cleaning.corrections import RecordView

        Record = self._t.Record
        try:
            item = Record.get(record_pk(facility_id, record_id), "REC", consistent_read=True)
        except Record.DoesNotExist:
            return None
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("records: read failed") from e
        if (item.facility_id, item.record_id) != (facility_id, record_id):
            # REC#<facility>#<record> read for (A, "B#1") is facility "A#B"'s record "1": not this one.
            return None
        return RecordView(item.facility_id, item.record_id, item.province_code, int(item.version), item.state,
                          json.loads(item.data), json.loads(item.original) if item.original else {},
                          json.loads(item.cleaning) if item.cleaning else None)


class DynamoCorrectionCounters:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def corrected(self, facility_id: str, province_code: str) -> None:
        DynamoCounters(self._t).add(facility_id, province_code, corrected=1)
