"""The counters table: how progress counts are written (by every context, inside their own
transactions or through `DynamoCounters.add`) and read (by reports, never with a Scan).

Layout (see also chalicelib/adapters/dynamo.py):
  pk NATIONAL | PROV#<code> | FAC#<id>   sk TOTAL           numeric counters, ADD only
  pk NATIONAL | PROV#<code>              sk DAY#<yyyy-mm-dd> passports_issued that day (UTC)

Write sharding: every event of the country adds to NATIONAL, and every event of a province to its
PROV# item, so as single items they would take a write per chunk nationally (one DynamoDB item
takes at most 1,000 write units/s, a transactional write costs two, and concurrent transactions on
one item cancel each other with TransactionConflict). Each NATIONAL and PROV# item (TOTAL and
DAY#) is therefore spread over `Settings.counter_shards` items: shard 0 is the bare scope
(`NATIONAL`, the layout before sharding, so older counts stay counted), shard k > 0 is
`<scope>#S<kk>`. Every update draws its shard at random (`counter_item`, the one function that
builds a counter item to write): the writers' inputs carry no chunk identity to hash, and hashing
the facility would pin a big facility's writes to one shard. Randomness costs no exactness: the
counter delta is in the transaction of the conditional writes it counts, so a redelivered chunk is
cancelled whatever shard it drew, and every read sums the shards. A scope's value is the sum of
its shards; one shard alone means nothing (it may even be negative: a record re-cleaned from
`invalid` to `verified` adds -1 to `invalid` on another shard than its +1).

FAC# items stay single: a facility's writes are few (one per chunk of its own records), and the
facility index below lives on them.

Facilities of a province: every update of a FAC# item also SETs `province_code` and the sparse
index keys gsi1pk = PROV#<code>, gsi1sk = FAC#<id> (same item, same write, so no extra item in
the writers' transactions, which are close to DynamoDB's 100-item limit in intake). Listing a
province's facilities is then one Query on gsi1. A facility belongs to one province; if records
ever disagree, the last write wins and the facility is listed under that province.
"""
from __future__ import annotations

import random
import re
from datetime import date
from typing import Iterable, Iterator, Mapping, Sequence

from pynamodb.exceptions import PynamoDBException, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables, cancelled_by_condition, cancelled_items, is_conditional
from chalicelib.reports.domain import COUNTERS, raw_counts, scope_keys

NATIONAL = "NATIONAL"
TOTAL = "TOTAL"


def prov_pk(code: str) -> str:
    return f"PROV#{code}"


def fac_pk(facility_id: str) -> str:
    return f"FAC#{facility_id}"


def day_sk(day: date | str) -> str:
    return f"DAY#{day if isinstance(day, str) else day.isoformat()}"


_SHARD_SUFFIX = re.compile(r"#S(\d{2})$")


def is_sharded(scope: str) -> bool:
    """NATIONAL and PROV# items take every event of the country or a province: sharded."""
    return scope == NATIONAL or scope.startswith("PROV#")


def shard_pk(scope: str, shard: int) -> str:
    return scope if shard == 0 else f"{scope}#S{shard:02d}"


def shard_count(Counter) -> int:
    return int(getattr(Counter, "write_shards", 1))


def shard_pks(Counter, scope: str) -> list[str]:
    """Every item a scope's value is spread over (the scope itself when it is not sharded)."""
    if not is_sharded(scope):
        return [scope]
    return [shard_pk(scope, k) for k in range(shard_count(Counter))]


def scope_of(pk: str) -> str:
    """The scope a stored counter item counts for: a shard's pk folded back to its scope."""
    if not (pk.startswith(f"{NATIONAL}#S") or pk.startswith("PROV#")):
        return pk
    m = _SHARD_SUFFIX.search(pk)
    return pk[:m.start()] if m else pk


def counter_item(Counter, scope: str, sk: str = TOTAL) -> Model:
    """The item an update of (scope, sk) writes: one shard drawn at random for NATIONAL and PROV#,
    the item itself for a facility. Every counter write builds its item here, so none can miss the
    shards (tests/unit/reports/test_counter_shards.py checks no other module builds one)."""
    n = shard_count(Counter)
    shard = random.randrange(n) if n > 1 and is_sharded(scope) else 0
    return Counter(shard_pk(scope, shard), sk)


def issued_per_day_updates(Counter, issued: Iterable[tuple[str | None, date | str]]
                           ) -> list[tuple[Model, list[Action]]]:
    """(item, actions) pairs adding passport versions to the per-day series (nation and province,
    UTC day of issue), one pair per scope and day, for a TransactWrite. Each of `issued` is one
    version's (province_code, day)."""
    sums: dict[tuple[str, str], int] = {}
    for province_code, day in issued:
        for scope in scope_keys(None, province_code):
            key = (scope, day_sk(day))
            sums[key] = sums.get(key, 0) + 1
    return [(counter_item(Counter, scope, sk), [Counter.passports_issued.add(n)]) for (scope, sk), n in sums.items()]


def _holds(attr, value: int):
    """The condition that a counter still holds `value` (absent counts as 0)."""
    return (attr == value) | attr.does_not_exist() if value == 0 else attr == value


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
        out.append((counter_item(Counter, pk), actions))
    return out


def aggregate_counter_updates(Counter, events: Iterable[tuple[str | None, str | None, Mapping[str, int]]]
                              ) -> list[tuple[Model, list[Action]]]:
    """One (item, actions) pair per counter item for a whole chunk of events.

    Each event is (facility_id, province_code, deltas). Deltas are summed per scope first, so a
    chunk adds to NATIONAL, each province and each facility once, whatever its size: the shared
    items take one write per chunk instead of one per record, and a transaction never names the
    same item twice (DynamoDB refuses that). Scopes whose deltas sum to zero are left out."""
    per_scope: dict[str, dict[str, int]] = {}
    province_of: dict[str, str | None] = {}
    for facility_id, province_code, deltas in events:
        unknown = sorted(set(deltas) - set(COUNTERS))
        if unknown:
            raise ValueError(f"not a counter: {unknown}")  # a programming error, not user input
        for pk in scope_keys(facility_id, province_code):
            sums = per_scope.setdefault(pk, {})
            for name, n in deltas.items():
                sums[name] = sums.get(name, 0) + int(n)
        if facility_id and province_code:
            province_of[fac_pk(facility_id)] = province_code
    out = []
    for pk, sums in per_scope.items():
        actions = [getattr(Counter, name).add(n) for name, n in sums.items() if n]
        if not actions:
            continue
        if pk.startswith("FAC#"):
            actions += facility_index_actions(Counter, pk.removeprefix("FAC#"), province_of.get(pk))
        out.append((counter_item(Counter, pk), actions))
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
        """TOTAL counters of the given scopes, each the sum of its shards (BatchGets of 100 keys,
        unprocessed keys retried by pynamodb); absent scopes are left out."""
        Counter = self._t.Counter
        keys = [(shard, TOTAL) for pk in dict.fromkeys(pks) for shard in shard_pks(Counter, pk)]
        out: dict[str, dict[str, int]] = {}
        try:
            for item in Counter.batch_get(keys, attributes_to_get=["pk", *COUNTERS]):
                _fold(out, scope_of(item.pk), raw_counts({k: getattr(item, k) for k in COUNTERS}))
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
        """passports_issued per day between two dates (inclusive): one Query per shard of the
        scope, each reading only that range (a year of days is a few KB: one read unit)."""
        Counter = self._t.Counter
        out: dict[date, int] = {}
        try:
            for shard in shard_pks(Counter, pk):
                for item in Counter.query(shard, Counter.sk.between(day_sk(first), day_sk(last)),
                                          attributes_to_get=["sk", "passports_issued"]):
                    day = date.fromisoformat(item.sk.removeprefix("DAY#"))
                    out[day] = out.get(day, 0) + int(item.passports_issued or 0)
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("counters: read failed") from e
        return out

    # -- audit (reconciliation only) ----------------------------------------------------------
    def scan_all(self) -> Iterator[tuple[tuple[str, str], dict[str, int]]]:
        """Every counter (scope, sk) with its shards summed. A Scan: for the reconciliation job,
        never for a report."""
        Counter = self._t.Counter
        folded: dict[tuple[str, str], dict[str, int]] = {}
        try:
            for item in Counter.scan(attributes_to_get=["pk", "sk", *COUNTERS]):
                _fold(folded, (scope_of(item.pk), item.sk), raw_counts({k: getattr(item, k) for k in COUNTERS}))
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("counters: scan failed") from e
        yield from folded.items()

    def set_if_unchanged(self, pk: str, sk: str, counter: str, expected: int, value: int) -> bool:
        """Sets one counter of a scope to `value` if it still holds `expected` (absent counts as
        0); False if an event moved it meanwhile (re-run the reconciliation then).

        A sharded scope is moved by correcting its shard 0 by the difference, in one transaction
        conditioned on every shard still holding what a consistent read just found (and that
        read summing to `expected`): a writer landing on any shard in between cancels the fix
        instead of being overwritten or counted twice."""
        Counter = self._t.Counter
        attr = getattr(Counter, counter)
        shards = shard_pks(Counter, pk)
        if len(shards) == 1:
            try:
                Counter(pk, sk).update(actions=[attr.set(value)], condition=_holds(attr, expected))
            except UpdateError as e:
                if is_conditional(e):
                    return False
                raise errors.DependencyUnavailable("counters: fix failed") from e
            return True
        try:
            found = {item.pk: int(getattr(item, counter) or 0) for item in Counter.batch_get(
                [(shard, sk) for shard in shards], consistent_read=True, attributes_to_get=["pk", counter])}
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("counters: read failed") from e
        if sum(found.values()) != expected:
            return False
        try:
            with TransactWrite(connection=self._t.connection) as tx:
                for shard in shards[1:]:
                    tx.condition_check(Counter, shard, sk, condition=_holds(attr, found.get(shard, 0)))
                tx.update(Counter(shards[0], sk), actions=[attr.add(value - expected)],
                          condition=_holds(attr, found.get(shards[0], 0)))
        except TransactWriteError as e:
            if cancelled_by_condition(e) or cancelled_items(e, "TransactionConflict"):
                return False
            raise errors.DependencyUnavailable("counters: fix failed") from e
        return True


def _fold(into: dict, key, counts: Mapping[str, int]) -> None:
    """Adds one stored item's counts to the sum of its scope."""
    sums = into.setdefault(key, dict.fromkeys(COUNTERS, 0))
    for name, n in counts.items():
        sums[name] += n
