"""Creates every resource of infra/spec.py through the AWS APIs: on LocalStack for the local stack
and the integration tests (selected only by AWS_ENDPOINT_URL), or in a sandbox account.

Idempotent: an existing resource is left as it is (and brought to the spec where the API allows),
so running it twice is harmless. Production uses the CloudFormation template from the same spec.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Sequence

import boto3
from botocore.exceptions import ClientError

from chalicelib import resource_names as rn
from infra import spec
from infra.cloudformation import key_policy


@dataclass
class Created:
    tables: dict[str, str]
    queues: dict[str, str]  # logical -> queue URL
    dlqs: dict[str, str]
    buckets: dict[str, str]
    keys: dict[str, str]  # logical -> key id


def _client(service: str, region: str, endpoint_url: str | None):
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url)


def bootstrap(prefix: str, *, region: str, endpoint_url: str | None, replica_regions: Sequence[str] = ()) -> Created:
    """`replica_regions`: where the multi-Region keys get a replica (VAXPASS_SIGNING_REGIONS)."""
    kms = _client("kms", region, endpoint_url)
    keys = {k.logical: _ensure_key(kms, prefix, k) for k in spec.KEYS}
    for k in spec.KEYS:
        for replica_region in dict.fromkeys(replica_regions):
            if k.multi_region and replica_region != region:
                _ensure_replica(kms, _client("kms", replica_region, endpoint_url), prefix, k, keys[k.logical],
                                replica_region)
    data_key = keys["data"]
    account = _client("sts", region, endpoint_url).get_caller_identity()["Account"]
    kms.put_key_policy(KeyId=data_key, PolicyName="default", Policy=json.dumps(
        key_policy("data", f"arn:aws:iam::{account}:root", account)))

    ddb = _client("dynamodb", region, endpoint_url)
    tables = {t.logical: _ensure_table(ddb, prefix, t, data_key) for t in spec.TABLES}

    sqs = _client("sqs", region, endpoint_url)
    queues, dlqs = {}, {}
    for q in spec.QUEUES:
        dlqs[q.logical], queues[q.logical] = _ensure_queue(sqs, prefix, q, data_key)

    s3 = _client("s3", region, endpoint_url)
    buckets = {b.logical: _ensure_bucket(s3, sqs, prefix, b, data_key, region) for b in spec.BUCKETS}
    return Created(tables, queues, dlqs, buckets, keys)


def _ensure_key(kms, prefix: str, key: spec.Key) -> str:
    alias = rn.key_alias(prefix, key.logical)
    try:
        return kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
    except ClientError as e:
        if e.response["Error"]["Code"] != "NotFoundException":
            raise
    meta = kms.create_key(KeySpec=key.spec, KeyUsage=key.usage, Description=f"{prefix}: {key.purpose}",
                          MultiRegion=key.multi_region,
                          Tags=[{"TagKey": "vaxpass:key", "TagValue": key.logical}])["KeyMetadata"]
    if key.usage == "ENCRYPT_DECRYPT":
        kms.enable_key_rotation(KeyId=meta["KeyId"])
    kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    return meta["KeyId"]


def _ensure_replica(kms, replica_kms, prefix: str, key: spec.Key, key_id: str, replica_region: str) -> None:
    """The key's replica in `replica_region`, under the same alias (aliases are per Region), with
    the primary's public key: every Region must sign under the one DSC certificate."""
    alias = rn.key_alias(prefix, key.logical)
    if not kms.describe_key(KeyId=key_id)["KeyMetadata"].get("MultiRegion"):
        raise RuntimeError(f"{alias} is a single-Region key and cannot be replicated: create a new "
                           "multi-Region key under the alias, and a DSC for it (keys provision-kms)")
    try:
        replica_kms.describe_key(KeyId=key_id)
    except ClientError as e:
        if e.response["Error"]["Code"] != "NotFoundException":
            raise
        kms.replicate_key(KeyId=key_id, ReplicaRegion=replica_region, Description=f"{prefix}: {key.purpose}",
                          Tags=[{"TagKey": "vaxpass:key", "TagValue": key.logical}])
    for _ in range(300):  # a replica is Creating for a while on AWS
        if replica_kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled":
            break
        time.sleep(1)
    try:
        target = replica_kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
    except ClientError as e:
        if e.response["Error"]["Code"] != "NotFoundException":
            raise
        replica_kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    else:
        if target != key_id:  # brought back to the spec: the alias names the replica
            replica_kms.update_alias(AliasName=alias, TargetKeyId=key_id)
    if kms.get_public_key(KeyId=key_id)["PublicKey"] != replica_kms.get_public_key(KeyId=alias)["PublicKey"]:
        raise RuntimeError(f"the replica of {alias} in {replica_region} has another public key than the primary")


def _ensure_table(ddb, prefix: str, table: spec.Table, data_key: str) -> str:
    name = rn.physical(prefix, table.logical)
    schema = [{"AttributeName": table.hash_key, "KeyType": "HASH"}]
    if table.range_key:
        schema.append({"AttributeName": table.range_key, "KeyType": "RANGE"})
    kwargs = dict(
        TableName=name,
        KeySchema=schema,
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in table.key_attributes()],
        BillingMode="PAY_PER_REQUEST",
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": data_key},
    )
    if table.indexes:
        kwargs["GlobalSecondaryIndexes"] = [
            {"IndexName": ix.name,
             "KeySchema": [{"AttributeName": ix.hash_key, "KeyType": "HASH"}]
             + ([{"AttributeName": ix.range_key, "KeyType": "RANGE"}] if ix.range_key else []),
             "Projection": {"ProjectionType": "ALL"}}
            for ix in table.indexes]
    try:
        ddb.create_table(**kwargs)
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceInUseException":
            raise
        _add_missing_indexes(ddb, name, kwargs)
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    ddb.update_continuous_backups(TableName=name,
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    if table.ttl_attribute:
        current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": table.ttl_attribute})
    return name


def _add_missing_indexes(ddb, name: str, kwargs: dict) -> None:
    """A table created before the spec gained an index (e.g. counters gsi1) gets it added; DynamoDB
    builds one new index per UpdateTable call, so each is awaited before the next."""
    have = {ix["IndexName"] for ix in ddb.describe_table(TableName=name)["Table"].get("GlobalSecondaryIndexes", [])}
    for ix in kwargs.get("GlobalSecondaryIndexes", []):
        if ix["IndexName"] in have:
            continue
        ddb.update_table(TableName=name, AttributeDefinitions=kwargs["AttributeDefinitions"],
                         GlobalSecondaryIndexUpdates=[{"Create": ix}])
        for _ in range(300):
            status = {i["IndexName"]: i.get("IndexStatus") for i in
                      ddb.describe_table(TableName=name)["Table"].get("GlobalSecondaryIndexes", [])}
            if status.get(ix["IndexName"]) == "ACTIVE":
                break
            time.sleep(0.2)


def _ensure_queue(sqs, prefix: str, queue: spec.Queue, data_key: str) -> tuple[str, str]:
    # The data key, as in the template (the data key's policy admits S3 for the intake queue).
    # SQS-managed SSE off explicitly: a queue made before had it on, and the two exclude each other.
    encryption = {"KmsMasterKeyId": data_key, "KmsDataKeyReusePeriodSeconds": str(spec.QUEUE_DATA_KEY_REUSE_S),
                  "SqsManagedSseEnabled": "false"}
    dlq_url = _create_queue(sqs, rn.dlq(prefix, queue.logical), {
        "MessageRetentionPeriod": str(queue.dlq_retention_s), **encryption})
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attrs = {
        "VisibilityTimeout": str(queue.visibility_timeout_s),
        "MessageRetentionPeriod": str(queue.retention_s),
        **encryption,
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn,
                                     "maxReceiveCount": str(queue.max_receive_count)}),
    }
    return dlq_url, _create_queue(sqs, rn.physical(prefix, queue.logical), attrs)


def _create_queue(sqs, name: str, attrs: dict) -> str:
    """The queue's URL, created or brought to `attrs` (a queue made before it was encrypted with
    the data key gets the key here)."""
    try:
        return sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes=attrs)
    return url


def _ensure_bucket(s3, sqs, prefix: str, bucket: spec.Bucket, data_key: str, region: str) -> str:
    name = rn.bucket(prefix, bucket.logical)
    create: dict = {"Bucket": name}
    if region != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": region}
    if bucket.object_lock_days:
        create["ObjectLockEnabledForBucket"] = True
    try:
        s3.create_bucket(**create)
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    if bucket.object_lock_days:
        # Object Lock needs versioning (creating the bucket with the lock turns it on; an older
        # bucket gets it here first, which S3 requires before the lock can be enabled).
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=_object_lock(bucket))
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True})
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": data_key},
        "BucketKeyEnabled": True}]})
    if bucket.expire_days:
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [{
            "ID": "expire", "Status": "Enabled", "Filter": {"Prefix": ""},
            "Expiration": {"Days": bucket.expire_days}}]})
    if bucket.notifications:
        configs = []
        for n in bucket.notifications:
            qurl = sqs.get_queue_url(QueueName=rn.physical(prefix, n.queue))["QueueUrl"]
            qarn = sqs.get_queue_attributes(QueueUrl=qurl, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sqs.set_queue_attributes(QueueUrl=qurl, Attributes={"Policy": json.dumps(
                _s3_to_sqs_policy(qarn, name))})
            configs.append({"QueueArn": qarn, "Events": ["s3:ObjectCreated:*"],
                            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": n.prefix}]}}})
        s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={
            "QueueConfigurations": configs})
    return name


def _object_lock(bucket: spec.Bucket) -> dict:
    return {"ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": bucket.object_lock_days}}}


def _s3_to_sqs_policy(queue_arn: str, bucket_name: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "AllowS3Notifications", "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket_name}"}}}]}
