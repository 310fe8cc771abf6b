"""Cleaning engine benchmark: accuracy against synthetic truth and offline speed per core.

Prints figures; not a test. Full size (default): registry of 1,000,000 people, 100,000 records,
15% with 1-2 errors, 3% about people absent from the registry. A suggestion is what a facility
would be shown (only near misses while the other fields agree: cleaning/disclosure.py); its
precision is the share naming the right person, its coverage the share of mismatches that get one.

    .venv/bin/python bench/bench_cleaning.py                 # full size
    .venv/bin/python bench/bench_cleaning.py --people 100000 --records 20000   # quick

Speed baseline, measured in the same process on the same rows: `validate_row` (parsing dates,
NFC, product mapping) plus one registry dict lookup by id - the work any pipeline does anyway.
The ratio engine/baseline says what matching costs on top of that.

`--pipeline` measures the cleaning worker on LocalStack instead (needs AWS_ENDPOINT_URL):

    bash scripts/with-localstack.sh .venv/bin/python bench/bench_cleaning.py --pipeline \
        --people 20000 --records 10000

Setup (not timed): the registry imported into DynamoDB, the facilities registered, the records
stored by the real intake service, which queues them for cleaning. Timed: the real cleaning
handler consuming the queue through the local event runner (`--concurrency` invocations at
once, like Lambda instances) until every message is handled. Every AWS request of every client
(boto3's and pynamodb's) is counted by operation by bench/iocount.py (botocore event hooks), so the
figures are requests per cleaned record. Baselines in the same run, same concurrency: raw
TransactWriteItems (100 updates each) and BatchGetItem (100 keys each), in items/s.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chalicelib.cleaning import InMemoryRegistry, Matcher, Outcome  # noqa: E402
from chalicelib.cleaning.service import clean_row  # noqa: E402
from chalicelib.intake.records import RegistryPerson, validate_row  # noqa: E402
from chalicelib.synth.generator import ABSENT, ERROR_KINDS, Generator  # noqa: E402

TODAY = date(2023, 1, 1)
MATCHED = (Outcome.VERIFIED, Outcome.VERIFIED_NORMALIZED, Outcome.MISMATCH)


def pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:7.3f}%" if b else "    n/a"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--error-rate", type=float, default=0.15)
    ap.add_argument("--absent-rate", type=float, default=0.03)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--pipeline", action="store_true", help="the worker through the event runner on LocalStack")
    ap.add_argument("--concurrency", type=int, default=4, help="--pipeline: invocations at once")
    ap.add_argument("--smoke", action="store_true", help="tiny size; checks the bench reaches its end")
    args = ap.parse_args()
    if args.smoke:
        args.people, args.records = 3000, 300
    if args.pipeline:
        return pipeline(args)

    t0 = time.perf_counter()
    gen = Generator(args.seed)
    people = gen.people(args.people)
    dirty = gen.dirty_records(people, args.records, error_rate=args.error_rate,
                              absent_rate=args.absent_rate)
    t1 = time.perf_counter()
    registry = InMemoryRegistry(RegistryPerson(p.citizen_id, p.full_name, p.date_of_birth, p.sex,
                                               p.province_code) for p in people)
    del people
    t2 = time.perf_counter()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"generated {args.people:,} people + {len(dirty):,} records in {t1 - t0:.1f}s; "
          f"registry index built in {t2 - t1:.1f}s; peak RSS {rss_mb:,.0f} MB")

    # Baseline: validation + one dict lookup per record.
    t = time.perf_counter()
    for i, d in enumerate(dirty):
        rec = validate_row(d.row, row_number=i + 2, today=TODAY)
        if not isinstance(rec, list):
            registry.get(rec.citizen_id)
    base_s = time.perf_counter() - t

    matcher = Matcher(registry)
    t = time.perf_counter()
    results = [clean_row(matcher, i + 2, d.row, today=TODAY) for i, d in enumerate(dirty)]
    eng_s = time.perf_counter() - t
    n = len(dirty)
    print(f"\nspeed (1 core): engine {n / eng_s:,.0f} records/s; baseline (validate_row + id dict "
          f"lookup) {n / base_s:,.0f} records/s; engine takes {eng_s / base_s:.2f}x the baseline time")

    clean_total = clean_ok = 0
    matched = matched_ok = sugg = sugg_ok = 0
    mismatch = mismatch_sugg = 0
    err_total = err_ok = 0
    absent_total = absent_matched = 0
    by_kind: dict[str, Counter] = defaultdict(Counter)
    outcomes = Counter()
    for d, r in zip(dirty, results):
        outcomes[r.outcome.value] += 1
        got = r.matched_citizen_id if r.outcome in MATCHED else None
        if r.outcome is Outcome.MISMATCH:
            mismatch += 1
            mismatch_sugg += bool(r.suggestion)
        kinds = [k for k in d.error_kinds if k != ABSENT]
        if got is not None:
            matched += 1
            matched_ok += got == d.true_citizen_id
            if r.suggestion:
                sugg += 1
                sugg_ok += got == d.true_citizen_id
        if not d.true_citizen_id:
            absent_total += 1
            absent_matched += got is not None
            by_kind[ABSENT]["total"] += 1
            by_kind[ABSENT]["ok"] += got is None
            by_kind[ABSENT][r.outcome.value] += 1
            continue
        ok = got == d.true_citizen_id
        if not kinds:
            clean_total += 1
            clean_ok += ok and r.outcome in (Outcome.VERIFIED, Outcome.VERIFIED_NORMALIZED)
            continue
        err_total += 1
        err_ok += ok
        for k in kinds + ([f"{len(kinds)} errors"]):
            c = by_kind[k]
            c["total"] += 1
            c["ok"] += ok
            c["wrong"] += got is not None and not ok
            c["suggested"] += bool(r.suggestion) and ok
            c[r.outcome.value] += 1

    print(f"\noutcomes: {dict(sorted(outcomes.items()))}")
    print(f"clean records verified (right person)          {pct(clean_ok, clean_total)}  "
          f"({clean_ok}/{clean_total}; target >= 99.9%)")
    print(f"precision of matches (right person)            {pct(matched_ok, matched)}  "
          f"({matched_ok}/{matched}; target >= 99.5%)")
    print(f"precision of suggestions (right person)        {pct(sugg_ok, sugg)}  "
          f"({sugg_ok}/{sugg}; target >= 99.5%)")
    print(f"mismatches that get a suggestion (near misses) {pct(mismatch_sugg, mismatch)}  "
          f"({mismatch_sugg}/{mismatch}; the rest are told which fields differ)")
    print(f"recall on erroneous records, person registered {pct(err_ok, err_total)}  "
          f"({err_ok}/{err_total}; target >= 95%)")
    print(f"absent people wrongly matched                  {pct(absent_matched, absent_total)}  "
          f"({absent_matched}/{absent_total}; target <= 0.1%)")
    print("\nper error kind (records having that kind, alone or with one other; absent: ok = not matched)")
    print(f"{'kind':22} {'records':>8} {'recall':>9} {'wrong':>6} {'ambiguous':>9} {'not found':>9} "
          f"{'suggested':>9}")
    for k in (*ERROR_KINDS, "1 errors", "2 errors", ABSENT):
        c = by_kind.get(k)
        if not c:
            continue
        print(f"{k:22} {c['total']:8d} {pct(c['ok'], c['total'])} {c['wrong']:6d} "
              f"{c['AMBIGUOUS']:9d} {c['NOT_FOUND']:9d} {pct(c['suggested'], c['total'])}")
    if args.smoke:
        print("smoke run reached its end")
    return 0


# -- the worker on LocalStack -----------------------------------------------------------------------
def _parallel(n_threads: int, jobs) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        list(pool.map(lambda job: job(), jobs))


def pipeline(args) -> int:
    import os
    import threading
    import uuid

    if not os.environ.get("AWS_ENDPOINT_URL"):
        print("--pipeline needs LocalStack: run through scripts/with-localstack.sh", file=sys.stderr)
        return 2
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from iocount import RequestCounter

    requests = RequestCounter()
    requests.watch_pynamodb()  # before any pynamodb client exists
    prefix = f"vxcl-{uuid.uuid4().hex[:8]}"
    os.environ["VAXPASS_RESOURCE_PREFIX"] = prefix
    os.environ["VAXPASS_STAGE"] = "bench"

    from datetime import datetime, timezone

    from app import app
    from chalicelib.intake.service import Writer
    from chalicelib.local.event_runner import EventRunner
    from chalicelib.settings import get_settings
    from chalicelib.signing.facilities import Facility
    from chalicelib.wiring import Container, set_container
    from infra.bootstrap import bootstrap

    settings = get_settings()
    bootstrap(prefix, region=settings.region, endpoint_url=settings.endpoint_url)
    c = Container(settings)
    requests.watch_container(c)
    set_container(c)
    gen = Generator(args.seed)
    people = gen.people(args.people)
    dirty = gen.dirty_records(people, args.records, error_rate=args.error_rate, absent_rate=args.absent_rate,
                              facility_province="001")
    t = time.perf_counter()
    with requests.stage("registry import") as imported:
        c.registry.import_people(RegistryPerson(p.citizen_id, p.full_name, p.date_of_birth, p.sex, p.province_code)
                                 for p in people)
    took = time.perf_counter() - t
    print(f"registry import: {len(people):,} people in {took:.1f}s = {len(people) / took:,.0f} people/s; "
          f"DynamoDB requests {sum(n for (s, _o), n in imported.calls.items() if s == 'dynamodb'):,}")
    now = datetime.now(timezone.utc)
    for facility in sorted({d.row["facility_id"] for d in dirty}):
        c.facility_registry.save_facility(Facility(facility, f"Trạm Y tế {facility}", "001", "BS. Bench"), now)
    rows = [(i + 2, d.row) for i, d in enumerate(dirty)]
    batch_id = f"bench-{uuid.uuid4().hex[:8]}"
    queued = 0
    for i in range(0, len(rows), 500):
        queued += c.intake.process_rows(batch_id, rows[i:i + 500], writer=Writer.upload("001"),
                                        default_province="001").queued

    runner = EventRunner(app, c.client("sqs"), region=settings.region, wait_time_s=0)
    [source] = [s for s in runner.sources if s.queue_name == settings.queue("cleaning")]
    messages = -(-queued // settings.cleaning_chunk_size)
    stop = threading.Event()
    # A raising handler's batch would come back only after the queue's visibility timeout: stop at once.
    deadline = time.monotonic() + (180 if args.smoke else 3600)

    def poll() -> None:
        while not stop.is_set():
            if runner.stats.deleted >= messages or runner.stats.errors or time.monotonic() > deadline:
                stop.set()
            elif runner.poll_once(source, wait_time_s=0) == 0:
                time.sleep(0.05)

    t, cpu = time.perf_counter(), time.process_time()
    with requests.stage("cleaning") as figures:
        _parallel(args.concurrency, [poll] * args.concurrency)
    took, cpu = time.perf_counter() - t, time.process_time() - cpu
    counts = figures.calls
    if runner.stats.deleted < messages:
        print(f"FAILED: {runner.stats.deleted} of {messages} messages handled; handler errors {runner.stats.errors}")
        return 1
    cleaned = int(c.batches.get(batch_id)["cleaned"] or 0)
    print(f"cleaning through the event runner: {cleaned:,} of {queued:,} queued records in {took:.1f}s = "
          f"{cleaned / took:,.0f} records/s ({args.concurrency} invocations at once, "
          f"{settings.cleaning_chunk_size} records per message, {source.batch_size} messages per invocation; "
          f"handler errors {runner.stats.errors})")
    # The handlers' own CPU (this process, all threads) against the wall time: the rest is waiting
    # for the emulator, which shares the same cores.
    print(f"handler CPU: {cpu:.1f}s of {took:.1f}s wall = {1000 * cpu / max(cleaned, 1):.2f} ms per record")
    dynamo = sum(n for (service, _op), n in counts.items() if service == "dynamodb")
    print(f"DynamoDB requests per cleaned record: {dynamo / max(cleaned, 1):.3f} (target <= 0.15)")
    for (service, op), n in sorted(counts.items()):
        print(f"  {service:9} {op:22} {n:7,d}  {n / max(cleaned, 1):.3f} per record")

    print(f"baselines, same emulator, {args.concurrency} threads:")
    for name, rate in _baselines(c, args.concurrency).items():
        print(f"  raw {name:18} {rate:8,.0f} items/s; cleaning is {cleaned / took / rate:.2f}x")
    if args.smoke:
        print("smoke run reached its end")
    return 0


def _baselines(c, threads: int, rounds: int = 8) -> dict[str, float]:
    """Items/s of raw TransactWriteItems (100 ADDs on items of their own) and BatchGetItem (100
    keys), straight through a boto3 client on the records table."""
    import uuid

    ddb = c.client("dynamodb")
    table = c.settings.table("records")
    tag = uuid.uuid4().hex[:8]
    keys = [[{"pk": {"S": f"BENCH#{tag}#{t}#{i}"}, "sk": {"S": "REC"}} for i in range(100)] for t in range(threads)]
    out = {}

    def transact(t: int):
        return lambda: [ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": k, "UpdateExpression": "ADD version :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}} for k in keys[t]])
            for _ in range(rounds)]

    def batch_get(t: int):
        return lambda: [ddb.batch_get_item(RequestItems={table: {"Keys": keys[t]}}) for _ in range(rounds)]

    for name, job in (("TransactWriteItems", transact), ("BatchGetItem", batch_get)):
        t = time.perf_counter()
        _parallel(threads, [job(i) for i in range(threads)])
        out[name] = threads * rounds * 100 / (time.perf_counter() - t)
    return out


if __name__ == "__main__":
    sys.exit(main())
