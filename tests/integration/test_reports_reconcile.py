"""Counters against a full recomputation, on LocalStack: a small pipeline (upload -> intake ->
cleaning -> corrections -> countersigning, with a re-issue) runs with injected faults (a crash
half way in intake and in countersigning, every queue message delivered twice); then
`reports reconcile` finds no drift. A counter corrupted on purpose is reported exactly, and
`--fix` repairs it.

Runs on resources under a prefix of its own: the audit covers whole tables, and other tests'
data must neither hide nor fake a drift here."""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import threading
import time
import uuid
from collections import Counter as Tally
from datetime import datetime, timezone

import boto3
import pytest

from chalicelib.auth import dev_issuer
from chalicelib.auth.principal import Role
from chalicelib.cli import main as cli
from chalicelib.local.facility_heads import attest_facilities
from tests.integration.helpers import (cli_json_lines, crash_once_after, duplicate_messages, queues_empty,
                                      register_facilities)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_stack(aws_endpoint, tmp_path_factory):
    from chalicelib.settings import Settings
    from infra.bootstrap import bootstrap

    prefix = f"vxr-{uuid.uuid4().hex[:8]}"
    region = os.environ["AWS_REGION"]
    created = bootstrap(prefix, region=region, endpoint_url=aws_endpoint)
    settings = Settings(stage="test", region=region, endpoint_url=aws_endpoint, resource_prefix=prefix)
    sqs = boto3.client("sqs", endpoint_url=aws_endpoint, region_name=region)
    # Crashed messages come back after the visibility timeout: keep it short on these queues.
    for url in created.queues.values():
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "2"})
    return settings, created, sqs


def as_facility(facility_id: str):
    return dev_issuer.staff(Role.FACILITY, facility_id=facility_id)


def settle(runner, sqs, urls, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        runner.drain(idle_rounds=1, max_seconds=15)
        if queues_empty(sqs, urls):
            return
        time.sleep(1)
    raise AssertionError("queues did not empty in time")


def synth_province_file(settings, tmp_path, *, people: int, records: int, seed: int) -> None:
    """A dirty file of province 001 in tmp_path, its people in the registry, its facilities registered."""
    from chalicelib.adapters.cleaning.registry_dynamo import DynamoRegistry
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.cleaning.registry import read_registry_csv

    assert cli(["synth", "--people", str(people), "--records", str(records), "--error-rate", "0.2", "--seed",
                str(seed), "--facility-province", "001", "--out", str(tmp_path)]) == 0
    with open(tmp_path / "registry.csv", encoding="utf-8", newline="") as f:
        DynamoRegistry(Tables(settings)).import_people(read_registry_csv(f))
    with open(tmp_path / "facilities.csv", encoding="utf-8", newline="") as f:
        register_facilities(settings, *((r["facility_id"], r["province_code"]) for r in csv.DictReader(f)))


def upload(settings, path, key: str) -> None:
    s3 = boto3.client("s3", endpoint_url=settings.endpoint_url, region_name=settings.region)
    s3.put_object(Bucket=settings.bucket("intake"), Key=key, Body=path.read_bytes())


def runners(settings, sqs):
    """The app's handlers polling this module's own queues: (intake only, cleaning only, all three)."""
    from app import app
    from chalicelib.local.event_runner import EventRunner, Source

    sources = [Source("handle_intake", settings.queue("intake"), 1),
               Source("handle_cleaning", settings.queue("cleaning"), 10),
               Source("handle_countersign", settings.queue("countersign"), 5)]
    out = []
    for chosen in (sources[:1], sources[1:2], sources):
        r = EventRunner(app, sqs, region=settings.region)
        r.sources = chosen
        out.append(r)
    return out


def test_counters_match_a_recomputation_after_faults_and_drift_is_found_and_fixed(own_stack, tmp_path):
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.wiring import Container, set_container

    settings, created, sqs = own_stack
    tables = Tables(settings)
    Record = tables.Record
    synth_province_file(settings, tmp_path, people=40, records=60, seed=11)

    from chalicelib.adapters.intake.records import DynamoRecordStore

    store = DynamoRecordStore(tables)
    intake_crash = crash_once_after(store, "put_many", 3)
    c = Container(settings, record_store=store, intake_chunk_rows=7)  # several chunks: the crash lands half way
    set_container(c)
    intake_only, _, runner = runners(settings, sqs)
    queues = list(created.queues.values())
    try:
        # Given a province file uploaded, its S3 event delivered twice and intake crashing half way
        upload(settings, tmp_path / "records.csv", "incoming/001/reconcile.csv")
        assert duplicate_messages(sqs, created.queues["intake"], wait_s=10) >= 1  # (+ S3 TestEvent)
        settle(intake_only, sqs, [created.queues["intake"]])
        assert intake_crash["crashed"]
        # and every cleaning message delivered twice
        assert duplicate_messages(sqs, created.queues["cleaning"], wait_s=1) > 0
        settle(runner, sqs, queues)
        records = list(Record.scan())
        assert records and all(r.state != "PENDING" for r in records)

        # and a facility accepting a suggestion (the count moves from MISMATCH to verified)
        # (one whose suggestion corrects a mismatched field, not only the name's form)
        mismatched = next(r for r in records if r.state == "MISMATCH" and set(json.loads(r.cleaning)["suggestion"])
                          & set(json.loads(r.cleaning)["mismatched_fields"]))
        assert c.corrections.correct(mismatched.facility_id, mismatched.record_id, accept_suggestion=True,
                                     writer=as_facility(mismatched.facility_id))["status"] == "corrected"
        settle(runner, sqs, queues)

        # and countersigning per facility, crashing once after the second passport, messages twice
        assert cli(["keys", "provision-kms", "--dir", str(tmp_path / "pki")]) == 0
        sign_crash = crash_once_after(c.passports, "save_many", 1)
        facilities = sorted({(r.facility_id, r.province_code) for r in Record.scan()
                             if r.state in ("VERIFIED", "VERIFIED_NORMALIZED")})
        manifests = attest_facilities(c, facilities, datetime.now(timezone.utc))
        assert manifests
        duplicate_messages(sqs, created.queues["countersign"], wait_s=1)
        settle(runner, sqs, queues)
        assert sign_crash["crashed"]

        # and a corrected dose record re-issues one person's passport (version 2 revokes version 1):
        # the correction frees the record, the facility signs it again, the ministry countersigns
        facility, manifest = sorted(manifests.items())[0]
        entry = manifest["entries"][0]
        citizen, dose = entry["citizen_id"], entry["doses"][0]
        assert c.corrections.correct(dose["facility_id"], dose["record_id"], changes={"lot_number": "RECONCILE-1"},
                                     writer=as_facility(dose["facility_id"]))["status"] == "corrected"
        settle(runner, sqs, queues)
        province = next(p for f, p in facilities if f == facility)
        assert attest_facilities(c, [(facility, province)], datetime.now(timezone.utc))
        duplicate_messages(sqs, created.queues["countersign"], wait_s=1)
        settle(runner, sqs, queues)
        assert int(c.passports.current(citizen).version) == 2

        # When the counters are reconciled with the data
        code, drifts = cli_json_lines("reports", "reconcile")
        # Then nothing drifted
        assert (code, drifts) == (0, [])
        national = c.counters.totals(["NATIONAL"])["NATIONAL"]  # the sum of its write shards
        # One re-issue for the correction, plus one for each person whose doses two facilities
        # attested (each attestation re-issues the passport with the newly signed dose).
        holders = sum(1 for _ in c.passports.Item.scan(c.passports.Item.sk == "CURRENT"))
        assert national["passports_issued"] - national["passports_revoked"] == holders
        assert national["passports_revoked"] >= 1 and national["received"] == len(records)

        # When one counter is corrupted on purpose
        Counter = tables.Counter
        Counter("PROV#001", "TOTAL").update(actions=[Counter.verified.add(3)])
        code, drifts = cli_json_lines("reports", "reconcile")
        # Then exactly that drift is reported
        assert code == 1 and len(drifts) == 1, drifts
        d = drifts[0]
        assert (d["pk"], d["sk"], d["counter"], d["difference"], d["fixed"]) == (
            "PROV#001", "TOTAL", "verified", 3, None)
        # and --fix sets it back, after which nothing drifts
        code, drifts = cli_json_lines("reports", "reconcile", "--fix")
        assert code == 1 and [x["fixed"] for x in drifts] == [True]
        assert cli_json_lines("reports", "reconcile") == (0, [])
        assert c.counters.totals(["PROV#001"])["PROV#001"]["verified"] == d["recomputed"]
    finally:
        set_container(None)


def test_counter_reads_are_gets_and_queries_over_what_add_wrote(own_stack):
    """DynamoCounters: add() moves all three scopes and indexes the facility; the report reads
    find it by province (gsi1) and the day series by range."""
    from datetime import date

    from chalicelib.adapters.counters import DynamoCounters
    from chalicelib.adapters.dynamo import Tables

    settings, _, _ = own_stack
    counters = DynamoCounters(Tables(settings))
    facility = f"ADD-{uuid.uuid4().hex[:6]}"
    counters.add(facility, "096", signed_by_facility=4, complaints_received=2)
    counters.add(facility, "096", complaints_resolved=1)
    totals = counters.totals(["PROV#096", f"FAC#{facility}", "PROV#002"])
    assert totals[f"FAC#{facility}"]["signed_by_facility"] == 4 and "PROV#002" not in totals
    assert totals["PROV#096"]["complaints_resolved"] == 1
    deadline = time.monotonic() + 10  # the index is eventually consistent
    while facility not in counters.facilities("096") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert counters.facilities("096")[facility]["complaints_received"] == 2
    assert counters.issued_per_day("NATIONAL", date(2000, 1, 1), date(2000, 1, 2)) == {}


# -- write-sharded counters (chalicelib/adapters/counters.py) -------------------------------------
def test_drift_on_a_non_zero_shard_is_found_on_its_scope_and_fixed(own_stack):
    from chalicelib.wiring import Container, set_container

    settings, _, _ = own_stack
    c = Container(settings)
    set_container(c)
    try:
        assert cli_json_lines("reports", "reconcile") == (0, [])
        before = c.counters.totals(["PROV#001"]).get("PROV#001", {}).get("verified", 0)
        # Given a counter corrupted on shard 7 of its province
        Counter = c.tables.Counter
        Counter("PROV#001#S07", "TOTAL").update(actions=[Counter.verified.add(2)])
        # Then the drift is reported on the province, the shard folded in
        code, drifts = cli_json_lines("reports", "reconcile")
        assert code == 1 and [(d["pk"], d["sk"], d["counter"], d["difference"]) for d in drifts] == [
            ("PROV#001", "TOTAL", "verified", 2)]
        # and --fix brings the province's sum back, after which nothing drifts
        code, drifts = cli_json_lines("reports", "reconcile", "--fix")
        assert [x["fixed"] for x in drifts] == [True]
        assert cli_json_lines("reports", "reconcile") == (0, [])
        assert c.counters.totals(["PROV#001"])["PROV#001"]["verified"] == before
    finally:
        set_container(None)


def test_a_fix_racing_a_writer_on_another_shard_is_refused_and_keeps_its_write(own_stack, monkeypatch):
    """The fix of a sharded scope re-reads its shards and writes one of them: an event landing on
    another shard right after that read must cancel the fix, not be lost under it."""
    from chalicelib.adapters.counters import DynamoCounters
    from chalicelib.adapters.dynamo import Tables

    settings, _, _ = own_stack
    tables = Tables(settings)
    counters, Counter, scope = DynamoCounters(tables), tables.Counter, "PROV#002"
    Counter(f"{scope}#S05", "TOTAL").update(actions=[Counter.not_found.add(4)])  # a drift of +4
    stored = counters.totals([scope])[scope]["not_found"]
    read = Counter.batch_get

    def read_then_an_event_lands(*args, **kwargs):
        found = list(read(*args, **kwargs))
        Counter(f"{scope}#S09", "TOTAL").update(actions=[Counter.not_found.add(1)])
        return iter(found)

    monkeypatch.setattr(Counter, "batch_get", read_then_an_event_lands)
    assert not counters.set_if_unchanged(scope, "TOTAL", "not_found", stored, stored - 4)
    monkeypatch.undo()
    assert counters.totals([scope])[scope]["not_found"] == stored + 1  # the event is counted
    # A re-run reads it too, and fixes (this test's own drift and event, so the stack stays exact).
    assert counters.set_if_unchanged(scope, "TOTAL", "not_found", stored + 1, stored - 4)
    assert counters.totals([scope])[scope]["not_found"] == stored - 4


def count_item_writes(monkeypatch) -> Tally:
    """Every DynamoDB item written from now on, by (table, pk, sk): a botocore hook on each
    DynamoDB client created meanwhile (pynamodb's connections included), reading the keys of
    PutItem, UpdateItem, DeleteItem, BatchWriteItem and each Put/Update/Delete of a transaction."""
    import botocore.session

    tally, lock = Tally(), threading.Lock()

    def keys(operation, params):
        if operation == "PutItem":
            yield params["TableName"], params["Item"]
        elif operation in ("UpdateItem", "DeleteItem"):
            yield params["TableName"], params["Key"]
        elif operation == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for r in requests:
                    yield table, r["PutRequest"]["Item"] if "PutRequest" in r else r["DeleteRequest"]["Key"]
        elif operation == "TransactWriteItems":
            for t in params["TransactItems"]:
                for kind, field in (("Put", "Item"), ("Update", "Key"), ("Delete", "Key")):
                    if kind in t:
                        yield t[kind]["TableName"], t[kind][field]

    def hook(params, model, **_):
        written = [(table, key["pk"]["S"], key["sk"]["S"]) for table, key in keys(model.name, params)]
        with lock:
            tally.update(written)

    create = botocore.session.Session.create_client

    def create_hooked(self, service_name, *args, **kwargs):
        client = create(self, service_name, *args, **kwargs)
        if service_name == "dynamodb":
            client.meta.events.register("before-parameter-build.dynamodb", hook)
        return client

    monkeypatch.setattr(botocore.session.Session, "create_client", create_hooked)
    return tally


def hottest_counter_item(tally: Tally, counters_table: str) -> tuple[tuple, float]:
    total = sum(tally.values())
    key, n = max(((k, n) for k, n in tally.items() if k[0] == counters_table), key=lambda kv: kv[1])
    return key, n / total


def test_no_counter_item_takes_more_than_2_percent_of_a_stage_writes(own_stack, tmp_path, monkeypatch, issuer):
    """Issue 13's hot-item target, through S3 -> intake -> cleaning on LocalStack: every item
    write of each stage counted by key; no counter item (a NATIONAL or PROV# shard, a facility)
    takes more than 2% of them; and the reports and the reconciliation still give the exact
    totals (the recomputation from the records)."""
    from chalice.test import Client

    from app import app
    from chalicelib.settings import get_settings
    from chalicelib.wiring import Container, set_container

    settings, created, sqs = own_stack
    synth_province_file(settings, tmp_path, people=400, records=600, seed=23)
    writes = count_item_writes(monkeypatch)
    # the session's token settings on this module's resources
    c = Container(dataclasses.replace(get_settings(), resource_prefix=settings.resource_prefix))
    set_container(c)
    intake_only, cleaning_only, _ = runners(settings, sqs)
    counters_table = settings.table("counters")
    try:
        # When province 001's file goes through intake, then cleaning
        upload(settings, tmp_path / "records.csv", "incoming/001/shards.csv")
        deadline = time.monotonic() + 20  # the S3 notification reaches the intake queue
        while queues_empty(sqs, [created.queues["intake"]]) and time.monotonic() < deadline:
            time.sleep(0.2)
        settle(intake_only, sqs, [created.queues["intake"]])
        intake = Tally(writes)
        writes.clear()
        settle(cleaning_only, sqs, [created.queues["cleaning"]])
        cleaning = Tally(writes)

        # Then in each stage no counter item took more than 2% of the writes
        for stage, tally in (("intake", intake), ("cleaning", cleaning)):
            key, share = hottest_counter_item(tally, counters_table)
            print(f"{stage}: {sum(tally.values())} item writes, hottest counter item {key[1:]} {share:.2%}")
            assert share <= 0.02, (stage, key, share)
        national = {k: n for k, n in cleaning.items()
                    if k[0] == counters_table and k[1].split("#S")[0] == "NATIONAL"}
        # National writes go per stored transaction of a chunk, not per record (at least 20 records
        # each on average), and spread over the shards, not one item.
        assert 1 < len(national) and sum(national.values()) * 20 <= 600, national

        # and the reconciliation finds the counters exact
        assert cli_json_lines("reports", "reconcile") == (0, [])
        # and the report's national row is the recomputation from the records
        records = list(c.tables.Record.scan(attributes_to_get=["counted_state"]))
        states = Tally(r.counted_state for r in records)
        with Client(app) as client:
            token = issuer.mint(dev_issuer.staff(Role.MINISTRY))
            resp = client.http.get("/v1/reports/provinces", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200, resp.body
        row = json.loads(resp.body)["national"]
        assert (row["doses_received"], row["verified_exact"], row["verified_normalized"], row["mismatched"],
                row["not_found"], row["ambiguous"], row["invalid"]) == (
            len(records), states["VERIFIED"], states["VERIFIED_NORMALIZED"], states["MISMATCH"],
            states["NOT_FOUND"], states["AMBIGUOUS"], states["INVALID"])
        assert row["doses_received"] >= 600
    finally:
        set_container(None)
