"""Multi-Region countersigning on LocalStack, on the real KMS API in two Regions: the DSC key is
replicated with ReplicateKey, the countersign handler (through the local event runner) signs in
both Regions, and every passport verifies against the one DSC of the published trust list. One
Region failing mid-run, or unreachable from the start, costs no passport; a Region whose alias
names another key never signs."""
from __future__ import annotations

import dataclasses
import json
import threading
import time
from datetime import datetime, timezone

import boto3
import pytest

from tests.integration.helpers import drain_queue
from tests.integration.test_countersign import make_verified_people, passport_versions, sign_a_batch

pytestmark = pytest.mark.integration

REPLICA = "ap-northeast-1"
ROGUE = "eu-central-1"


def kms(settings, region):
    return boto3.client("kms", endpoint_url=settings.endpoint_url, region_name=region)


@pytest.fixture(scope="module")
def replicated(stack):
    """The session's stack with its ES256 DSC key replicated to REPLICA (`infra bootstrap` with
    VAXPASS_SIGNING_REGIONS set): (settings signing in both Regions, the key id)."""
    from infra.bootstrap import bootstrap

    settings, _ = stack
    created = bootstrap(settings.resource_prefix, region=settings.region, endpoint_url=settings.endpoint_url,
                        replica_regions=[REPLICA])
    return dataclasses.replace(settings, signing_regions=REPLICA), created.keys["dsc-es256"]


@pytest.fixture(scope="module")
def people(stack, replicated, tmp_path_factory):
    return make_verified_people(stack, tmp_path_factory, seed=43)


def count_signs(container) -> dict[str, int]:
    """KMS Sign requests per signing Region, counted on the container's own clients."""
    counts = {region: 0 for region in container.signing_kms}
    lock = threading.Lock()
    for region, client in container.signing_kms.items():
        def hook(region=region, **_):
            with lock:
                counts[region] += 1
        client.meta.events.register("before-call.kms.Sign", hook)
    return counts


def dlq_depth(sqs, created) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=created.dlqs["countersign"],
                                     AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


def countersign(container, sqs, region, before: dict[str, int], settings):
    """The real countersign handler through the local event runner, until everyone in `before`
    has a new passport version."""
    from app import app
    from chalicelib.local.event_runner import EventRunner
    from chalicelib.wiring import set_container

    set_container(container)
    try:
        runner = EventRunner(app, sqs, region=region, wait_time_s=0)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runner.drain(idle_rounds=1, max_seconds=20)
            if all(n > before[cid] for cid, n in version_counts(settings, before).items()):
                break
    finally:
        set_container(None)


def version_counts(settings, people_ids) -> dict[str, int]:
    return {cid: len(passport_versions(settings, cid)) for cid in people_ids}


def assert_one_new_verified_version_each(settings, app_client, before: dict[str, int]) -> set[bytes]:
    """Each person of the batch has exactly one passport version more than before (a person met
    in an earlier batch of the module gets version 2 for their other dose), and it is valid
    against the published trust list; returns the kids that signed them."""
    from chalicelib.dcc import verify_hc1
    from chalicelib.dcc.trust import trust_store_from_document

    trust = trust_store_from_document(json.loads(app_client.http.get("/v1/trust-list").body))
    kids = set()
    for cid, had in before.items():
        versions = passport_versions(settings, cid)
        assert sorted(int(v.version) for v in versions) == list(range(1, had + 2)), cid
        result = verify_hc1(max(versions, key=lambda v: int(v.version)).hc1, trust, now=datetime.now(timezone.utc))
        assert result.valid, result.errors
        kids.add(result.kid)
    return kids


def test_bootstrap_replicates_the_dsc_key_with_its_public_key_and_alias(stack, replicated):
    from chalicelib import resource_names as rn
    from infra import spec
    from infra.bootstrap import _ensure_replica

    settings, key_id = replicated
    primary, replica = kms(settings, settings.region), kms(settings, REPLICA)
    meta = replica.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["MultiRegion"] and meta["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    alias = rn.key_alias(settings.resource_prefix, "dsc-es256")
    assert replica.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == key_id
    assert replica.get_public_key(KeyId=alias)["PublicKey"] == primary.get_public_key(KeyId=alias)["PublicKey"]
    # Running it again changes nothing (bootstrap is idempotent).
    _ensure_replica(primary, replica, settings.resource_prefix, spec.KEYS[0], key_id, REPLICA)
    # The other keys stay single-Region.
    audit = primary.describe_key(KeyId=rn.key_alias(settings.resource_prefix, "audit-anchor"))["KeyMetadata"]
    assert not audit.get("MultiRegion")


def test_passports_signed_in_both_regions_verify_against_the_one_dsc(stack, sqs, region, replicated, people,
                                                                     app_client):
    from chalicelib.wiring import Container

    settings, created = stack
    drain_queue(sqs, created.queues["countersign"])
    container = Container(replicated[0])
    signs = count_signs(container)
    people_ids = sign_a_batch(settings, people, limit=4)
    before = version_counts(settings, people_ids)
    countersign(container, sqs, region, before, settings)

    # One DSC (one kid) whichever Region signed.
    assert len(assert_one_new_verified_version_each(settings, app_client, before)) == 1
    # Exactly one Sign per passport, spread over both Regions by their token buckets.
    assert sum(signs.values()) == len(people_ids)
    assert signs[settings.region] > 0 and signs[REPLICA] > 0, signs


def test_a_region_failing_mid_run_hands_its_share_to_the_other(stack, sqs, region, replicated, people, app_client):
    from chalicelib.wiring import Container

    settings, created = stack
    signing_settings, key_id = replicated
    drain_queue(sqs, created.queues["countersign"])
    container = Container(signing_settings)
    container.key_ring(datetime.now(timezone.utc))  # both Regions checked and signing
    signs = count_signs(container)
    dead_letters = dlq_depth(sqs, created)
    replica = kms(settings, REPLICA)
    replica.disable_key(KeyId=key_id)  # the replica Region now refuses every Sign
    try:
        people_ids = sign_a_batch(settings, people, limit=4)
        before = version_counts(settings, people_ids)
        countersign(container, sqs, region, before, settings)
    finally:
        replica.enable_key(KeyId=key_id)

    assert_one_new_verified_version_each(settings, app_client, before)
    assert signs[settings.region] == len(people_ids)
    # Tried, then set aside for its cool-off: at most one attempt per signing thread.
    assert 1 <= signs[REPLICA] <= len(people_ids), signs
    assert dlq_depth(sqs, created) == dead_letters


def test_a_region_unreachable_from_the_start_is_left_out(stack, sqs, region, replicated, people, app_client):
    from botocore.config import Config

    from chalicelib.wiring import Container

    settings, created = stack
    drain_queue(sqs, created.queues["countersign"])
    real = Container(replicated[0])
    # A real client for the replica Region whose endpoint nothing answers on (a Region outage).
    unreachable = boto3.client("kms", endpoint_url="http://127.0.0.1:9", region_name=REPLICA,
                               config=Config(retries={"total_max_attempts": 1}, connect_timeout=1))
    container = Container(replicated[0], signing_kms={settings.region: real.signing_kms[settings.region],
                                                      REPLICA: unreachable})
    signs = count_signs(container)
    dead_letters = dlq_depth(sqs, created)
    people_ids = sign_a_batch(settings, people, limit=4)
    before = version_counts(settings, people_ids)
    countersign(container, sqs, region, before, settings)

    assert_one_new_verified_version_each(settings, app_client, before)
    assert signs == {settings.region: len(people_ids), REPLICA: 0}
    assert dlq_depth(sqs, created) == dead_letters


def test_attack_replica_region_alias_names_another_key(stack, sqs, region, replicated, people, app_client):
    # In ROGUE, the DSC's alias names a key of its own (created there by mistake or by someone
    # who can manage aliases): its signatures would carry the DSC's kid and verify nowhere.
    from chalicelib import resource_names as rn
    from chalicelib.wiring import Container

    settings, created = stack
    rogue = kms(settings, ROGUE)
    other = rogue.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    rogue.create_alias(AliasName=rn.key_alias(settings.resource_prefix, "dsc-es256"), TargetKeyId=other)
    drain_queue(sqs, created.queues["countersign"])
    container = Container(dataclasses.replace(settings, signing_regions=ROGUE))
    signs = count_signs(container)
    people_ids = sign_a_batch(settings, people, limit=4)
    before = version_counts(settings, people_ids)
    countersign(container, sqs, region, before, settings)

    assert_one_new_verified_version_each(settings, app_client, before)
    assert signs == {settings.region: len(people_ids), ROGUE: 0}
