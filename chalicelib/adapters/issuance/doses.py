"""The countersign worker's dose source: a person's attested doses, read from the records table."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Collection, Sequence

from pynamodb.exceptions import PynamoDBException

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables, record_pk
from chalicelib.issuance.domain import DoseRecord
from chalicelib.signing.service import VERIFIED_STATES


class DynamoDoseSource:
    """A chunk's attested doses: the keys the caller knows (the manifest's, the current passports'),
    plus one citizen-index Query (in parallel) for each person the caller asks to search, then
    consistent BatchGets (100 keys each) of the record items themselves, because the index is
    eventually consistent and `signed_batch` must be read as it is now."""

    def __init__(self, tables: Tables, parallel: int = 8) -> None:
        self._t = tables
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="doses")

    def _keys_of(self, citizen_id: str) -> list[tuple[str, str]]:
        Record = self._t.Record
        try:
            return [(i.facility_id, i.record_id) for i in Record.by_citizen.query(
                self._t.citizen_key(citizen_id), attributes_to_get=["facility_id", "record_id"])]
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("records: read failed") from e

    def attested_doses(self, citizen_ids: Sequence[str], also: Sequence[tuple[str, str]] = (),
                       query: Collection[str] | None = None) -> dict[str, list[DoseRecord]]:
        Record = self._t.Record
        keys = set(also)
        searched = citizen_ids if query is None else [c for c in citizen_ids if c in set(query)]
        for found in self._pool.map(self._keys_of, searched):
            keys.update(found)
        out: dict[str, list[DoseRecord]] = {cid: [] for cid in citizen_ids}
        ordered = sorted(keys)
        try:
            for i in range(0, len(ordered), 100):
                for item in Record.batch_get([(record_pk(f, r), "REC") for f, r in ordered[i:i + 100]],
                                             consistent_read=True):
                    if (item.state not in VERIFIED_STATES or int(item.cleaned_version or 0) != int(item.version)
                            or not item.signed_batch):
                        continue  # not verified at its current version, or no facility head signed it
                    d = json.loads(item.data)
                    citizen = item.matched_citizen_id or d.get("citizen_id")
                    if citizen not in out:
                        continue
                    out[citizen].append(DoseRecord(item.facility_id, item.record_id, int(item.version), item.digest,
                                                   int(d["dose_number"]), date.fromisoformat(d["vaccination_date"]),
                                                   d["vaccine_product"], item.province_code, item.signed_batch))
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("records: read failed") from e
        return out
