"""Write-sharded counters (chalicelib/adapters/counters.py): NATIONAL and PROV# items spread over
`counter_shards` items, FAC# items single, every shard folded back to its scope, and no writer
building a counter item anywhere but through `counter_item`."""
from __future__ import annotations

import ast
import random
from collections import Counter as Tally
from pathlib import Path

import pytest

from chalicelib.adapters import counters
from chalicelib.adapters.counters import (aggregate_counter_updates, counter_updates, issued_per_day_updates,
                                          scope_of, shard_pk, shard_pks)
from chalicelib.adapters.dynamo import Tables
from chalicelib.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[3]


def counter_model(shards: int = 32):
    return Tables(Settings(stage="test", counter_shards=shards)).Counter


@pytest.fixture
def seeded(monkeypatch):
    monkeypatch.setattr(counters, "random", random.Random(13))


def test_every_shard_key_folds_back_to_its_scope_and_facilities_are_never_folded():
    for scope in ("NATIONAL", "PROV#001", "PROV#079"):
        keys = shard_pks(counter_model(100), scope)
        assert keys[0] == scope and len(set(keys)) == 100  # shard 0 is the layout before sharding
        assert {scope_of(k) for k in keys} == {scope}
    assert shard_pk("PROV#079", 7) == "PROV#079#S07"
    assert shard_pks(counter_model(32), "FAC#001-F001") == ["FAC#001-F001"]
    assert scope_of("FAC#X#S01") == "FAC#X#S01"  # a facility id never has '#': nothing to fold


def test_updates_spread_the_nation_and_provinces_over_every_shard_and_never_a_facility(seeded):
    Counter, draws = counter_model(32), 3200
    seen: Tally = Tally()
    for _ in range(draws):
        for item, _ in counter_updates(Counter, "001-F001", "001", {"verified": 1}):
            seen[item.pk] += 1
            assert item.sk == "TOTAL"
    national = {pk: n for pk, n in seen.items() if scope_of(pk) == "NATIONAL"}
    province = {pk: n for pk, n in seen.items() if scope_of(pk) == "PROV#001"}
    assert len(national) == len(province) == 32
    # uniform: no shard takes twice its share (100 of 3,200)
    assert max(national.values()) < 2 * draws / 32 and max(province.values()) < 2 * draws / 32
    assert seen["FAC#001-F001"] == draws


def test_one_shard_is_the_unsharded_layout():
    Counter = counter_model(1)
    updates = aggregate_counter_updates(Counter, [("F1", "001", {"verified": 1}), ("F2", "002", {"verified": 1})])
    assert sorted(i.pk for i, _ in updates) == ["FAC#F1", "FAC#F2", "NATIONAL", "PROV#001", "PROV#002"]
    assert sorted((i.pk, i.sk) for i, _ in issued_per_day_updates(Counter, [("001", "2026-01-05")])) == [
        ("NATIONAL", "DAY#2026-01-05"), ("PROV#001", "DAY#2026-01-05")]


def test_issued_per_day_updates_add_each_scope_and_day_once(seeded):
    Counter = counter_model(32)
    updates = issued_per_day_updates(Counter, [("001", "2026-01-05"), ("001", "2026-01-05"), ("002", "2026-01-05"),
                                               ("001", "2026-01-06")])
    got = sorted((scope_of(i.pk), i.sk, str(a)) for i, actions in updates for a in actions)
    assert got == [("NATIONAL", "DAY#2026-01-05", "passports_issued {'N': '3'}"),
                   ("NATIONAL", "DAY#2026-01-06", "passports_issued {'N': '1'}"),
                   ("PROV#001", "DAY#2026-01-05", "passports_issued {'N': '2'}"),
                   ("PROV#001", "DAY#2026-01-06", "passports_issued {'N': '1'}"),
                   ("PROV#002", "DAY#2026-01-05", "passports_issued {'N': '1'}")]


def test_settings_refuse_a_shard_count_a_fix_transaction_cannot_hold():
    assert Settings().counter_shards == 32
    assert Settings.from_env({"VAXPASS_COUNTER_SHARDS": "64"}).counter_shards == 64
    for bad in ("0", "101", "-3"):
        with pytest.raises(SettingsError, match="VAXPASS_COUNTER_SHARDS"):
            Settings.from_env({"VAXPASS_COUNTER_SHARDS": bad})


def _counter_items_built_by_hand(path: Path) -> list[int]:
    """Lines calling `Counter(pk, sk)` / `x.Counter(pk, sk)`: a counter item built without its shard."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and len(node.args) + len(node.keywords) >= 2:
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if name == "Counter":
                lines.append(node.lineno)
    return lines


def test_attack_a_writer_building_a_counter_item_by_hand_would_miss_the_shards():
    """Every counter item to write comes from counters.counter_item (through counter_updates,
    aggregate_counter_updates or issued_per_day_updates): an item built elsewhere would always hit
    shard 0, making it the hot item again and escaping nothing a read sums. (collections.Counter
    takes one argument: not matched.)"""
    offenders = {str(p.relative_to(ROOT)): lines for p in sorted((ROOT / "chalicelib").rglob("*.py"))
                 if p.name != "counters.py" and (lines := _counter_items_built_by_hand(p))}
    assert offenders == {}
