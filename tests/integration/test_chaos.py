"""Chaos: the local event runner, a process of its own (`chaos_runner_child.py`), is killed with
SIGKILL 1-3 s after each start, while an invocation is under way (randomised; the seed is printed,
`VAXPASS_CHAOS_SEED=<seed>` replays the kill delays), and restarted, during a whole pipeline run on
LocalStack: a province file uploaded to S3 -> intake (half-second invocations: continuations) ->
cleaning -> facility heads sign their verified people -> countersigning with KMS -> passports.
Then the runner is left alone to finish.

A SIGKILL is the crash nothing can catch: no `finally`, no partial-failure report, messages left
in flight with half their work stored. The assertions are invariants, never timings: every record
stored and cleaned exactly once (records, batch and progress counters agree), nothing stuck (the
batch COMPLETE, every queue and DLQ empty), every signed person holds exactly one current passport
with one KMS-signed version per version number, and `reports reconcile` finds no drift, no
stranded person and no record left uncleaned.

Runs on resources under a prefix of its own, with short visibility timeouts (killed messages come
back in seconds) and a redrive count above the number of kills (see `chaos_stack`)."""
from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest

from chalicelib.cli import main as cli
from chalicelib.local.facility_heads import attest_facilities
from tests.integration.helpers import cli_json_lines, queues_empty, register_facilities

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
VISIBILITY_S = 3
# Short invocations, so intake's deadline comes after a chunk or two of INTAKE_CHUNK_ROWS and the
# file goes through several continuation messages. (The local runner does not stop a handler at its
# timeout; a longer one is counted, and its messages may come back to another poller meanwhile, a
# duplicate delivery like any other.)
TIMEOUTS_MS = {"handle_intake": 500, "handle_cleaning": 500, "handle_countersign": 500}
DEADLINE_MARGIN_MS = 200
INTAKE_CHUNK_ROWS = 25
CLEANING_CHUNK = 25
PEOPLE, RECORDS = 100, 200
KILLS_PER_STAGE = 5
# A kill fails every message in flight, however briefly it was: far more often than Lambda crashes,
# for which the production redrive counts (3 and 5) are meant. Above the number of kills a run makes,
# a message reaches its DLQ only if a handler refused it, and nothing here is refusable.
MAX_RECEIVES = 200
KILL_AFTER_S = (1.0, 3.0)
STAGE_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def chaos_stack(aws_endpoint):
    from chalicelib.settings import Settings
    from infra.bootstrap import bootstrap

    prefix = f"vxk-{uuid.uuid4().hex[:8]}"
    region = os.environ["AWS_REGION"]
    created = bootstrap(prefix, region=region, endpoint_url=aws_endpoint)
    settings = Settings(stage="test", region=region, endpoint_url=aws_endpoint, resource_prefix=prefix,
                        intake_max_receive_count=MAX_RECEIVES, deadline_margin_ms=DEADLINE_MARGIN_MS)
    sqs = boto3.client("sqs", endpoint_url=aws_endpoint, region_name=region)
    for logical, url in created.queues.items():
        dlq_arn = sqs.get_queue_attributes(QueueUrl=created.dlqs[logical],
                                           AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes={
            "VisibilityTimeout": str(VISIBILITY_S),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)})})
    return settings, created, sqs


class Chaos:
    """Runs the event runner child and kills it with SIGKILL a random 1-3 s after it is ready (once
    an invocation is under way), then starts a new one: `stage(name, kills)` allows that many kills
    in the stage (a cap, so that a slow pipeline still ends in time); after the last one, the child
    runs on."""

    def __init__(self, settings, log_dir: Path, seed: int) -> None:
        self._rng = random.Random(seed)
        self._log_dir = log_dir
        self._env = {**os.environ, "VAXPASS_RESOURCE_PREFIX": settings.resource_prefix,
                     "VAXPASS_INTAKE_MAX_RECEIVE_COUNT": str(MAX_RECEIVES),
                     "VAXPASS_DEADLINE_MARGIN_MS": str(DEADLINE_MARGIN_MS),
                     "VAXPASS_CLEANING_CHUNK_SIZE": str(CLEANING_CHUNK),
                     "PYTHONPATH": str(ROOT)}
        self._lock = threading.Lock()
        self._stage, self._budget = "", 0
        self._closed = threading.Event()
        self.kills: list[str] = []  # the stage each kill landed in
        self.interrupted = 0  # kills that cut an invocation short
        self.failures: list[str] = []  # children that died on their own
        self._thread = threading.Thread(target=self._loop, name="chaos", daemon=True)
        self._ready = threading.Event()

    def start(self) -> None:
        """Starts the first child and returns once it polls."""
        self._thread.start()
        self._ready.wait(60)

    def stage(self, name: str, kills: int) -> None:
        with self._lock:
            self._stage, self._budget = name, kills

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=30)

    def _take_kill(self) -> str | None:
        with self._lock:
            if self._budget <= 0:
                return None
            self._budget -= 1
            return self._stage

    def _spawn(self, n: int) -> tuple[subprocess.Popen, Path, Path]:
        ready, journal = self._log_dir / f"ready-{n}", self._log_dir / f"journal-{n}"
        with open(self._log_dir / f"runner-{n}.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "tests.integration.chaos_runner_child", str(ready),
                                     str(journal), json.dumps(TIMEOUTS_MS), str(INTAKE_CHUNK_ROWS)], cwd=ROOT,
                                    env=self._env, stdout=log, stderr=subprocess.STDOUT)
        return proc, ready, journal

    @staticmethod
    def _busy(journal: Path) -> bool:
        """An invocation is under way in the child (its journal has more starts than ends)."""
        written = journal.read_bytes() if journal.exists() else b""
        return written.count(b"s") > written.count(b"e")

    def _loop(self) -> None:
        n = 0
        while not self._closed.is_set():
            n += 1
            proc, ready, journal = self._spawn(n)
            try:
                while not ready.exists() and proc.poll() is None:
                    time.sleep(0.05)
                if proc.poll() is not None:
                    self.failures.append(f"runner {n} exited with {proc.returncode} before it was ready")
                    return
                self._ready.set()
                stage = None
                while stage is None and not self._closed.wait(0.2):
                    stage = self._take_kill()
                if stage is None:  # closed: stop it the polite way
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=20)
                    return
                if self._closed.wait(self._rng.uniform(*KILL_AFTER_S)):
                    continue  # the finally kills it
                # A kill while the child idles tests nothing: wait for an invocation to be under way
                # (a stage whose work is done has none; the next stage's work brings one).
                while not self._busy(journal) and not self._closed.wait(0.05):
                    pass
                if self._closed.wait(self._rng.uniform(0, 0.3)):
                    continue
                if proc.poll() is not None:
                    self.failures.append(f"runner {n} exited with {proc.returncode} on its own")
                    return
                busy = self._busy(journal)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                self.kills.append(stage)
                self.interrupted += busy
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()


def wait_for(what: str, done, chaos: Chaos, seed: int, seconds: float = STAGE_TIMEOUT_S) -> None:
    start = time.monotonic()
    deadline = start + seconds
    while time.monotonic() < deadline:
        if chaos.failures:
            pytest.fail(f"seed {seed}: {chaos.failures}")
        if done():
            print(f"{what}: {time.monotonic() - start:.1f} s, {len(chaos.kills)} kills so far")
            return
        time.sleep(0.5)
    pytest.fail(f"seed {seed}: {what} not reached in {seconds} s ({len(chaos.kills)} kills)")


def test_chaos_runner_killed_repeatedly_every_record_cleaned_once_every_signed_person_one_passport(
        chaos_stack, tmp_path):
    from chalice.test import Client

    from app import app
    from chalicelib.adapters.cleaning.registry_dynamo import DynamoRegistry
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.cleaning.registry import read_registry_csv
    from chalicelib.cleaning.worker import COUNTER_FOR_OUTCOME
    from chalicelib.dcc import verify_hc1
    from chalicelib.dcc.trust import trust_store_from_document
    from chalicelib.intake.service import batch_id_for_upload
    from chalicelib.wiring import Container, set_container

    settings, created, sqs = chaos_stack
    seed = int(os.environ.get("VAXPASS_CHAOS_SEED") or random.SystemRandom().randrange(10**6))
    print(f"chaos seed {seed} (VAXPASS_CHAOS_SEED={seed} replays the kill delays)")
    tables = Tables(settings)
    Record = tables.Record
    c = Container(settings)
    set_container(c)
    chaos = Chaos(settings, tmp_path, seed)
    try:
        # Given a registry, the facilities a province file names, the ministry's DSCs
        assert cli(["synth", "--people", str(PEOPLE), "--records", str(RECORDS), "--error-rate", "0.15", "--seed", "13",
                    "--facility-province", "001", "--out", str(tmp_path)]) == 0
        with open(tmp_path / "registry.csv", encoding="utf-8", newline="") as f:
            DynamoRegistry(tables).import_people(read_registry_csv(f))
        with open(tmp_path / "facilities.csv", encoding="utf-8", newline="") as f:
            register_facilities(settings, *((r["facility_id"], r["province_code"]) for r in csv.DictReader(f)))
        assert cli(["keys", "provision-kms", "--dir", str(tmp_path / "pki")]) == 0

        # When the file is uploaded while the event runner is killed over and over
        chaos.start()
        chaos.stage("intake and cleaning", KILLS_PER_STAGE)
        key = "incoming/001/chaos.csv"
        s3 = boto3.client("s3", endpoint_url=settings.endpoint_url, region_name=settings.region)
        put = s3.put_object(Bucket=settings.bucket("intake"), Key=key, Body=(tmp_path / "records.csv").read_bytes())
        batch_id = batch_id_for_upload(settings.bucket("intake"), key, put["ETag"].strip('"'))

        def cleaned() -> bool:
            batch = c.batches.get(batch_id)
            if not batch or batch["status"] != "COMPLETE":
                return False
            states = [r.state for r in Record.scan(attributes_to_get=["state"])]
            return len(states) == int(batch["accepted"]) and "PENDING" not in states

        wait_for("every record cleaned", cleaned, chaos, seed)

        # and each facility head signs its verified people, still under kills
        chaos.stage("countersigning", KILLS_PER_STAGE)
        facilities = sorted({(r.facility_id, r.province_code) for r in Record.scan()
                             if r.state in ("VERIFIED", "VERIFIED_NORMALIZED")})
        manifests = attest_facilities(c, facilities, datetime.now(timezone.utc))
        attestations = Counter(e["citizen_id"] for m in manifests.values() for e in m["entries"])
        assert attestations

        def passports() -> dict[str, list[dict]]:
            """Every passports-table item by person (P#<citizen> / CURRENT and V#<version>)."""
            # Through the model: keys hold pseudonyms, and citizen_id and hc1 are sealed.
            from chalicelib.adapters.issuance.passports import DynamoPassportStore

            out: dict[str, list[dict]] = {}
            for i in DynamoPassportStore(tables).Item.scan():
                if i.pk.startswith("P#") and i.citizen_id:
                    out.setdefault(i.citizen_id, []).append({"sk": i.sk, "version": i.version, "hc1": i.hc1})
            return out

        wait_for("a passport for every signed person",
                 lambda: all(any(i["sk"] == "CURRENT" for i in passports().get(p, ())) for p in attestations),
                 chaos, seed)
        # Then, left alone, the runner finishes whatever the kills left behind
        chaos.stage("settling", 0)
        queues = list(created.queues.values())
        wait_for("all queues empty", lambda: queues_empty(sqs, queues), chaos, seed, seconds=60)
    finally:
        chaos.close()
        set_container(None)
    kills = Counter(chaos.kills)
    print(f"seed {seed}: {len(chaos.kills)} kills ({chaos.interrupted} during an invocation): {dict(kills)}")
    # (a pipeline fast enough to finish a stage before its first kill still gets killed in the next)
    assert chaos.interrupted >= 2, (seed, kills)

    set_container(c)
    try:
        # every record stored once and cleaned once: the batch, the records and the counters agree
        batch = c.batches.get(batch_id)
        records = list(Record.scan())
        outcomes = Counter(r.state for r in records)
        assert batch["status"] == "COMPLETE"
        assert int(batch["received"]) == int(batch["accepted"]) + int(batch["rejected"]) + int(batch["duplicates"])
        assert int(batch["queued"]) == int(batch["accepted"]) == len(records) == len(
            {(r.facility_id, r.record_id) for r in records})
        assert "PENDING" not in outcomes
        totals = c.counters.totals(["NATIONAL", "PROV#001"])
        for scope in ("NATIONAL", "PROV#001"):
            assert totals[scope].get("received", 0) == len(records), (seed, scope)
            assert {counter: totals[scope].get(counter, 0) for counter in COUNTER_FOR_OUTCOME.values()} == {
                counter: outcomes[state] for state, counter in COUNTER_FOR_OUTCOME.items()}, (seed, scope)
        # nothing stuck: no message left in any queue or dead-letter queue
        assert queues_empty(sqs, [*created.queues.values(), *created.dlqs.values()]), seed

        # every signed person holds one current passport; its versions are 1..current, each signed
        # once by the KMS DSC key, and no more versions than attestations naming the person
        held = passports()
        trust = trust_store_from_document(json.loads(Client(app).http.get("/v1/trust-list").body))
        now = datetime.now(timezone.utc)
        versions_total = 0
        for person, attested in attestations.items():
            items = held.get(person, [])
            current = [i for i in items if i["sk"] == "CURRENT"]
            versions = sorted(int(i["version"]) for i in items if i["sk"].startswith("V#"))
            assert len(current) == 1 and versions == list(range(1, int(current[0]["version"]) + 1)), (seed, versions)
            assert len(versions) <= attested, (seed, versions, attested)
            for item in items:
                if item["sk"].startswith("V#"):
                    result = verify_hc1(item["hc1"], trust, now=now)
                    assert result.valid, (seed, result.errors)
            versions_total += len(versions)
        assert set(held) == set(attestations), seed  # nobody unsigned got one
        assert c.counters.totals(["NATIONAL"])["NATIONAL"].get("passports_issued", 0) == versions_total, seed

        # and the audit agrees: no counter drifted, nobody stranded, no record left uncleaned
        assert cli_json_lines("reports", "reconcile", "--grace-minutes", "0") == (0, []), seed
    finally:
        set_container(None)
