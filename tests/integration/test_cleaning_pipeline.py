"""Cleaning on LocalStack: registry imported into DynamoDB, a synthetic province file uploaded to
S3, intake and cleaning run through the local event runner; the stored outcomes equal the offline
engine's on the same files, and batch and counters add up."""
from __future__ import annotations

import csv
import json
import time

import boto3
import pytest

from chalicelib.auth import dev_issuer
from chalicelib.auth.principal import Role
from chalicelib.cli import main as cli
from tests.integration.helpers import register_facilities

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    assert cli(["synth", "--people", "300", "--records", "400", "--error-rate", "0.15",
                "--seed", "7", "--facility-province", "001", "--out", str(out)]) == 0
    return out


def test_upload_is_cleaned_like_the_offline_engine(stack, runner, app_client, synthetic, unique, bearer):
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.cleaning.registry_dynamo import DynamoRegistry
    from chalicelib.cleaning.registry import read_registry_csv
    from chalicelib.intake.service import batch_id_for_upload

    settings, created = stack
    tables = Tables(settings)
    # Given the registry in DynamoDB (records of other tests use other facilities)
    with open(synthetic / "registry.csv", encoding="utf-8", newline="") as f:
        assert DynamoRegistry(tables).import_people(read_registry_csv(f)) == 300
    # and the records re-labelled to a facility id unique to this test, registered in the province
    facility = f"T{unique}"
    register_facilities(settings, (facility, "001"))
    rows = list(csv.DictReader(open(synthetic / "records.csv", encoding="utf-8", newline="")))
    for r in rows:
        r["facility_id"] = facility
    path = synthetic / "records-unique.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    # When the province uploads it and the pipeline runs
    s3 = boto3.client("s3", endpoint_url=settings.endpoint_url, region_name=settings.region)
    key = f"incoming/001/{unique}.csv"
    s3.put_object(Bucket=settings.bucket("intake"), Key=key, Body=path.read_bytes())
    etag = s3.head_object(Bucket=settings.bucket("intake"), Key=key)["ETag"].strip('"')
    batch_id = batch_id_for_upload(settings.bucket("intake"), key, etag)
    deadline = time.monotonic() + 120
    batch = {}
    while time.monotonic() < deadline:
        runner.drain(idle_rounds=1, max_seconds=20)
        resp = app_client.http.get(f"/v1/batches/{batch_id}",
                                   headers=bearer(dev_issuer.staff(Role.PROVINCE, province_code="001")))
        if resp.status_code == 200:
            batch = json.loads(resp.body)
            if batch["status"] == "COMPLETE" and batch["cleaned"] == batch["accepted"]:
                break
    assert batch.get("status") == "COMPLETE", batch
    assert batch["received"] == len(rows) == batch["accepted"] + batch["rejected"]
    assert batch["cleaned"] == batch["accepted"] - batch["duplicates"]

    # Then every stored outcome equals the offline engine's on the same files
    offline_out = synthetic / "offline.jsonl"
    assert cli(["clean", "--registry", str(synthetic / "registry.csv"), "--records", str(path),
                "--out", str(offline_out)]) == 0
    offline, suggested = {}, set()
    for line in offline_out.read_text(encoding="utf-8").splitlines():
        o = json.loads(line)
        offline[o["record_id"]] = (o["outcome"], o["matched_citizen_id"])
        # corrects every mismatched field (not only a name's form): accepting it verifies the record
        if o["mismatched_fields"] and set(o["mismatched_fields"]) <= set(o["suggestion"]):
            suggested.add(o["record_id"])
    Record = tables.Record
    online = {r.record_id: (r.state, r.matched_citizen_id) for r in Record.scan(Record.facility_id == facility)}
    assert online and set(online) <= set(offline)
    diffs = {k: (online[k], offline[k]) for k in online if online[k] != offline[k]}
    assert diffs == {}

    # and the facility counters equal the outcomes, without scanning at read time
    counter = tables.Counter.get(f"FAC#{facility}", "TOTAL")
    from collections import Counter as Tally

    tally = Tally(state for state, _ in online.values())
    assert int(counter.verified or 0) == tally["VERIFIED"]
    assert int(counter.mismatched or 0) == tally["MISMATCH"]
    assert int(counter.not_found or 0) == tally["NOT_FOUND"]
    assert int(counter.received) == len(online)
    # most records verify; the registry-absent ones are not found
    assert tally["VERIFIED"] + tally["VERIFIED_NORMALIZED"] > 0.7 * len(online)

    # When the facility accepts the suggestion for a mismatched record (the engine changed nothing)
    # (in record order: the Scan's order changes with the facility id, which is new every run)
    mismatched = next(rid for rid, (state, _) in sorted(online.items()) if state == "MISMATCH" and rid in suggested)
    as_facility = bearer(dev_issuer.staff(Role.FACILITY, facility_id=facility))
    view = json.loads(app_client.http.get(
        f"/v1/vaccination-records/{mismatched}", headers=as_facility).body)
    assert view["state"] == "MISMATCH" and view["cleaning"]["suggestion"]
    before = tables.Counter.get(f"FAC#{facility}", "TOTAL")
    resp = app_client.http.post(f"/v1/vaccination-records/{mismatched}/corrections",
                                headers={"Content-Type": "application/json", **as_facility},
                                body=json.dumps({"facility_id": facility, "accept_suggestion": True}))
    assert resp.status_code == 200, resp.body
    assert json.loads(resp.body)["status"] == "corrected"
    runner.drain(idle_rounds=1, max_seconds=20)

    # Then it is verified again as a new version, and the counters moved with it
    after_view = json.loads(app_client.http.get(
        f"/v1/vaccination-records/{mismatched}", headers=as_facility).body)
    assert after_view["version"] == view["version"] + 1
    assert after_view["state"] in ("VERIFIED", "VERIFIED_NORMALIZED")
    for field, value in view["cleaning"]["suggestion"].items():
        assert after_view["record"][field] == value
    after = tables.Counter.get(f"FAC#{facility}", "TOTAL")
    assert int(after.corrected or 0) == int(before.corrected or 0) + 1
    assert int(after.mismatched) == int(before.mismatched) - 1
    verified = lambda c: int(c.verified or 0) + int(c.verified_normalized or 0)  # noqa: E731
    assert verified(after) == verified(before) + 1

    # and a correction that makes the record invalid is refused with the field named
    bad = app_client.http.post(f"/v1/vaccination-records/{mismatched}/corrections",
                               headers={"Content-Type": "application/json", **as_facility},
                               body=json.dumps({"facility_id": facility, "changes": {"date_of_birth": "31/31/1990"}}))
    assert bad.status_code == 400
    assert json.loads(bad.body)["error"]["details"]["errors"][0]["field"] == "date_of_birth"
