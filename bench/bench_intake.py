"""Intake benchmark: a province's CSV through S3 on LocalStack, handled by the real intake handler.

Prints rows/s and the handler's peak memory; not a test. Needs LocalStack (AWS_ENDPOINT_URL):

    bash scripts/with-localstack.sh .venv/bin/python bench/bench_intake.py --rows 1000000

The handler runs in a child process so its peak RSS is its own (Lambda's memory setting for
handle_intake is 256 MB). Baseline, in that same child and on the same S3 object: streaming the
file through the readers and validating every row, with no writes - what intake costs before
DynamoDB, SQS and the report; the ratio says what storage and queueing add.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def write_csv(path: Path, rows: int, seed: int) -> None:
    from chalicelib.synth.generator import Generator

    gen = Generator(seed)
    people = gen.people(max(1000, rows // 3))
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = None
        for rec in gen.dirty_records(people, rows, error_rate=0.15, absent_rate=0.03):
            row = rec.row
            if w is None:
                w = csv.DictWriter(f, fieldnames=list(row))
                w.writeheader()
            # one province's file: all rows from facilities of province 001
            row["facility_id"] = f"001-F{int(row['record_id'][-3:]) % FACILITIES:03d}"
            row["province_code"] = "001"
            w.writerow(row)


FACILITIES = 40


def register_facilities(prefix: str, region: str) -> None:
    """Intake accepts records only of registered facilities: the file's 001-F000..039 first."""
    from datetime import datetime, timezone

    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.signing.facilities import DynamoFacilityRegistry
    from chalicelib.settings import Settings
    from chalicelib.signing.facilities import Facility

    settings = Settings(stage="bench", region=region, endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                        resource_prefix=prefix)
    registry = DynamoFacilityRegistry(Tables(settings))
    now = datetime.now(timezone.utc)
    for i in range(FACILITIES):
        registry.save_facility(Facility(f"001-F{i:03d}", f"Trạm Y tế {i}", "001", "BS. Bench"), now)


def child(args) -> int:
    """Runs in its own process: baseline parse, then the real handler, reporting peak RSS."""
    os.environ["VAXPASS_RESOURCE_PREFIX"] = args.prefix
    os.environ["VAXPASS_STAGE"] = "bench"
    from chalicelib.intake.readers import read_rows
    from chalicelib.intake.records import validate_row
    from chalicelib.wiring import container

    c = container()
    s3 = c.client("s3")
    bucket = c.settings.bucket("intake")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    t0 = time.perf_counter()
    from chalicelib.adapters.s3_stream import RangedS3Reader

    body = RangedS3Reader(s3, bucket, args.key)
    n = sum(1 for _, row in read_rows(body, filename=args.key)
            if isinstance(row, dict) and not isinstance(validate_row(row, row_number=0), list))
    base_s = time.perf_counter() - t0
    rss_base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    from app import app

    etag = s3.head_object(Bucket=bucket, Key=args.key)["ETag"].strip('"')
    event = {"Records": [{"messageId": "bench", "receiptHandle": "r", "eventSource": "aws:sqs",
                          "awsRegion": c.settings.region, "attributes": {"ApproximateReceiveCount": "1"},
                          "messageAttributes": {},
                          "body": json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {
                              "bucket": {"name": bucket}, "object": {"key": args.key, "eTag": etag}}}]})}]}
    t1 = time.perf_counter()
    result = app.handler_map["handle_intake"](event, None)
    handler_s = time.perf_counter() - t1
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from chalicelib.intake.service import batch_id_for_upload

    batch = c.batch_progress.get(batch_id_for_upload(bucket, args.key, etag))
    print(json.dumps({"valid_rows": n, "baseline_s": base_s, "handler_s": handler_s, "rss_start_mb": rss0,
                      "rss_after_baseline_mb": rss_base, "rss_peak_mb": rss_peak, "result": result,
                      "batch": {k: batch[k] for k in ("status", "received", "accepted", "rejected", "queued")}}))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--smoke", action="store_true", help="tiny size; checks the bench reaches its end")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--prefix", help=argparse.SUPPRESS)
    ap.add_argument("--key", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    if args.smoke:
        args.rows = 200
    if not os.environ.get("AWS_ENDPOINT_URL"):
        print("needs LocalStack: run through scripts/with-localstack.sh", file=sys.stderr)
        return 2

    from infra.bootstrap import bootstrap

    prefix = f"vxb-{uuid.uuid4().hex[:8]}"
    region = os.environ.get("AWS_REGION", "ap-southeast-1")
    bootstrap(prefix, region=region, endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    work = ROOT / ".run" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"intake-{args.rows}.csv"
    if not path.exists():
        t = time.perf_counter()
        write_csv(path, args.rows, args.seed)
        print(f"generated {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.0f}s")
    import boto3

    register_facilities(prefix, region)
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=region)
    key = f"incoming/001/{path.name}"
    s3.upload_file(str(path), f"{prefix}-intake", key)
    out = subprocess.run([sys.executable, __file__, "--child", "--prefix", prefix, "--key", key],
                         check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                         timeout=300 if args.smoke else 4 * 3600).stdout
    r = json.loads(out.strip().splitlines()[-1])
    b = r["batch"]
    print(f"file: {args.rows:,} rows, {path.stat().st_size / 1e6:.0f} MB, uploaded to s3://{prefix}-intake/{key}")
    print(f"baseline (stream + validate, no writes): {args.rows / r['baseline_s']:,.0f} rows/s")
    print(f"intake handler (S3 stream -> DynamoDB records, SQS cleaning chunks, report): "
          f"{args.rows / r['handler_s']:,.0f} rows/s in {r['handler_s']:.0f}s; "
          f"ratio {r['baseline_s'] / r['handler_s']:.2f}x baseline")
    print(f"batch: {b['status']}, received {b['received']:,} = accepted {b['accepted']:,} "
          f"+ rejected {b['rejected']:,}; queued for cleaning {b['queued']:,}")
    print(f"handler process peak RSS: {r['rss_peak_mb']:.0f} MB (after imports {r['rss_start_mb']:.0f} MB; "
          f"after baseline {r['rss_after_baseline_mb']:.0f} MB) - limit 256 MB: "
          f"{'OK' if r['rss_peak_mb'] < 256 else 'OVER'}")
    ok = r["rss_peak_mb"] < 256 and b["received"] == args.rows
    if ok and args.smoke:
        print("smoke run reached its end")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
