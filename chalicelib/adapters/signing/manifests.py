"""Signing batches in the signing table (layout in tables.py): each manifest as a header and
pages of entries, and the status item of each countersign chunk dispatched for it.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Sequence

from pynamodb.exceptions import PynamoDBException

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables, is_conditional, read_failed
from chalicelib.adapters.signing.tables import SigningTables
from chalicelib.signing.service import ATTESTED, CHUNK_QUEUED, OPEN, QueuedChunk, StoredBatch
from chalicelib.timestamps import iso_seconds, utc_stamp

PAGE_ENTRIES = 200


class DynamoManifestStore:
    def __init__(self, tables: Tables) -> None:
        self._m = SigningTables(tables).Signing

    def put(self, manifest: dict) -> None:
        M = self._m
        pk = f"SBATCH#{manifest['batch_id']}"
        entries = manifest["entries"]
        pages = [entries[i:i + PAGE_ENTRIES] for i in range(0, len(entries), PAGE_ENTRIES)]
        try:
            # Pages first, header last: a header always has all of its pages.
            with M.batch_write() as batch:
                for n, page in enumerate(pages):
                    batch.save(M(pk, f"PAGE#{n:05d}",
                                 entries=json.dumps(page, ensure_ascii=False, separators=(",", ":"))))
            M(pk, "HEADER", gsi1pk=f"SFAC#{manifest['facility_id']}",
              gsi1sk=f"{manifest['created_at']}#{manifest['batch_id']}", facility_id=manifest["facility_id"],
              status=OPEN, created_at=manifest["created_at"], expires_at=manifest["expires_at"],
              updated_at=manifest["created_at"], merkle_root=manifest["merkle_root"], entry_count=manifest["count"],
              pages=len(pages)).save(condition=M.pk.does_not_exist())
        except PynamoDBException as e:
            if is_conditional(e):
                raise errors.Conflict("signing batch id already used") from e
            raise errors.DependencyUnavailable("signing: could not store the manifest") from e

    def get(self, batch_id: str) -> StoredBatch | None:
        header, pages = None, []
        try:
            for item in self._m.query(f"SBATCH#{batch_id}", consistent_read=True):
                if item.sk == "HEADER":
                    header = item
                elif item.sk.startswith("PAGE#"):
                    pages.append(item)  # sort key order = page order
        except PynamoDBException as e:
            raise read_failed("signing") from e
        if header is None:
            return None
        entries = [e for p in pages[:int(header.pages)] for e in json.loads(p.entries)]
        manifest = {"batch_id": batch_id, "facility_id": header.facility_id, "created_at": header.created_at,
                    "expires_at": header.expires_at, "entries": entries, "merkle_root": header.merkle_root,
                    "count": int(header.entry_count), "algorithm": "sha256-merkle-rfc6962"}
        return StoredBatch(manifest, header.status)

    def set_status(self, batch_id: str, status: str, now: datetime) -> None:
        M = self._m
        # Status only moves forward: a late ATTESTED must not undo a DISPATCHED.
        condition = M.status == OPEN if status == ATTESTED else M.pk.exists()
        try:
            M(f"SBATCH#{batch_id}", "HEADER").update(
                actions=[M.status.set(status), M.updated_at.set(iso_seconds(now))], condition=condition)
        except PynamoDBException as e:
            if is_conditional(e) and status == ATTESTED:
                return
            raise errors.DependencyUnavailable("signing: could not update the batch") from e


    def chunks_queued(self, batch_id: str, facility_id: str, chunks: Sequence[QueuedChunk], *,
                      pending_until: datetime, now: datetime) -> None:
        M = self._m
        try:
            with M.batch_write() as batch:
                for c in chunks:
                    batch.save(M(f"SBATCH#{batch_id}", chunk_sk(c.chunk), facility_id=facility_id,
                                 status=CHUNK_QUEUED, first_index=c.first_index, size=len(c.people),
                                 people=json.dumps(list(c.people)), refused="[]",
                                 pending_until=utc_stamp(pending_until), updated_at=iso_seconds(now)))
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("signing: could not store the chunk status") from e

    def finish_chunk(self, batch_id: str, chunk: int, *, first_index: int, size: int, status: str,
                     refused: Sequence[int], now: datetime) -> bool:
        M = self._m
        try:
            M(f"SBATCH#{batch_id}", chunk_sk(chunk)).update(
                actions=[M.status.set(status), M.refused.set(json.dumps(list(refused))),
                         M.updated_at.set(iso_seconds(now))],
                condition=M.pk.exists() & (M.first_index == first_index) & (M.size == size))
        except PynamoDBException as e:
            if is_conditional(e):
                return False
            raise errors.DependencyUnavailable("signing: could not update the chunk status") from e
        return True


def chunk_sk(chunk: int) -> str:
    return f"CHUNK#{chunk:05d}"
