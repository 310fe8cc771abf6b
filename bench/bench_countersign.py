"""Countersigning throughput through the local pipeline on LocalStack, and KMS calls per passport.

Prints figures; not a test. Needs LocalStack (AWS_ENDPOINT_URL):

    bash scripts/with-localstack.sh .venv/bin/python bench/bench_countersign.py --people 2000

Setup (not timed): a synthetic registry and one verified dose record per person written to
DynamoDB, a DSC issued for the stage's ES256 KMS key and registered, and the facility's head
attesting every person in signing batches (real manifests, signatures and inclusion proofs; the
attested chunks of 25 people wait in the countersign queue). Timed: the real handler consuming
them through the local event runner (4 concurrent invocations, like Lambda instances) until
every person holds a passport.
Baseline, same process and same KMS: raw `Sign` calls (DIGEST, ECDSA_SHA_256) issued with the
same concurrency; the ratio says how close the pipeline gets to the KMS ceiling.

Every AWS request of the timed part is counted by operation (a botocore `before-call` hook on the
container's boto3 session and on the sessions pynamodb makes), so the DynamoDB requests per
passport are printed next to the throughput. A handler failure ends the bench at once (exit 1):
a broken handler must not look like a slow one.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--smoke", action="store_true", help="tiny size; checks the bench reaches its end")
    args = ap.parse_args()
    if args.smoke:
        args.people, args.concurrency = 10, 2
    if not os.environ.get("AWS_ENDPOINT_URL"):
        print("needs LocalStack: run through scripts/with-localstack.sh", file=sys.stderr)
        return 2
    prefix = f"vxc-{uuid.uuid4().hex[:8]}"
    os.environ["VAXPASS_RESOURCE_PREFIX"] = prefix
    os.environ["VAXPASS_STAGE"] = "bench"

    from app import app
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.dynamo import record_pk
    from chalicelib.adapters.cleaning.registry_dynamo import DynamoRegistry
    from chalicelib.adapters.trust.trust_list import DynamoDscRepository
    from chalicelib.dcc.pki import generate_key, issue_csca, issue_dsc
    from chalicelib.intake.records import RegistryPerson
    from chalicelib.local.event_runner import EventRunner
    from chalicelib.synth.generator import Generator
    from chalicelib.trust.service import TrustService
    from chalicelib.adapters.issuance.key_ring import KmsKeyRing
    from chalicelib.adapters.dcc.kms_signer import public_key_of
    from chalicelib.wiring import Container, set_container
    from chalicelib.settings import get_settings
    from infra.bootstrap import bootstrap

    settings = get_settings()
    bootstrap(prefix, region=settings.region, endpoint_url=settings.endpoint_url)
    t_setup = time.perf_counter()

    calls = {"sign": 0}
    lock = threading.Lock()
    requests: Counter[tuple[str, str]] = Counter()

    def count(model, **_):
        if threading.current_thread() is threading.main_thread():
            return  # the bench's own setup and progress polls, not the pipeline's
        with lock:
            requests[(model.service_model.service_name, model.name)] += 1

    import pynamodb.connection.base as pynamodb_base

    make_session = pynamodb_base.get_session

    def counted_session():
        session = make_session()
        session.register("before-call", count)
        return session

    pynamodb_base.get_session = counted_session  # pynamodb makes a session per thread
    real = Container(settings)
    real._session.events.register("before-call", count)
    real_kms = real.client("kms", botocore_retries=False)

    class CountingKms:
        """The key ring's KMS client, counting the passports' Sign calls."""

        def __getattr__(self, name):
            return getattr(real_kms, name)

        def sign(self, **kw):
            with lock:
                calls["sign"] += 1
            return real_kms.sign(**kw)

    c = Container(settings, key_ring=KmsKeyRing(DynamoDscRepository(Tables(settings)), CountingKms(),
                                                settings.dsc_algorithm))
    c._session.events.register("before-call", count)
    set_container(c)
    tables = Tables(settings)
    people = Generator(7).people(args.people)
    DynamoRegistry(tables).import_people(RegistryPerson(p.citizen_id, p.full_name, p.date_of_birth, p.sex,
                                                        p.province_code) for p in people)
    Record = tables.Record
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with Record.batch_write() as batch:
        for i, p in enumerate(people):
            data = {"record_id": f"B{i:07d}", "facility_id": "001-F001", "citizen_id": p.citizen_id,
                    "full_name": p.full_name, "date_of_birth": p.date_of_birth.isoformat(), "sex": p.sex,
                    "phone": "", "province_code": "001", "vaccine_product": "EU/1/21/1529", "lot_number": "L1",
                    "dose_number": "2", "vaccination_date": "2021-09-01", "country": "VN"}
            digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
            batch.save(Record(record_pk("001-F001", data["record_id"]), "REC",
                              gsi1pk=Record.tables.citizen_key(p.citizen_id), gsi1sk="2021-09-01#02",
                              gsi2pk="FAC#001-F001#VERIFIED", gsi2sk=data["record_id"],
                              facility_id="001-F001", record_id=data["record_id"],
                              province_code="001", digest=digest, version=1, data=json.dumps(data),
                              state="VERIFIED", cleaned_version=1, matched_citizen_id=p.citizen_id,
                              created_at=now, updated_at=now))
    csca_key = generate_key("ES256")
    t0 = datetime.now(timezone.utc)
    csca = issue_csca(csca_key, now=t0, valid_days=3650, random_bytes=secrets.token_bytes)
    kms = c.client("kms")
    dsc = issue_dsc(public_key_of(kms, settings.key_alias("dsc-es256")), csca_cert=csca, csca_key=csca_key,
                    now=t0, valid_days=365, random_bytes=secrets.token_bytes)
    from cryptography.hazmat.primitives.serialization import Encoding

    TrustService(DynamoDscRepository(tables), "VN").register_dsc(
        dsc.public_bytes(Encoding.PEM), key_ref=settings.key_alias("dsc-es256"), now=t0)
    print(f"setup: {args.people:,} people in the registry and verified records in {time.perf_counter() - t_setup:.0f}s")

    # Baseline: raw KMS Sign with the same concurrency the pipeline gets (4 invocations x 16 threads
    # would overrun LocalStack; use the signer's pool size per invocation).
    digest = hashlib.sha256(b"baseline").digest()
    n_base = min(1000, args.people)
    b0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda _: kms.sign(KeyId=settings.key_alias("dsc-es256"), Message=digest,
                                         MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"), range(n_base)))
    base_rate = n_base / (time.perf_counter() - b0)
    calls["sign"] = 0

    import boto3

    from chalicelib.local.facility_heads import attest_facilities

    attest_facilities(c, [("001-F001", "001")], datetime.now(timezone.utc), limit=args.people)
    calls["sign"] = 0  # the audit anchor's checkpoint signature of the attestation is not a passport's
    sqs = boto3.client("sqs", endpoint_url=settings.endpoint_url, region_name=settings.region)
    runner = EventRunner(app, sqs, region=settings.region, concurrency=args.concurrency, wait_time_s=1,
                         logger=FailureLog())
    runner.sources = [s for s in runner.sources if s.function_name == "handle_countersign"]
    with lock:
        requests.clear()
    r0 = time.perf_counter()
    thread = threading.Thread(target=runner.run_forever, daemon=True)
    thread.start()
    issued = 0
    while time.perf_counter() - r0 < 1800 and not runner.stats.errors and not runner.stats.failed:
        # NATIONAL is write-sharded: its value is the sum of its shards.
        issued = c.counters.totals(["NATIONAL"]).get("NATIONAL", {}).get("passports_issued", 0)
        if issued >= args.people:
            break
        time.sleep(0.2)
    elapsed = time.perf_counter() - r0
    runner.stop()
    thread.join(timeout=10)
    with lock:
        seen = dict(requests)
    if runner.stats.errors or runner.stats.failed:
        print(f"FAILED: the countersign handler failed ({runner.stats.errors} invocations raised, "
              f"{runner.stats.failed} messages not done); {issued:,} of {args.people:,} passports", file=sys.stderr)
        return 1
    rate = issued / elapsed
    print(f"baseline: raw KMS Sign (ES256, DIGEST, 16 threads): {base_rate:,.0f} signatures/s")
    print(f"pipeline: {issued:,} passports in {elapsed:.1f}s = {rate:,.0f} passports/s "
          f"({args.concurrency} concurrent invocations, 25 people per message); "
          f"ratio {rate / base_rate:.2f}x raw KMS Sign")
    print(f"KMS Sign calls per passport: {calls['sign'] / max(issued, 1):.2f} "
          f"({calls['sign']:,} calls for {issued:,} passports)")
    dynamo = {op: n for (service, op), n in seen.items() if service == "dynamodb"}
    total = sum(dynamo.values())
    print(f"DynamoDB requests per passport: {total / max(issued, 1):.2f} ({total:,} requests: "
          + ", ".join(f"{op} {n / max(issued, 1):.3f}" for op, n in sorted(dynamo.items(), key=lambda x: -x[1]))
          + ")")
    others = {f"{service}:{op}": n for (service, op), n in seen.items() if service != "dynamodb"}
    print("other requests: " + (", ".join(f"{k} {n:,}" for k, n in sorted(others.items())) or "none"))
    return 0 if issued >= args.people else 1


class FailureLog:
    """The event runner's logger: its warnings (a handler that raised) are printed at once."""

    def warning(self, message, **fields):
        print(f"event runner: {message} {fields}", file=sys.stderr)

    def info(self, message, **fields):
        pass

    def exception(self, message, **fields):
        print(f"event runner: {message} {fields}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
