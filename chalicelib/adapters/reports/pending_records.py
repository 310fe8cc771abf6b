"""Records still PENDING cleaning, for the never-cleaned sweep (chalicelib/reports/reconcile.py)."""
from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import PynamoDBException

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables


class DynamoPendingRecords:
    """Records waiting for cleaning, for the reconcile sweep: a Scan filtered on state PENDING
    (an audit job, not a read path), reading only what the sweep needs."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def pending_records(self):
        from chalicelib.reports.never_cleaned import PendingRecord

        Record = self._t.Record
        try:
            for item in Record.scan(Record.state == "PENDING", attributes_to_get=[
                    "facility_id", "record_id", "version", "cleaned_version", "batch_id", "updated_at"]):
                yield PendingRecord(item.facility_id, item.record_id, int(item.version),
                                    int(item.cleaned_version or 0), item.batch_id,
                                    datetime.fromisoformat(item.updated_at) if item.updated_at else None)
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("records: scan failed") from e
