"""The benchmarks' own tools: the request counter reads the items a write names, and a stage
whose handler raised fails at once instead of waiting for the queue's visibility timeout."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from botocore.session import get_session

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))

from iocount import RequestCounter  # noqa: E402

MODELS = get_session().get_service_model("dynamodb")


def call(counter: RequestCounter, op: str, params: dict) -> None:
    counter._on_call(params=params, model=MODELS.operation_model(op))


def key(pk: str, sk: str = "TOTAL") -> dict:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def test_every_kind_of_write_counts_the_items_it_names_and_transactions_cost_two_units():
    counter = RequestCounter()
    with counter.stage("s") as figures:
        call(counter, "TransactWriteItems", {"TransactItems": [
            {"Update": {"TableName": "p-run-counters", "Key": key("NATIONAL")}},
            {"Put": {"TableName": "p-run-records", "Item": {**key("REC#F1#R1", "REC"), "data": {"S": "{}"}}}},
            {"ConditionCheck": {"TableName": "p-run-batches", "Key": key("BATCH#b1", "BATCH")}},
        ]})
        call(counter, "UpdateItem", {"TableName": "p-run-counters", "Key": key("NATIONAL")})
        call(counter, "BatchWriteItem", {"RequestItems": {"p-run-registry": [
            {"PutRequest": {"Item": key("P#1", "P")}}, {"DeleteRequest": {"Key": key("P#2", "P")}}]}})
        call(counter, "GetItem", {"TableName": "p-run-counters", "Key": key("NATIONAL")})
    assert figures.item_writes == {("counters", "NATIONAL/TOTAL"): 2, ("records", "REC#F1#R1/REC"): 1,
                                   ("registry", "P#1/P"): 1, ("registry", "P#2/P"): 1}
    assert figures.item_wru[("counters", "NATIONAL/TOTAL")] == 3  # 2 in the transaction + 1
    assert figures.hottest() == (("counters", "NATIONAL/TOTAL"), 2, 0.4)
    assert figures.by_service() == {"dynamodb": 4}


def test_requests_outside_a_stage_or_while_paused_are_not_counted():
    counter = RequestCounter()
    call(counter, "GetItem", {"TableName": "t", "Key": key("A")})
    with counter.stage("s") as figures:
        with counter.paused():
            call(counter, "GetItem", {"TableName": "t", "Key": key("A")})
        call(counter, "PutItem", {"TableName": "p-counters", "Item": key("A")})
    assert sum(figures.calls.values()) == 1


def test_a_stage_whose_handler_raised_fails_at_once_not_after_its_timeout():
    from bench_pipeline import BenchFailed, wait_for

    class Runner:
        class stats:
            errors = 1

    start = time.monotonic()
    with pytest.raises(BenchFailed, match="a handler raised"):
        wait_for("cleaning", lambda: 0, 10, Runner(), timeout_s=300)
    assert time.monotonic() - start < 5


def test_a_stage_that_stalls_fails_when_its_time_is_up():
    from bench_pipeline import BenchFailed, wait_for

    with pytest.raises(BenchFailed, match="3 of 10 after 0s"):
        wait_for("cleaning", lambda: 3, 10, None, timeout_s=0.3)
