"""Counters against a full recomputation, on LocalStack: a small pipeline (upload -> intake ->
cleaning -> corrections -> countersigning, with a re-issue) runs with injected faults (a crash
half way in intake and in countersigning, every queue message delivered twice); then
`reports reconcile` finds no drift. A counter corrupted on purpose is reported exactly, and
`--fix` repairs it.

Runs on resources under a prefix of its own: the audit covers whole tables, and other tests'
data must neither hide nor fake a drift here."""
from __future__ import annotations

import csv
import json
import os
import time
import uuid
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


def test_counters_match_a_recomputation_after_faults_and_drift_is_found_and_fixed(own_stack, tmp_path):
    from app import app
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.cleaning.registry_dynamo import DynamoRegistry
    from chalicelib.cleaning.registry import read_registry_csv
    from chalicelib.local.event_runner import EventRunner, Source
    from chalicelib.wiring import Container, set_container

    settings, created, sqs = own_stack
    tables = Tables(settings)
    Record = tables.Record
    assert cli(["synth", "--people", "40", "--records", "60", "--error-rate", "0.2", "--seed", "11",
                "--facility-province", "001", "--out", str(tmp_path)]) == 0
    with open(tmp_path / "registry.csv", encoding="utf-8", newline="") as f:
        DynamoRegistry(tables).import_people(read_registry_csv(f))
    with open(tmp_path / "facilities.csv", encoding="utf-8", newline="") as f:
        register_facilities(settings, *((r["facility_id"], r["province_code"]) for r in csv.DictReader(f)))

    from chalicelib.adapters.intake.records import DynamoRecordStore

    store = DynamoRecordStore(tables)
    intake_crash = crash_once_after(store, "put_many", 3)
    c = Container(settings, record_store=store, intake_chunk_rows=7)  # several chunks: the crash lands half way
    set_container(c)
    # The app's handlers, polling this test's own queues.
    sources = [Source("handle_intake", settings.queue("intake"), 1),
               Source("handle_cleaning", settings.queue("cleaning"), 10),
               Source("handle_countersign", settings.queue("countersign"), 5)]
    intake_only = EventRunner(app, sqs, region=settings.region)
    intake_only.sources = sources[:1]
    runner = EventRunner(app, sqs, region=settings.region)
    runner.sources = sources
    queues = list(created.queues.values())
    try:
        # Given a province file uploaded, its S3 event delivered twice and intake crashing half way
        s3 = boto3.client("s3", endpoint_url=settings.endpoint_url, region_name=settings.region)
        s3.put_object(Bucket=settings.bucket("intake"), Key="incoming/001/reconcile.csv",
                      Body=(tmp_path / "records.csv").read_bytes())
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
        national = tables.Counter.get("NATIONAL", "TOTAL")
        # One re-issue for the correction, plus one for each person whose doses two facilities
        # attested (each attestation re-issues the passport with the newly signed dose).
        holders = sum(1 for _ in c.passports.Item.scan(c.passports.Item.sk == "CURRENT"))
        assert int(national.passports_issued) - int(national.passports_revoked) == holders
        assert int(national.passports_revoked) >= 1 and int(national.received) == len(records)

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
        assert int(Counter.get("PROV#001", "TOTAL").verified or 0) == d["recomputed"]
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
