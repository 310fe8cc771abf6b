"""Conditional updates of many items in as few DynamoDB transactions as the 100-item limit allows.

Used where a chunk used to send one conditional UpdateItem per item (a facility batch's record
reservations) or a transaction per kind of item (a countersign chunk's claims): one request per
100 items instead. A transaction is all or nothing, so a failed condition would refuse everyone's
updates; its CancellationReasons name the items whose condition failed, and only those are left
out (with the rest of their unit when the failed update binds it) before the others are sent again.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import errors
from chalicelib.adapters.dynamo import cancelled_items

MAX_TRANSACTION_ITEMS = 100
CONFLICT_ROUNDS = 8


@dataclass(frozen=True)
class Update:
    item: Any  # a pynamodb Model instance naming the item's key
    actions: list
    condition: Any = None
    # Its condition failing leaves out the rest of its unit too (a person's lease: without it,
    # nothing of that person is written).
    binding: bool = False


def apply_updates(connection, units: Sequence[Sequence[Update]], what: str) -> set[tuple[int, int]]:
    """Applies each unit's updates together where they fit one transaction (a unit is split only
    when it alone exceeds 100 items); returns the (unit, update) indexes applied."""
    pending = [(u, i) for u, unit in enumerate(units) for i in range(len(unit))]
    applied: set[tuple[int, int]] = set()
    conflicts = 0
    while pending:
        part = _part(pending)
        try:
            with TransactWrite(connection=connection) as tx:
                for u, i in part:
                    op = units[u][i]
                    tx.update(op.item, actions=op.actions, condition=op.condition)
        except TransactWriteError as e:
            failed = [part[j] for j in cancelled_items(e, "ConditionalCheckFailed")]
            if failed:
                dropped_units = {u for u, i in failed if units[u][i].binding}
                gone = set(failed)
                pending = [p for p in pending if p not in gone and p[0] not in dropped_units]
                continue
            conflicts += 1
            if not cancelled_items(e, "TransactionConflict") or conflicts >= CONFLICT_ROUNDS:
                raise errors.DependencyUnavailable(f"{what} failed") from e
            time.sleep(0.05 * conflicts)  # another writer held one of the items: send them again
            continue
        applied.update(part)
        pending = pending[len(part):]
    return applied


def _part(pending: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest prefix of whole units that fits one transaction (or the first 100 updates)."""
    end = 0
    for j in range(min(len(pending), MAX_TRANSACTION_ITEMS) + 1):
        if j == len(pending) or (j and pending[j][0] != pending[j - 1][0]):
            end = j  # a unit boundary within the limit
        if j == MAX_TRANSACTION_ITEMS:
            break
    return pending[:end or MAX_TRANSACTION_ITEMS]
