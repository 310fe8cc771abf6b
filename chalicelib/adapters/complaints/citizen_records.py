"""A citizen's own records for the complaint routes, found through the records table's citizen index."""
from __future__ import annotations

from pynamodb.exceptions import PynamoDBException

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables
from chalicelib.complaints.service import CitizenRecord


class DynamoCitizenRecords:
    """A citizen's own records, found through the records table's gsi1 (CIT#<citizen_id>)."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def find(self, citizen_id: str, record_id: str) -> list[CitizenRecord]:
        Record = self._t.Record
        try:
            return [CitizenRecord(i.facility_id, i.record_id, i.province_code)
                    for i in Record.by_citizen.query(self._t.citizen_key(citizen_id),
                                                     filter_condition=Record.record_id == record_id)]
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("records: read failed") from e
