"""Renders infra/spec.py as CloudFormation: the resources template (deployed on its own, or merged
into `chalice package` output) and one least-privilege IAM policy per Chalice function."""
from __future__ import annotations

import json
import re

from chalicelib import resource_names as rn
from infra import spec


def logical_id(*parts: str) -> str:
    return "".join(p[:1].upper() + p[1:] for part in parts for p in re.split(r"[-_]", part) if p)


_ROOT = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
_ACCOUNT = {"Ref": "AWS::AccountId"}

# Stateful resources outlive their stack, whether it is deleted or a change replaces them: the
# population's records and the signing keys are never deleted by a template edit.
_RETAIN = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}


def _key_policy() -> dict:
    return key_policy("", _ROOT, _ACCOUNT)


def key_policy(logical: str, root_arn: object, account: object) -> dict:
    """The key policy of one key (`root_arn`, `account`: strings for bootstrap, CloudFormation
    expressions for the template). The account administers every key through IAM; the data key
    also lets S3 encrypt the event notifications it sends to the intake queue (a queue encrypted
    with a customer key refuses S3's messages unless the key policy admits S3)."""
    statements: list[dict] = [{"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": root_arn},
                               "Action": "kms:*", "Resource": "*"}]
    if logical == "data":
        statements.append({"Sid": "S3NotifiesEncryptedQueues", "Effect": "Allow",
                           "Principal": {"Service": "s3.amazonaws.com"},
                           "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*",
                           "Condition": {"StringEquals": {"aws:SourceAccount": account}}})
    return {"Version": "2012-10-17", "Statement": statements}


def resources(prefix: str) -> dict:
    res: dict[str, dict] = {}
    data_key = {"Ref": logical_id(spec.KEYS[-1].logical, "key")}
    for k in spec.KEYS:
        kid = logical_id(k.logical, "key")
        props = {"Description": f"{prefix}: {k.purpose}", "KeySpec": k.spec, "KeyUsage": k.usage,
                 "KeyPolicy": key_policy(k.logical, _ROOT, _ACCOUNT), "EnableKeyRotation": k.usage == "ENCRYPT_DECRYPT"}
        if k.multi_region:
            props["MultiRegion"] = True
        res[kid] = {"Type": "AWS::KMS::Key", **_RETAIN, "Properties": props}
        res[logical_id(k.logical, "alias")] = {"Type": "AWS::KMS::Alias", "Properties": {
            "AliasName": rn.key_alias(prefix, k.logical), "TargetKeyId": {"Ref": kid}}}
    if spec.KEYS[-1].logical != "data":
        raise ValueError("the data key must be last in spec.KEYS")

    for t in spec.TABLES:
        schema = [{"AttributeName": t.hash_key, "KeyType": "HASH"}]
        if t.range_key:
            schema.append({"AttributeName": t.range_key, "KeyType": "RANGE"})
        props = {
            "TableName": rn.physical(prefix, t.logical),
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in t.key_attributes()],
            "KeySchema": schema,
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": data_key},
            "DeletionProtectionEnabled": True,
        }
        if t.indexes:
            props["GlobalSecondaryIndexes"] = [{
                "IndexName": ix.name,
                "KeySchema": [{"AttributeName": ix.hash_key, "KeyType": "HASH"}]
                + ([{"AttributeName": ix.range_key, "KeyType": "RANGE"}] if ix.range_key else []),
                "Projection": {"ProjectionType": "ALL"}} for ix in t.indexes]
        if t.ttl_attribute:
            props["TimeToLiveSpecification"] = {"AttributeName": t.ttl_attribute, "Enabled": True}
        res[logical_id(t.logical, "table")] = {"Type": "AWS::DynamoDB::Table", **_RETAIN,
                                                "Properties": props}

    for q in spec.QUEUES:
        qid, did = logical_id(q.logical, "queue"), logical_id(q.logical, "dead-letter-queue")
        # Queues and DLQs under the project's data key: reading a message needs kms:Decrypt on it,
        # which only the functions and operators hold (SQS-managed SSE would let any sqs reader in).
        res[did] = {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": rn.dlq(prefix, q.logical), "MessageRetentionPeriod": q.dlq_retention_s,
            "KmsMasterKeyId": data_key, "KmsDataKeyReusePeriodSeconds": spec.QUEUE_DATA_KEY_REUSE_S}}
        res[qid] = {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": rn.physical(prefix, q.logical),
            "VisibilityTimeout": q.visibility_timeout_s,
            "MessageRetentionPeriod": q.retention_s,
            "KmsMasterKeyId": data_key, "KmsDataKeyReusePeriodSeconds": spec.QUEUE_DATA_KEY_REUSE_S,
            "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [did, "Arn"]},
                              "maxReceiveCount": q.max_receive_count}}}

    for b in spec.BUCKETS:
        bid = logical_id(b.logical, "bucket")
        name = rn.bucket(prefix, b.logical)
        props = {
            "BucketName": name,
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                                               "BlockPublicPolicy": True, "RestrictPublicBuckets": True},
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [{
                "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": data_key},
                "BucketKeyEnabled": True}]},
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        }
        if b.object_lock_days:
            props["VersioningConfiguration"] = {"Status": "Enabled"}
            props["ObjectLockEnabled"] = True
            props["ObjectLockConfiguration"] = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {
                "Mode": "COMPLIANCE", "Days": b.object_lock_days}}}
        if b.expire_days:
            props["LifecycleConfiguration"] = {"Rules": [{"Id": "expire", "Status": "Enabled",
                                                          "ExpirationInDays": b.expire_days}]}
        depends = []
        if b.notifications:
            props["NotificationConfiguration"] = {"QueueConfigurations": [{
                "Event": "s3:ObjectCreated:*",
                "Queue": {"Fn::GetAtt": [logical_id(n.queue, "queue"), "Arn"]},
                "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": n.prefix}]}}}
                for n in b.notifications]}
            for n in b.notifications:
                pid = logical_id(n.queue, "queue-policy")
                depends.append(pid)
                res[pid] = {"Type": "AWS::SQS::QueuePolicy", "Properties": {
                    "Queues": [{"Ref": logical_id(n.queue, "queue")}],
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                        "Sid": "AllowS3Notifications", "Effect": "Allow",
                        "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sqs:SendMessage",
                        "Resource": {"Fn::GetAtt": [logical_id(n.queue, "queue"), "Arn"]},
                        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{name}"},
                                      "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}}]}}}
        res[bid] = {"Type": "AWS::S3::Bucket", **_RETAIN, "Properties": props}
        if depends:
            res[bid]["DependsOn"] = depends
    return res


def template(prefix: str) -> dict:
    # The multi-Region keys' ARNs: the replica stacks' parameters.
    outputs = {logical_id(k.logical, "key-arn"): {"Value": {"Fn::GetAtt": [logical_id(k.logical, "key"), "Arn"]}}
               for k in spec.KEYS if k.multi_region}
    return {"AWSTemplateFormatVersion": "2010-09-09",
            "Description": f"vaxpass resources ({prefix}); generated from infra/spec.py",
            "Resources": resources(prefix), "Outputs": outputs}


def replica_template(prefix: str) -> dict:
    """The stack for each further signing Region (VAXPASS_SIGNING_REGIONS): a replica of every
    multi-Region key, under the same alias as in the primary Region (aliases are per Region, and a
    DSC names its key by alias). Its parameters are the primary stack's `<Key>KeyArn` outputs."""
    params: dict[str, dict] = {}
    res: dict[str, dict] = {}
    for k in spec.KEYS:
        if not k.multi_region:
            continue
        param, rid = logical_id(k.logical, "key-arn"), logical_id(k.logical, "replica-key")
        params[param] = {"Type": "String", "Description": f"ARN of the primary {k.logical} key"}
        res[rid] = {"Type": "AWS::KMS::ReplicaKey", **_RETAIN, "Properties": {
            "PrimaryKeyArn": {"Ref": param}, "Description": f"{prefix}: {k.purpose}", "KeyPolicy": _key_policy()}}
        res[logical_id(k.logical, "alias")] = {"Type": "AWS::KMS::Alias", "Properties": {
            "AliasName": rn.key_alias(prefix, k.logical), "TargetKeyId": {"Ref": rid}}}
    return {"AWSTemplateFormatVersion": "2010-09-09",
            "Description": f"vaxpass signing-key replicas ({prefix}); generated from infra/spec.py",
            "Parameters": params, "Resources": res}


def _arns(grant: spec.Grant, prefix: str) -> tuple[list[str], dict | None]:
    if grant.kind == "table":
        base = f"arn:aws:dynamodb:*:*:table/{rn.physical(prefix, grant.logical)}"
        return [base, f"{base}/index/*"], None
    if grant.kind == "queue":
        return [f"arn:aws:sqs:*:*:{rn.physical(prefix, grant.logical)}"], None
    if grant.kind == "dlq":
        return [f"arn:aws:sqs:*:*:{rn.dlq(prefix, grant.logical)}"], None
    if grant.kind == "bucket":
        name = rn.bucket(prefix, grant.logical)
        return [f"arn:aws:s3:::{name}/{grant.prefix}"], None
    if grant.kind == "bucket-list":
        # ListBucket is granted on the bucket, not its objects; a prefix narrows it by condition.
        arn = f"arn:aws:s3:::{rn.bucket(prefix, grant.logical)}"
        return [arn], None if grant.prefix == "*" else {"StringLike": {"s3:prefix": grant.prefix}}
    if grant.kind == "key":
        # Key ids are not known before deploy; the alias pins the grant to one key.
        return ["*"], {"ForAnyValue:StringEquals": {"kms:ResourceAliases": rn.key_alias(prefix, grant.logical)}}
    raise ValueError(f"unknown grant kind {grant.kind}")


def policy(function: spec.Function, prefix: str) -> dict:
    statements: list[dict[str, object]] = [{
        "Sid": "Logs", "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": "arn:aws:logs:*:*:*"}]
    for i, g in enumerate(function.grants):
        resources_, condition = _arns(g, prefix)
        st: dict[str, object] = {"Sid": f"G{i}{logical_id(g.kind, g.logical)}", "Effect": "Allow",
                                 "Action": list(g.actions), "Resource": resources_}
        if condition:
            st["Condition"] = condition
        statements.append(st)
    return {"Version": "2012-10-17", "Statement": statements}


def merge_template(prefix: str, sqs_functions: dict[str, str]) -> dict:
    """Template to pass to `chalice package --merge-template`: our resources, plus on each SQS
    event source (SAM function logical id -> event name) ReportBatchItemFailures, which chalice
    leaves off, and a DependsOn so the event source mapping waits for its queue."""
    tpl = template(prefix)
    for fn_id, event_name in sqs_functions.items():
        tpl["Resources"][fn_id] = {
            "Properties": {"Events": {event_name: {"Properties": {
                "FunctionResponseTypes": ["ReportBatchItemFailures"]}}}},
            "DependsOn": [logical_id(q.logical, "queue") for q in spec.QUEUES],
        }
    return tpl


def dumps(doc: dict) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
