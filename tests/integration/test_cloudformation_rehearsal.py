"""A deployment rehearsal: the resources template an operator deploys (`python -m infra template`,
`make deploy`) goes through LocalStack's CloudFormation, not through infra/bootstrap.py, and the
app then runs the pipeline on that stack's resources: people uploaded, cleaned, signed by their
facility, countersigned, and their passport served. Afterwards every table, queue, bucket and key
of the prefix is one the stack created: the app needs nothing the template does not make.

(LocalStack does not enforce IAM: the policies are checked by test_iam_recorded_calls.py, which
also sees this test's calls.)"""
from __future__ import annotations

import dataclasses
import json
import time
import uuid

import boto3
import pytest

from infra import spec
from infra.cloudformation import dumps, template

pytestmark = pytest.mark.integration


def _clients(endpoint: str, region: str) -> dict:
    return {s: boto3.client(s, endpoint_url=endpoint, region_name=region)
            for s in ("cloudformation", "dynamodb", "sqs", "s3", "kms")}


def _inventory(c: dict, prefix: str) -> dict[str, set[str]]:
    """Every named resource of the prefix, by kind (keys by their aliases)."""
    tables = {n for page in c["dynamodb"].get_paginator("list_tables").paginate() for n in page["TableNames"]}
    queues = {u.rsplit("/", 1)[-1] for page in c["sqs"].get_paginator("list_queues").paginate(QueueNamePrefix=prefix)
              for u in page.get("QueueUrls", [])}
    buckets = {b["Name"] for b in c["s3"].list_buckets()["Buckets"]}
    aliases = {a["AliasName"] for page in c["kms"].get_paginator("list_aliases").paginate() for a in page["Aliases"]}
    mine = lambda names, start=prefix: {n for n in names if n.startswith(f"{start}-")}  # noqa: E731
    return {"table": mine(tables), "queue": mine(queues), "bucket": mine(buckets),
            "alias": mine(aliases, f"alias/{prefix}")}


def _expected(prefix: str) -> dict[str, set[str]]:
    names = spec.names(prefix)
    of = lambda *kinds: {v for k, v in names.items() if k.split(":")[0] in kinds}  # noqa: E731
    return {"table": of("table"), "queue": of("queue", "dlq"), "bucket": of("bucket"), "alias": of("key")}


def _key_ids(kms) -> set[str]:
    return {k["KeyId"] for page in kms.get_paginator("list_keys").paginate() for k in page["Keys"]}


def _deploy(cf, prefix: str, timeout_s: float = 120) -> dict[str, str]:
    """Creates the stack and waits for it; its resources' physical ids by logical id."""
    stack = f"{prefix}-resources"
    cf.create_stack(StackName=stack, TemplateBody=dumps(template(prefix)))
    deadline = time.monotonic() + timeout_s
    while True:
        status = cf.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        if not status.endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            break
        time.sleep(1)
    failed = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
              for e in cf.describe_stack_events(StackName=stack)["StackEvents"] if "FAILED" in e["ResourceStatus"]]
    assert status == "CREATE_COMPLETE", (status, failed)
    return {r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cf.describe_stack_resources(StackName=stack)["StackResources"]}


def test_rehearsal_the_template_deployed_by_cloudformation_runs_the_pipeline_and_nothing_else_is_created(
        aws_endpoint, region, tmp_path_factory, bearer, monkeypatch):
    from chalice.test import Client

    from chalicelib.local import event_runner

    from app import app
    from chalicelib.auth import dev_issuer
    from chalicelib.local.event_runner import EventRunner
    from chalicelib.settings import get_settings
    from chalicelib.wiring import Container, set_container
    from tests.integration.test_countersign import make_verified_people, passport_versions, sign_a_batch

    c = _clients(aws_endpoint, region)
    prefix = f"vxcf-{uuid.uuid4().hex[:8]}"
    settings = dataclasses.replace(get_settings(), resource_prefix=prefix)
    assert _inventory(c, prefix) == {"table": set(), "queue": set(), "bucket": set(), "alias": set()}
    keys_before = _key_ids(c["kms"])

    # Chalice binds the SQS handlers to the session prefix's queue names when app.py is imported; on
    # AWS each function's event source mapping names the stack's queue: so does the local runner here.
    bound = event_runner.sqs_sources
    monkeypatch.setattr(event_runner, "sqs_sources", lambda app: [
        dataclasses.replace(s, queue_name=prefix + s.queue_name.removeprefix(get_settings().resource_prefix))
        for s in bound(app)])

    physical = _deploy(c["cloudformation"], prefix)
    stack_keys = {v for k, v in physical.items() if k.endswith("Key")}
    assert _inventory(c, prefix) == _expected(prefix)

    # The pipeline on the stack's resources: upload -> intake -> cleaning -> facility signing ->
    # countersigning -> the citizen's passport over HTTP.
    verified = make_verified_people((settings, None), tmp_path_factory, seed=23)
    people = sign_a_batch(settings, verified, limit=5)
    assert len(people) == 5
    set_container(Container(settings))
    try:
        runner = EventRunner(app, c["sqs"], region=region, wait_time_s=0)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not all(passport_versions(settings, p) for p in people):
            runner.drain(idle_rounds=1, max_seconds=20)
        assert all(passport_versions(settings, p) for p in people)
        with Client(app) as client:
            resp = client.http.get("/v1/passports/me", headers=bearer(dev_issuer.citizen(people[0])))
        assert resp.status_code == 200, resp.body
        assert json.loads(resp.body)["status"] == "VALID"
    finally:
        set_container(None)

    # Nothing the app needed was made outside the template: the same names, and every new KMS key
    # describing itself as this prefix's is one of the stack's.
    assert _inventory(c, prefix) == _expected(prefix)
    new_keys = _key_ids(c["kms"]) - keys_before
    ours = {k for k in new_keys if c["kms"].describe_key(KeyId=k)["KeyMetadata"].get("Description", "")
            .startswith(f"{prefix}:")}
    assert ours == stack_keys
