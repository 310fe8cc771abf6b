"""How `apply_updates` cuts units into transactions (adapters/transactions.py): whole units up to
DynamoDB's 100 items, a unit split only when it alone is larger. Pure: no request is sent."""
from __future__ import annotations

from chalicelib.adapters.transactions import _part


def units(*sizes: int) -> list[tuple[int, int]]:
    return [(u, i) for u, n in enumerate(sizes) for i in range(n)]


def test_whole_units_fill_a_transaction_up_to_100_items():
    assert len(_part(units(*[3] * 40))) == 99  # 33 people of 3 items; the 34th waits
    assert len(_part(units(50, 50, 1))) == 100
    assert _part(units(2, 2)) == units(2, 2)


def test_a_unit_larger_than_a_transaction_is_split_and_never_merged_with_the_next():
    assert _part(units(120, 3)) == units(120)[:100]
    assert _part(units(5, 120)) == units(5)
