"""The reconciliation job's view of the data (chalicelib/reports/reconcile.py): whole-table Scans
of records, passports, counters and countersign chunks, and the --fix writes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from pynamodb.exceptions import PynamoDBException

from chalicelib import errors
from chalicelib.adapters.counters import DynamoCounters
from chalicelib.adapters.dynamo import Tables

if TYPE_CHECKING:
    from chalicelib.adapters.signing.records import DynamoSigningRecords


class DynamoAuditSource:
    """The reconciliation job's view of the data: whole-table Scans, paged by pynamodb, reading
    only the attributes the counters depend on."""

    def __init__(self, tables: Tables, passports_item, counters: DynamoCounters) -> None:
        self._t = tables
        self._passport = passports_item  # the passports model (DynamoPassportStore.Item)
        self._counters = counters
        self._signing_records: DynamoSigningRecords | None = None  # built on the first --fix release

    def record_facts(self):
        from chalicelib.reports.reconcile import RecordFact

        Record = self._t.Record
        try:
            for item in Record.scan(attributes_to_get=["facility_id", "province_code", "counted_state"]):
                yield RecordFact(item.facility_id, item.province_code, item.counted_state)
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("records: scan failed") from e

    def passport_facts(self):
        import json

        from chalicelib.reports.reconcile import PassportFact

        Item = self._passport
        try:
            for item in Item.scan(Item.sk.startswith("V#"),
                                  attributes_to_get=["sk", "version", "attestation", "created_at",
                                                     "revocation_sequence", "revoked_by", "issued_over_revocation"]):
                attestation = json.loads(item.attestation or "{}")
                # Revoked in place (not by a re-issue): the ministry, or a re-evaluation that found
                # no attested dose; both name who revoked it.
                yield PassportFact(attestation.get("facility_id"), attestation.get("province_code"),
                                   int(item.version), (item.created_at or "")[:10] or None,
                                   revoked_in_place=item.revocation_sequence is not None or item.revoked_by is not None,
                                   issued_over_revocation=item.issued_over_revocation is not None)
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("passports: scan failed") from e

    def stored_counters(self):
        return self._counters.scan_all()

    def set_if_unchanged(self, pk: str, sk: str, counter: str, expected: int, value: int) -> bool:
        return self._counters.set_if_unchanged(pk, sk, counter, expected, value)

    def chunk_facts(self, *, queued_only: bool):
        """Status items of dispatched countersign chunks: a Scan of the signing table."""
        import json
        from datetime import datetime

        from chalicelib.adapters.signing.tables import SigningTables
        from chalicelib.reports.reconcile import ChunkFact

        M = SigningTables(self._t).Signing
        condition = M.sk.startswith("CHUNK#")
        if queued_only:
            condition &= M.status == "QUEUED"
        try:
            for item in M.scan(condition, attributes_to_get=self._t.fields(M, [
                    "pk", "sk", "facility_id", "status", "first_index", "people", "refused", "pending_until"])):
                until = (datetime.fromisoformat(item.pending_until.replace("Z", "+00:00"))
                         if item.pending_until else None)
                yield ChunkFact(item.pk.removeprefix("SBATCH#"), int(item.sk.removeprefix("CHUNK#")), item.facility_id,
                                item.status, int(item.first_index or 0), tuple(json.loads(item.people or "[]")),
                                tuple(json.loads(item.refused or "[]")), until)
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("signing: scan failed") from e

    def passport_holders(self, citizen_ids):
        """Two BatchGets: the CURRENT pointers and HOLD items, then the versions they point at
        (the attestation)."""
        import json

        from chalicelib.reports.reconcile import holder_of

        Item = self._passport
        citizen_of = {self._t.person_pk(cid): cid for cid in citizen_ids}
        try:
            found = list(Item.batch_get([(pk, sk) for pk in citizen_of for sk in ("CURRENT", "HOLD")],
                                        attributes_to_get=["pk", "sk", "version", "revocation_sequence"]))
            current = {item.pk: item for item in found if item.sk == "CURRENT"}
            holds = {item.pk: int(item.revocation_sequence) for item in found if item.sk == "HOLD"}
            versions = {item.pk: item for item in Item.batch_get(
                [(pk, f"V#{int(c.version):06d}") for pk, c in current.items()], attributes_to_get=["pk", "attestation"])
            } if current else {}
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("passports: read failed") from e
        out = {}
        for pk in current:
            attestation = json.loads(getattr(versions.get(pk), "attestation", None) or "{}")
            out[citizen_of[pk]] = holder_of(attestation, holds.get(pk))
        return out

    def attestation_sequence(self, batch_id: str) -> int | None:
        from chalicelib.adapters.signing.audit_log import DynamoAuditLog
        from chalicelib.signing.service import attestation_key

        logged = DynamoAuditLog(self._t).find(attestation_key(batch_id))
        return logged.sequence if logged is not None else None

    def release_claims(self, batch_id: str, citizen_id: str, now) -> int:
        from chalicelib.adapters.signing.records import DynamoSigningRecords

        if self._signing_records is None:
            self._signing_records = DynamoSigningRecords(self._t)
        Record = self._t.Record
        try:
            keys = [(i.facility_id, i.record_id) for i in Record.by_citizen.query(
                self._t.citizen_key(citizen_id), attributes_to_get=["facility_id", "record_id"])]
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("records: read failed") from e
        return len(self._signing_records.release(batch_id, keys, now)) if keys else 0
