"""The counters table: how progress counts are written (by every context, inside their own
transactions or through `DynamoCounters.add`) and read (by reports, never with a Scan).

Layout (see also chalicelib/adapters/dynamo.py):
  pk NATIONAL | PROV#<code> | FAC#<id>   sk TOTAL           numeric counters, ADD only
  pk NATIONAL | PROV#<code>              sk DAY#<yyyy-mm-dd> passports_issued that day (UTC)

Facilities of a province: every update of a FAC# item also SETs `province_code` and the sparse
index keys gsi1pk = PROV#<code>, gsi1sk = FAC#<id> (same item, same write, so no extra item in
the writers' transactions, which are close to DynamoDB's 100-item limit in intake). Listing a
province's facilities is then one Query on gsi1. A facility belongs to one province; if records
ever disagree, the last write wins and the facility is listed under that province.
"""
from __future__ import annotations

from datetime import date
from typing import Iterable, Mapping, Sequence

from pynamodb.exceptions import PynamoDBException, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables, is_conditional
from chalicelib.reports.domain import COUNTERS, raw_counts, scope_keys

NATIONAL = "NATIONAL"
TOTAL = "TOTAL"


def prov_pk(code: str) -> str:
    return f"PROV#{code}"


def fac_pk(facility_id: str) -> str:
    return f"FAC#{facility_id}"


def day_sk(day: date | str) -> str:
    return f"DAY#{day if isinstance(day, str) else day.isoformat()}"


def facility_index_actions(Counter, facility_id: str, province_code: str | None) -> list:
    """Extra actions for an update of a FAC# item: make it findable from its province."""
    if not province_code:
        return []
    return [Counter.province_code.set(province_code), Counter.gsi1pk.set(prov_pk(province_code)),
            Counter.gsi1sk.set(fac_pk(facility_id))]


def counter_updates(Counter, facility_id: str | None, province_code: str | None,
                    deltas: Mapping[str, int]) -> list[tuple[object, list]]:
    """(item, actions) pairs adding `deltas` to every scope of one event, for a TransactWrite."""
    unknown = sorted(set(deltas) - set(COUNTERS))
    if unknown:
        raise ValueError(f"not a counter: {unknown}")  # a programming error, not user input
    adds = [getattr(Counter, name).add(int(n)) for name, n in deltas.items() if n]
    if not adds:
        return []
    out = []
    for pk in scope_keys(facility_id, province_code):
        actions = list(adds)
        if facility_id and pk == fac_pk(facility_id):
            actions += facility_index_actions(Counter, facility_id, province_code)
        out.append((Counter(pk, TOTAL), actions))
    return out


class DynamoCounters:
    """Counter writes for contexts that have no transaction of their own to join (facility
    signing, complaints), and the reads behind reports."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    # -- writes -------------------------------------------------------------------------------
    def add(self, facility_id: str | None, province_code: str | None, **deltas: int) -> None:
        """Adds `deltas` (e.g. signed_by_facility=12, complaints_received=1) to NATIONAL, the
        province and the facility in one transaction: all scopes move or none.

        Not idempotent by itself: call it in the same transaction or after the same conditional
        write that records the event (e.g. a signing manifest stored once), so a retried event
        does not count twice. Counting rules for the callers:
          signed_by_facility   people attested by a facility head (one per person per manifest)
          complaints_received  complaints filed;  complaints_resolved  complaints closed
          countersign_chunks_refused        countersign messages refused (attestation absent or
                                            different from the audit log), once per refusal
          countersign_entries_not_attested  entries failing their inclusion proof
        """
        updates = counter_updates(self._t.Counter, facility_id, province_code, deltas)
        if not updates:
            return
        try:
            with TransactWrite(connection=self._t.connection) as tx:
                for item, actions in updates:
                    tx.update(item, actions=actions)
        except TransactWriteError as e:
            raise errors.DependencyUnavailable("counters: update failed") from e

    # -- reads --------------------------------------------------------------------------------
    def totals(self, pks: Sequence[str]) -> dict[str, dict[str, int]]:
        """TOTAL counters of the given scopes (one BatchGet per 100); absent scopes are left out."""
        Counter = self._t.Counter
        out: dict[str, dict[str, int]] = {}
        try:
            for item in Counter.batch_get([(pk, TOTAL) for pk in pks], attributes_to_get=["pk", *COUNTERS]):
                out[item.pk] = raw_counts({k: getattr(item, k) for k in COUNTERS})
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("counters: read failed") from e
        return out

    def facilities(self, province_code: str) -> dict[str, dict[str, int]]:
        """TOTAL counters of every facility of a province: one Query on gsi1."""
        Counter = self._t.Counter
        out: dict[str, dict[str, int]] = {}
        try:
            for item in Counter.by_province.query(prov_pk(province_code)):
                out[item.pk.removeprefix("FAC#")] = raw_counts({k: getattr(item, k) for k in COUNTERS})
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("counters: read failed") from e
        return out

    def issued_per_day(self, pk: str, first: date, last: date) -> dict[date, int]:
        """passports_issued per day between two dates (inclusive): one Query on the scope."""
        Counter = self._t.Counter
        out: dict[date, int] = {}
        try:
            for item in Counter.query(pk, Counter.sk.between(day_sk(first), day_sk(last))):
                out[date.fromisoformat(item.sk.removeprefix("DAY#"))] = int(item.passports_issued or 0)
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("counters: read failed") from e
        return out

    # -- audit (reconciliation only) ----------------------------------------------------------
    def scan_all(self) -> Iterable[tuple[tuple[str, str], dict[str, int]]]:
        """Every counter item. A Scan: for the reconciliation job, never for a report."""
        Counter = self._t.Counter
        try:
            for item in Counter.scan():
                yield (item.pk, item.sk), raw_counts({k: getattr(item, k) for k in COUNTERS})
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("counters: scan failed") from e

    def set_if_unchanged(self, pk: str, sk: str, counter: str, expected: int, value: int) -> bool:
        """Sets one counter to `value` if it still holds `expected` (absent counts as 0);
        False if an event moved it meanwhile (re-run the reconciliation then)."""
        Counter = self._t.Counter
        attr = getattr(Counter, counter)
        condition = (attr == expected) | attr.does_not_exist() if expected == 0 else attr == expected
        try:
            Counter(pk, sk).update(actions=[attr.set(value)], condition=condition)
        except UpdateError as e:
            if is_conditional(e):
                return False
            raise errors.DependencyUnavailable("counters: fix failed") from e
        return True


class DynamoAuditSource:
    """The reconciliation job's view of the data: whole-table Scans, paged by pynamodb, reading
    only the attributes the counters depend on."""

    def __init__(self, tables: Tables, passports_item, counters: DynamoCounters) -> None:
        self._t = tables
        self._passport = passports_item  # the passports model (DynamoPassportStore.Item)
        self._counters = counters
        self._signing_records = None  # built on the first --fix release

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
            for item in M.scan(condition, attributes_to_get=["pk", "sk", "facility_id", "status", "first_index",
                                                              "people", "refused", "pending_until"]):
                until = datetime.fromisoformat(item.pending_until.replace("Z", "+00:00")) if item.pending_until else None
                yield ChunkFact(item.pk.removeprefix("SBATCH#"), int(item.sk.removeprefix("CHUNK#")), item.facility_id,
                                item.status, int(item.first_index or 0), tuple(json.loads(item.people or "[]")),
                                tuple(json.loads(item.refused or "[]")), until)
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("signing: scan failed") from e

    def passport_holders(self, citizen_ids):
        """Two BatchGets: the CURRENT pointers and HOLD items, then the versions they point at
        (the attestation)."""
        import json

        from chalicelib.reports.reconcile import Holder

        Item = self._passport
        try:
            found = list(Item.batch_get([(f"P#{cid}", sk) for cid in citizen_ids for sk in ("CURRENT", "HOLD")],
                                        attributes_to_get=["pk", "sk", "version", "revocation_sequence"]))
            current = {item.pk: item for item in found if item.sk == "CURRENT"}
            holds = {item.pk: int(item.revocation_sequence) for item in found if item.sk == "HOLD"}
            versions = {item.pk: item for item in Item.batch_get(
                [(pk, f"V#{int(c.version):06d}") for pk, c in current.items()], attributes_to_get=["pk", "attestation"])
            } if current else {}
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("passports: read failed") from e
        out = {}
        for pk, c in current.items():
            attestation = json.loads(getattr(versions.get(pk), "attestation", None) or "{}")
            sequence = attestation.get("sequence")
            batches = attestation.get("batches") if attestation.get("kind") == "re-evaluation" else [
                attestation.get("batch_id")]
            out[pk.removeprefix("P#")] = Holder(int(sequence) if isinstance(sequence, int) else None, holds.get(pk),
                                                frozenset(b for b in batches or () if isinstance(b, str)))
        return out

    def attestation_sequence(self, batch_id: str) -> int | None:
        from chalicelib.adapters.signing.audit_log import DynamoAuditLog
        from chalicelib.signing.service import attestation_key

        logged = DynamoAuditLog(self._t).find(attestation_key(batch_id))
        return logged.sequence if logged is not None else None

    def release_claims(self, batch_id: str, citizen_id: str, now) -> int:
        from chalicelib.adapters.signing.records import DynamoSigningRecords

        if self._signing_records is None:
            self._signing_records = DynamoSigningRecords(self._t, parallel=2)
        Record = self._t.Record
        try:
            keys = [(i.facility_id, i.record_id) for i in Record.by_citizen.query(
                f"CIT#{citizen_id}", attributes_to_get=["facility_id", "record_id"])]
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("records: read failed") from e
        return len(self._signing_records.release(batch_id, keys, now)) if keys else 0
