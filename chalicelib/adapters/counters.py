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
from pynamodb.expressions.update import Action
from pynamodb.models import Model
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
                    deltas: Mapping[str, int]) -> list[tuple[Model, list[Action]]]:
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
