"""The infra spec creates real resources on LocalStack, and /v1/health sees them."""
from __future__ import annotations

import json

import boto3
import pytest

from chalicelib import resource_names as rn
from infra import spec

pytestmark = pytest.mark.integration


def test_bootstrap_creates_every_resource_with_its_settings(stack, aws_endpoint, region):
    settings, created = stack
    ddb = boto3.client("dynamodb", endpoint_url=aws_endpoint, region_name=region)
    for t in spec.TABLES:
        desc = ddb.describe_table(TableName=settings.table(t.logical))["Table"]
        assert {ix["IndexName"] for ix in desc.get("GlobalSecondaryIndexes", [])} == {ix.name for ix in t.indexes}
        assert desc["SSEDescription"]["Status"] in ("ENABLED", "ENABLING")
        pitr = ddb.describe_continuous_backups(TableName=settings.table(t.logical))
        assert pitr["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
            "PointInTimeRecoveryStatus"] == "ENABLED"

    sqs = boto3.client("sqs", endpoint_url=aws_endpoint, region_name=region)
    for q in spec.QUEUES:
        attrs = sqs.get_queue_attributes(QueueUrl=created.queues[q.logical], AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attrs["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(rn.dlq(settings.resource_prefix, q.logical))
        assert int(redrive["maxReceiveCount"]) == q.max_receive_count

    kms = boto3.client("kms", endpoint_url=aws_endpoint, region_name=region)
    specs = {k.logical: kms.describe_key(KeyId=settings.key_alias(k.logical))["KeyMetadata"]["KeySpec"]
             for k in spec.KEYS}
    assert specs == {"dsc-es256": "ECC_NIST_P256", "dsc-ps256": "RSA_2048", "audit-anchor": "ECC_NIST_P256",
                     "trust-anchor": "ECC_NIST_P256", "pseudonym": "HMAC_256", "data": "SYMMETRIC_DEFAULT"}


def test_the_audit_bucket_keeps_every_checkpoint_version(stack, aws_endpoint, region):
    """Object Lock (COMPLIANCE) on the audit bucket: a checkpoint version cannot be deleted, and the
    app's conditional write cannot replace one."""
    from botocore.exceptions import ClientError

    settings, _ = stack
    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name=region)
    bucket = settings.bucket("audit")
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert lock["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    key = "checkpoints/infra-test.json"
    version = s3.put_object(Bucket=bucket, Key=key, Body=b"{}", IfNoneMatch="*")["VersionId"]
    with pytest.raises(ClientError) as again:
        s3.put_object(Bucket=bucket, Key=key, Body=b"{}", IfNoneMatch="*")
    assert again.value.response["Error"]["Code"] == "PreconditionFailed"
    with pytest.raises(ClientError) as deleted:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert deleted.value.response["Error"]["Code"] == "AccessDenied"


def test_upload_to_incoming_prefix_notifies_the_intake_queue(stack, aws_endpoint, region):
    settings, created = stack
    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name=region)
    sqs = boto3.client("sqs", endpoint_url=aws_endpoint, region_name=region)
    s3.put_object(Bucket=settings.bucket("intake"), Key="elsewhere/x.csv", Body=b"ignored")
    s3.put_object(Bucket=settings.bucket("intake"), Key="incoming/01/notify-test.csv", Body=b"a,b\n")
    keys = []
    for _ in range(10):
        for m in sqs.receive_message(QueueUrl=created.queues["intake"], MaxNumberOfMessages=10,
                                     WaitTimeSeconds=1).get("Messages", []):
            body = json.loads(m["Body"])
            keys += [r["s3"]["object"]["key"] for r in body.get("Records", [])]
            sqs.delete_message(QueueUrl=created.queues["intake"], ReceiptHandle=m["ReceiptHandle"])
        if keys:
            break
    assert keys == ["incoming/01/notify-test.csv"]


def test_bootstrap_is_idempotent(stack, aws_endpoint, region):
    from infra.bootstrap import bootstrap

    settings, created = stack
    again = bootstrap(settings.resource_prefix, region=region, endpoint_url=aws_endpoint)
    assert again.keys == created.keys and again.queues == created.queues


def test_health_reports_every_dependency_reachable(app_client):
    resp = app_client.http.get("/v1/health")
    assert resp.status_code == 200
    body = json.loads(resp.body)
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"dynamodb", "sqs", "s3", "kms"}


def test_health_is_503_and_names_what_is_missing(aws_endpoint, region):
    from chalice.test import Client

    from app import app
    from chalicelib.settings import Settings
    from chalicelib.wiring import Container, set_container

    set_container(Container(Settings(stage="test", region=region, endpoint_url=aws_endpoint,
                                     resource_prefix="vxt-does-not-exist")))
    try:
        with Client(app) as client:
            resp = client.http.get("/v1/health")
    finally:
        set_container(None)
    assert resp.status_code == 503
    body = json.loads(resp.body)
    assert body["status"] == "degraded"
    assert body["checks"]["dynamodb"]["status"] == "unreachable"
