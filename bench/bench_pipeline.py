"""The whole pipeline on LocalStack, with every AWS request counted: where national scale is decided.

Prints figures and the targets of issue 13; not a test. Needs LocalStack (AWS_ENDPOINT_URL):

    bash scripts/with-localstack.sh .venv/bin/python bench/bench_pipeline.py            # full: 4,000 people
    bash scripts/with-localstack.sh .venv/bin/python bench/bench_pipeline.py --smoke    # tiny, for CI
    ... bench/bench_pipeline.py --no-encryption   # personal fields in clear: the cost of field encryption

A synthetic province file (chalicelib/synth, every dose given in province 001) is uploaded to S3
and goes through the real handlers, run by the local event runner (chalicelib/local/event_runner.py,
4 concurrent invocations per function, like Lambda instances), one stage at a time so each stage's
requests are its own: intake (S3 -> records, cleaning queue) -> cleaning (registry matching) ->
facility signing (each facility head signs its verified people, as the signing routes do) ->
countersigning (KMS Sign) -> passports. Every DynamoDB/S3/SQS/KMS request the app makes is counted
by bench/iocount.py (botocore event hooks on the Container's clients and on pynamodb's), with the
DynamoDB item each write names, so the hottest item's share of a stage's writes is measured.

Baselines, measured in the same run on the same emulator: raw BatchGetItem (100 keys),
BatchWriteItem (25 items), TransactWriteItems (25 items; and from 16 threads, which caps the
countersigning stage's stores) and KMS Sign (16 threads). The stages are
reported next to them, and the issue's targets are checked: in full mode a missed target prints
`TARGET MISSED` and the exit status is 1; `--smoke` only checks that every stage reaches its end.
Finally the measured request counts are projected to AWS (per-item and per-table write limits,
Lambda concurrency, the KMS quota) for 200 million records and 80 million passports.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from iocount import Figures, RequestCounter  # noqa: E402

PROVINCE = "001"
INTAKE_REQUESTS = 8
BATCH_WRITE_CONCURRENT = f"BatchWriteItem (25 items, {INTAKE_REQUESTS} threads) items/s"
BATCH_WRITE_BEFORE_INTAKE = f"BatchWriteItem (25 items, {INTAKE_REQUESTS} threads), just before intake"
BATCH_WRITE_AFTER_INTAKE = f"BatchWriteItem (25 items, {INTAKE_REQUESTS} threads), just after intake"
RECORD_TRANSACTIONS = (f"TransactWriteItems of record-shaped items (100 items, {INTAKE_REQUESTS} threads), "
                       "after intake")
RETRY_VISIBILITY_S = 30


class BenchFailed(Exception):
    """A stage did not reach its end (a handler raised, or it ran past its time)."""


@dataclass
class Stage:
    name: str
    unit: str  # what the stage counts, singular: row, record, person, passport
    done: int
    seconds: float
    figures: Figures
    returned: int = 0  # messages the handler reported failed (back to the queue: lost races, faults)

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def per_unit(self, service: str) -> float:
        return self.figures.by_service().get(service, 0) / max(self.done, 1)

    def calls(self, service: str, op: str) -> int:
        return self.figures.calls.get((service, op), 0)


def wait_for(what: str, progress, target: int, runner, timeout_s: float) -> int:
    """Polls `progress()` until it reaches `target`; fails at once when a handler raised (the runner
    would otherwise retry the batch after the queue's visibility timeout: minutes, not seconds)."""
    deadline = time.monotonic() + timeout_s
    done = 0
    while True:
        done = progress()
        if done >= target:
            return done
        if runner is not None and runner.stats.errors:
            raise BenchFailed(f"{what}: a handler raised ({runner.stats.errors} failed invocations); "
                              f"see the log above")
        if time.monotonic() > deadline:
            raise BenchFailed(f"{what}: {done:,} of {target:,} after {timeout_s:.0f}s")
        time.sleep(0.2)


def run_stage(counter: RequestCounter, name: str, unit: str, runner_for, function: str | None, progress,
              target: int, timeout_s: float, action=None) -> Stage:
    """One stage: the event runner consuming `function`'s queue only (or `action` in this thread),
    timed until `progress()` reaches `target`."""
    with counter.stage(name) as figures:
        t0 = time.perf_counter()
        runner = thread = None
        if function:
            runner = runner_for(function)
            thread = threading.Thread(target=runner.run_forever, daemon=True)
            thread.start()
        try:
            if action:
                action()
            with counter.paused():
                done = wait_for(name, progress, target, runner, timeout_s)
            seconds = time.perf_counter() - t0
        finally:
            if runner:
                runner.stop()
                thread.join(timeout=15)
    print(f"{name}: {done:,} in {seconds:.1f}s", flush=True)
    return Stage(name, unit, done, seconds, figures, runner.stats.failed if runner else 0)


def provision_dsc(c, settings, now) -> None:
    """The ministry's DSC for the stage's ES256 KMS key, registered in the trust list (what
    `vaxpass keys provision-kms` does), so the countersign worker has a key to sign with."""
    import secrets

    from cryptography.hazmat.primitives.serialization import Encoding

    from chalicelib.adapters.dcc.kms_signer import public_key_of
    from chalicelib.dcc.pki import generate_key, issue_csca, issue_dsc

    csca_key = generate_key("ES256")
    csca = issue_csca(csca_key, now=now, valid_days=3650, random_bytes=secrets.token_bytes)
    dsc = issue_dsc(public_key_of(c.client("kms"), settings.key_alias("dsc-es256")), csca_cert=csca,
                    csca_key=csca_key, now=now, valid_days=365, random_bytes=secrets.token_bytes)
    c.trust.register_dsc(dsc.public_bytes(Encoding.PEM), key_ref=settings.key_alias("dsc-es256"), now=now)


def batch_write_rate(c, settings, n: int, threads: int = INTAKE_REQUESTS) -> float:
    """Raw BatchWriteItem items/s (25 items a call) with `threads` calls in flight. Intake keeps up
    to INTAKE_REQUESTS record requests in flight (two chunks of five transactions on the record
    store's pool of 8), so its target is checked against the same concurrency."""
    client = c.client("dynamodb")
    table = settings.table("records")
    run = uuid.uuid4().hex[:6]

    def put(start: int) -> None:
        client.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"pk": {"S": f"BASELINE#{run}#{i}"}, "sk": {"S": "REC"}, "data": {"S": "x" * 400}}}}
            for i in range(start, min(n, start + 25))]})
    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(put, range(0, n, 25)))
    return n / (time.perf_counter() - t)


def record_transaction_rate(c, settings, n: int, threads: int = INTAKE_REQUESTS) -> float:
    """Raw conditional TransactWriteItems items/s of items shaped like intake's records (about
    1 KB, both index keys, put only if absent), 100 a call, `threads` in flight: what intake's
    writes cost the emulator with nothing else around them. For information, not a target."""
    client = c.client("dynamodb")
    table = settings.table("records")
    run = uuid.uuid4().hex[:6]
    row = "x" * 330  # the JSON of a record's fields, twice (`data` and `original`)

    def item(i: int) -> dict:
        return {"pk": {"S": f"BASELINE#{run}#{i}"}, "sk": {"S": "REC"}, "data": {"S": row}, "original": {"S": row},
                "gsi1pk": {"S": f"CIT#{run}{i:08d}"}, "gsi1sk": {"S": "2021-08-20#01"},
                "gsi2pk": {"S": f"FAC#{run}#{i % 20}#PENDING"}, "gsi2sk": {"S": f"R{i:09d}"},
                "digest": {"S": "0" * 64}, "version": {"N": "1"}, "state": {"S": "PENDING"},
                "batch_id": {"S": f"b-{run}"}, "row_number": {"N": str(i)}, "province_code": {"S": PROVINCE}}

    def put(start: int) -> None:
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": item(i), "ConditionExpression": "attribute_not_exists(pk)"}}
            for i in range(start, min(n, start + 100))])
    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(put, range(0, n, 100)))
    return n / (time.perf_counter() - t)


def baselines(c, settings, n: int) -> dict[str, float]:
    """Raw emulator rates, for the ratios: items/s of the batch operations, signatures/s of KMS."""
    client = c.client("dynamodb")
    table = settings.table("records")
    run = uuid.uuid4().hex[:6]

    def key(i: int) -> dict:
        return {"pk": {"S": f"BASELINE#{run}#{i}"}, "sk": {"S": "REC"}}

    def item(i: int) -> dict:
        return {**key(i), "data": {"S": "x" * 400}}

    out = {}
    t = time.perf_counter()
    for start in range(0, n, 25):
        client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": item(i)}}
                                                      for i in range(start, min(n, start + 25))]})
    out["BatchWriteItem (25 items) items/s"] = n / (time.perf_counter() - t)
    out[BATCH_WRITE_CONCURRENT] = batch_write_rate(c, settings, n)
    t = time.perf_counter()
    for start in range(0, n, 100):
        client.batch_get_item(RequestItems={table: {"Keys": [key(i) for i in range(start, min(n, start + 100))]}})
    out["BatchGetItem (100 keys) items/s"] = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for start in range(0, n, 25):
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": key(i), "UpdateExpression": "ADD v :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}}
            for i in range(start, min(n, start + 25))])
    out["TransactWriteItems (25 items) items/s"] = n / (time.perf_counter() - t)
    # The same from 16 threads, as the KMS baseline: what bounds the countersigning stage, whose
    # chunks store their passports in transactions side by side.
    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda start: client.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": key(i), "UpdateExpression": "ADD w :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}}
            for i in range(start, min(n, start + 25))]), range(0, n, 25)))
    out["TransactWriteItems (25 items, 16 threads) items/s"] = n / (time.perf_counter() - t)
    kms = c.client("kms")
    digest = hashlib.sha256(b"baseline").digest()
    signs = max(16, n // 2)
    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda _: kms.sign(KeyId=settings.key_alias("dsc-es256"), Message=digest,
                                         MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"), range(signs)))
    out["KMS Sign (16 threads) signatures/s"] = signs / (time.perf_counter() - t)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=4000, help="registry size")
    ap.add_argument("--records", type=int, default=8000, help="records in the province file")
    ap.add_argument("--concurrency", type=int, default=4, help="concurrent invocations per function")
    ap.add_argument("--stage-timeout", type=float, default=900, help="seconds a stage may take before it fails")
    ap.add_argument("--smoke", action="store_true", help="tiny size; checks every stage reaches its end")
    ap.add_argument("--no-encryption", action="store_true",
                    help="personal fields stored in clear (bench only): what field encryption costs")
    ap.add_argument("--kms-quota", type=float, default=1000, help="projection: KMS Sign quota per Region (/s)")
    ap.add_argument("--regions", type=int, default=1, help="projection: signing Regions")
    ap.add_argument("--lambda-concurrency", type=int, default=1000, help="projection: account concurrency")
    args = ap.parse_args(argv)
    if args.smoke:
        args.people, args.records, args.stage_timeout = 60, 80, min(args.stage_timeout, 180)
    if not os.environ.get("AWS_ENDPOINT_URL"):
        print("needs LocalStack: run through scripts/with-localstack.sh", file=sys.stderr)
        return 2
    os.environ["VAXPASS_RESOURCE_PREFIX"] = f"vxp-{uuid.uuid4().hex[:8]}"
    os.environ["VAXPASS_STAGE"] = "bench"
    try:
        return run(args)
    except BenchFailed as e:
        print(f"FAILED: {e}")
        return 1


def run(args) -> int:
    import boto3

    from app import app
    from chalicelib.intake.records import RegistryPerson
    from chalicelib.intake.service import batch_id_for_upload
    from chalicelib.local.event_runner import EventRunner
    from chalicelib.local.facility_heads import attest_facilities
    from chalicelib.settings import get_settings
    from chalicelib.signing.facilities import Facility
    from chalicelib.synth.files import write_records
    from chalicelib.synth.generator import Generator
    from chalicelib.wiring import Container, set_container
    from infra.bootstrap import bootstrap

    settings = get_settings()
    t_setup = time.perf_counter()
    bootstrap(settings.resource_prefix, region=settings.region, endpoint_url=settings.endpoint_url)
    # A message whose handler reports it failed (e.g. a transaction lost to a concurrent one on the
    # same counter item) comes back after the queue's visibility timeout, 6 minutes in infra/spec.py:
    # the bench shortens it so such a retry costs seconds, and prints how many there were.
    sqs = boto3.client("sqs", endpoint_url=settings.endpoint_url, region_name=settings.region)
    for queue in ("cleaning", "countersign"):
        url = sqs.get_queue_url(QueueName=settings.queue(queue))["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": str(RETRY_VISIBILITY_S)})
    counter = RequestCounter()
    counter.watch_pynamodb()  # before any pynamodb client exists
    # Without encryption: the same items, their groups stored as the plain JSON (keys stay pseudonyms).
    c = Container(settings, sealer=PlainSealer()) if args.no_encryption else Container(settings)
    counter.watch_container(c)
    print(f"field encryption: {'off (bench only)' if args.no_encryption else 'AWS Encryption SDK, data keys cached'}")
    set_container(c)
    # The event runner's polling (`sqs`, made before the hooks) is Lambda's work, not the function's.

    def runner_for(function: str) -> EventRunner:
        runner = EventRunner(app, sqs, region=settings.region, concurrency=args.concurrency, wait_time_s=1)
        runner.sources = [s for s in runner.sources if s.function_name == function]
        return runner

    gen = Generator(2022)
    people = gen.people(args.people)
    dirty = gen.dirty_records(people, args.records, error_rate=0.15, absent_rate=0.03, facility_province=PROVINCE)
    c.registry.import_people(RegistryPerson(p.citizen_id, p.full_name, p.date_of_birth, p.sex, p.province_code)
                             for p in people)
    now = datetime.now(timezone.utc)
    facilities = sorted({r.row["facility_id"] for r in dirty})
    for fid in facilities:
        c.facility_registry.save_facility(Facility(fid, f"Trạm Y tế {fid}", PROVINCE, "BS. Bench"), now)
    provision_dsc(c, settings, now)
    bucket = settings.bucket("intake")
    key = f"incoming/{PROVINCE}/pipeline-{len(dirty)}.csv"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "records.csv"
        write_records(path, dirty, "csv")
        s3 = boto3.client("s3", endpoint_url=settings.endpoint_url, region_name=settings.region)
        n_base = 200 if args.smoke else 2000
        with counter.paused():
            base = baselines(c, settings, n_base)
        print(f"setup: {args.people:,} people in the registry, {len(facilities)} facilities, a file of "
              f"{len(dirty):,} records in {time.perf_counter() - t_setup:.0f}s")
        s3.upload_file(str(path), bucket, key)  # the province's upload: not the app's request
    etag = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    batch_id = batch_id_for_upload(bucket, key, etag)

    def batch() -> dict:
        try:
            return c.batch_progress.get(batch_id)
        except Exception:  # noqa: BLE001 - NotFound until the intake handler has opened the batch
            return {}

    stages = []
    with counter.paused():  # the machine's load moves: the intake baseline is taken beside the stage
        base[BATCH_WRITE_BEFORE_INTAKE] = batch_write_rate(c, settings, n_base)
    stages.append(run_stage(counter, "intake", "row", runner_for, "handle_intake",
                            lambda: len(dirty) if batch().get("status") in ("COMPLETE", "FAILED") else 0,
                            len(dirty), args.stage_timeout))
    with counter.paused():
        base[BATCH_WRITE_AFTER_INTAKE] = batch_write_rate(c, settings, n_base)
        base[RECORD_TRANSACTIONS] = record_transaction_rate(c, settings, n_base)
    b = batch()
    if b.get("status") != "COMPLETE":
        raise BenchFailed(f"intake: batch {b.get('status')}: {b.get('error_code')}")
    to_clean = b["accepted"] - b["duplicates"]
    stages.append(run_stage(counter, "cleaning", "record", runner_for, "handle_cleaning",
                            lambda: int(batch().get("cleaned") or 0), to_clean, args.stage_timeout))

    manifests: dict = {}

    def sign() -> None:
        manifests.update(attest_facilities(c, [(f, PROVINCE) for f in facilities], datetime.now(timezone.utc),
                                           limit=len(dirty)))

    stages.append(run_stage(counter, "facility signing", "person", runner_for, None,
                            lambda: sum(m["count"] for m in manifests.values()), 0, args.stage_timeout,
                            action=sign))
    stages[-1].done = sum(m["count"] for m in manifests.values())
    # A person whose doses two facilities gave is in both manifests: the second attestation makes a
    # new passport version (and revokes the first), so the stage ends when the queue is drained and
    # every person holds a passport; its unit is the passport version.
    people_signed = len({e["citizen_id"] for m in manifests.values() for e in m["entries"]})
    if not people_signed:
        raise BenchFailed("facility signing: nobody to sign (no verified people)")
    countersign_url = sqs.get_queue_url(QueueName=settings.queue("countersign"))["QueueUrl"]

    def issued() -> int:
        return int(c.counters.totals(["NATIONAL"]).get("NATIONAL", {}).get("passports_issued") or 0)

    def issued_once_drained() -> int:
        attrs = sqs.get_queue_attributes(QueueUrl=countersign_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        waiting = sum(int(v) for v in attrs.values())
        n = issued()
        return n if waiting == 0 and n >= people_signed else min(n, people_signed - 1)

    stages.append(run_stage(counter, "countersigning", "passport", runner_for, "handle_countersign",
                            issued_once_drained, people_signed, args.stage_timeout))
    stages[-1].done = issued()
    print(f"countersigning: {people_signed:,} people signed, {stages[-1].done:,} passport versions issued", flush=True)
    return report(args, stages, base)


class PlainSealer:
    """The Sealer port without encryption, to measure what EsdkSealer costs. Never in the app."""

    def seal(self, context, plaintext: bytes) -> str:
        return plaintext.decode()

    def open(self, context, sealed: str) -> bytes:
        return sealed.encode()


TARGETS_NOTE = "targets of issue 13 (on these 2-core machines, LocalStack)"


def report(args, stages: list[Stage], base: dict[str, float]) -> int:
    by = {s.name: s for s in stages}
    print()
    print("raw emulator baselines (same run):")
    for name, rate in base.items():
        print(f"  {name:<58} {rate:>9,.0f}")
    print()
    print(f"{'stage':<17} {'done':>7} {'time':>7} {'rate/s':>8}  requests per unit by service; "
          "hottest item and its share of the stage's DynamoDB item writes")
    for s in stages:
        services = ", ".join(f"{svc} {n / max(s.done, 1):.2f}" for svc, n in sorted(s.figures.by_service().items()))
        (table, item), n, share = s.figures.hottest()
        print(f"{s.name:<17} {s.done:>7,} {s.seconds:>6.1f}s {s.rate:>8,.0f}  per {s.unit}: {services or '-'}; "
              f"retries {s.figures.retries()}; messages returned to the queue {s.returned}")
        print(f"{'':<43}hottest {table}:{item} {n:,} of {s.figures.total_writes():,} writes = {share:.1%}")
        ops = ", ".join(f"{op} {n}" for (svc, op), n in sorted(s.figures.calls.items()))
        print(f"{'':<43}{ops}")
    intake, cleaning, countersign = by["intake"], by["cleaning"], by["countersigning"]
    if RECORD_TRANSACTIONS in base:
        print(f"intake: {intake.rate / base[RECORD_TRANSACTIONS]:.2f}x raw conditional TransactWriteItems of "
              "record-shaped items at the same concurrency (for information)")
    kms_signs = countersign.calls("kms", "Sign")
    intake_base = max(base[k] for k in (BATCH_WRITE_CONCURRENT, BATCH_WRITE_BEFORE_INTAKE, BATCH_WRITE_AFTER_INTAKE)
                      if k in base)
    # Countersigning writes several items per passport in transactions (UVCI, version, CURRENT, the
    # claim with its lease, the records, the lease let go of; a re-issue's superseded version and
    # list entries): the emulator's transactional write rate caps it, whatever the concurrency.
    writes = countersign.figures.total_writes() / max(countersign.done, 1)
    ceiling = base["TransactWriteItems (25 items, 16 threads) items/s"] / max(writes, 1e-9)
    print()
    print(f"countersigning writes {writes:.1f} DynamoDB items per passport: at the raw TransactWriteItems rate "
          f"(16 threads) the emulator stores at most {ceiling:,.0f} passports/s = "
          f"{ceiling / base['KMS Sign (16 threads) signatures/s']:.2f}x raw KMS Sign; the stage ran at "
          f"{countersign.rate / max(ceiling, 1e-9):.0%} of that")
    checks = [
        ("cleaning >= 500 records/s", cleaning.rate >= 500, f"{cleaning.rate:,.0f} records/s"),
        ("DynamoDB requests per cleaned record <= 0.15", cleaning.per_unit("dynamodb") <= 0.15,
         f"{cleaning.per_unit('dynamodb'):.2f}"),
        ("countersigning >= 0.5x raw KMS Sign",
         countersign.rate >= 0.5 * base["KMS Sign (16 threads) signatures/s"],
         f"{countersign.rate / base['KMS Sign (16 threads) signatures/s']:.2f}x"),
        ("DynamoDB requests per passport <= 0.5", countersign.per_unit("dynamodb") <= 0.5,
         f"{countersign.per_unit('dynamodb'):.2f}"),
        ("exactly one KMS Sign per passport version", kms_signs == countersign.done,
         f"{kms_signs:,} Sign calls for {countersign.done:,} passport versions"),
        (f"intake >= 0.5x raw BatchWriteItem items/s at its concurrency ({INTAKE_REQUESTS} threads; the "
         "fastest of the three measures)", intake.rate >= 0.5 * intake_base,
         f"{intake.rate / intake_base:.2f}x ({intake.rate / base['BatchWriteItem (25 items) items/s']:.2f}x "
         "the one-thread baseline)"),
    ]
    for s in stages:
        share = s.figures.hottest()[2]
        checks.append((f"hottest item <= 2% of {s.name} writes", share <= 0.02, f"{share:.1%}"))
    print()
    print(TARGETS_NOTE + ("; smoke mode: sizes too small to judge, not checked" if args.smoke else "") + ":")
    missed = 0
    for name, ok, value in checks:
        missed += not ok
        print(f"  {'met   ' if ok else 'MISSED'} {name}: {value}")
    print()
    projection(args, by)
    if args.smoke:
        print("smoke run reached its end")
        return 0
    if missed:
        print(f"TARGET MISSED: {missed} of {len(checks)}")
        return 1
    return 0


# Prices and limits of the projection (us-east-1 list prices; check the current price list).
DDB_WRU_PER_S_PER_ITEM = 1000       # one item (partition) takes at most 1,000 write units/s
DDB_TABLE_WRU_PER_S = 40000         # on-demand table quota by default (adjustable)
USD_PER_M_WRU, USD_PER_M_RRU = 1.25, 0.25
USD_PER_10K_KMS_SIGN = 0.15         # asymmetric ECC requests; $0.03 if billed as symmetric
USD_PER_M_SQS = 0.40
USD_PER_GB_S, LAMBDA_GB = 0.0000166667, 0.5
AWS_REQUEST_S = 0.008               # assumed DynamoDB/SQS/S3/KMS latency in the same Region


READS = ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems")


def stage_cost(s: Stage) -> dict:
    """Per unit of the stage: write units (by table), read requests, requests by service, and the
    hottest item's write units."""
    f = s.figures
    done = max(s.done, 1)
    return {"wru": sum(f.item_wru.values()) / done,
            "wru_by_table": {t: n / done for t, n in f.wru_by_table().items()},
            "rru": sum(n for (svc, op), n in f.calls.items() if svc == "dynamodb" and op in READS) / done,
            "hot_wru": f.hottest_wru() / done, "requests": sum(f.calls.values()) / done,
            "sqs": f.by_service().get("sqs", 0) / done, "kms": f.by_service().get("kms", 0) / done}


def projection(args, by: dict[str, Stage]) -> None:
    """Hours and cost on AWS for 200M records and 80M passports, from this run's request counts."""
    print("projection to AWS from this run's counts (assumptions: "
          f"{DDB_WRU_PER_S_PER_ITEM:,} WRU/s per item, transactional item write = 2 WRU, table quota "
          f"{DDB_TABLE_WRU_PER_S:,} WRU/s, Lambda concurrency {args.lambda_concurrency:,}, "
          f"{AWS_REQUEST_S * 1000:.0f} ms per request, "
          f"KMS Sign quota {args.kms_quota:,.0f}/s x {args.regions} Region(s)):")
    total_usd = 0.0
    for label, units, stage_names in (("200,000,000 records (intake + cleaning)", 200e6, ("intake", "cleaning")),
                                      ("80,000,000 passports (signing + countersigning)", 80e6,
                                       ("facility signing", "countersigning"))):
        costs = [stage_cost(by[n]) for n in stage_names]
        # A record is one intake row and one cleaning; a passport is one person signed and countersigned.
        per = {k: sum(c[k] for c in costs) for k in costs[0] if k != "wru_by_table"}
        hot = max(c["hot_wru"] for c in costs)
        by_table: dict[str, float] = {}
        for cost in costs:
            for table, wru in cost["wru_by_table"].items():
                by_table[table] = by_table.get(table, 0.0) + wru
        busiest = max(by_table, key=lambda t: by_table[t]) if by_table else "-"
        bounds = {
            "hottest item": units * hot / DDB_WRU_PER_S_PER_ITEM if hot else 0.0,
            f"table quota ({busiest})": units * by_table.get(busiest, 0.0) / DDB_TABLE_WRU_PER_S,
            "Lambda concurrency": units * per["requests"] * AWS_REQUEST_S / args.lambda_concurrency,
        }
        if per["kms"]:
            bounds["KMS quota"] = units * per["kms"] / (args.kms_quota * args.regions)
        limit = max(bounds, key=lambda k: bounds[k])
        usd = {
            "DynamoDB": units * (per["wru"] * USD_PER_M_WRU + per["rru"] * USD_PER_M_RRU) / 1e6,
            "KMS": units * per["kms"] * USD_PER_10K_KMS_SIGN / 1e4,
            "SQS": units * per["sqs"] * USD_PER_M_SQS / 1e6,
            "Lambda": units * per["requests"] * AWS_REQUEST_S * LAMBDA_GB * USD_PER_GB_S,
        }
        total_usd += sum(usd.values())
        print(f"  {label}: {per['requests']:.2f} requests, {per['wru']:.2f} WRU, {per['rru']:.2f} read requests, "
              f"hottest item {hot:.3f} WRU per unit")
        for name, seconds in bounds.items():
            print(f"    bound by {name:<28} {seconds / 3600:>10,.1f} h")
        print(f"    => {bounds[limit] / 3600:,.1f} hours (bound: {limit}); cost "
              + ", ".join(f"{k} ${v:,.0f}" for k, v in usd.items()) + f" = ${sum(usd.values()):,.0f}")
    print(f"  total cost ${total_usd:,.0f} (Lambda at {LAMBDA_GB} GB busy {AWS_REQUEST_S * 1000:.0f} ms per request; "
          "S3 and CloudWatch not included)")


if __name__ == "__main__":
    sys.exit(main())
