"""infra/iam.py (the policy evaluator the recorded-calls test trusts) and infra/aws_calls.py (how
a call becomes IAM requests). If either said "allowed" too easily, the recorded-calls test
could not fail."""
from __future__ import annotations

import pytest

from chalicelib import resource_names as rn
from infra import aws_calls, spec
from infra.cloudformation import policy
from infra.iam import Ask, evaluate

P = "vaxpass-dev"


def _fn(name: str) -> spec.Function:
    return next(f for f in spec.FUNCTIONS if f.name == name)


def _doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_actions_match_case_insensitively_resources_case_sensitively():
    doc = _doc({"Effect": "Allow", "Action": "dynamodb:Get*", "Resource": "arn:aws:dynamodb:*:*:table/T"})
    assert evaluate(doc, Ask("DynamoDB:GetItem", "arn:aws:dynamodb:r:1:table/T")).allowed
    assert not evaluate(doc, Ask("dynamodb:GetItem", "arn:aws:dynamodb:r:1:table/t")).allowed
    assert not evaluate(doc, Ask("dynamodb:PutItem", "arn:aws:dynamodb:r:1:table/T")).allowed


def test_attack_explicit_deny_beats_any_allow():
    doc = _doc({"Effect": "Allow", "Action": "*", "Resource": "*"},
               {"Sid": "NoSign", "Effect": "Deny", "Action": "kms:Sign", "Resource": "*"})
    decision = evaluate(doc, Ask("kms:Sign", "arn:aws:kms:r:1:key/k"))
    assert not decision.allowed and decision.denied_by == ("NoSign",)


def test_not_action_and_not_resource():
    doc = _doc({"Effect": "Allow", "NotAction": "s3:Delete*", "NotResource": "arn:aws:s3:::secret/*"})
    assert evaluate(doc, Ask("s3:GetObject", "arn:aws:s3:::b/k")).allowed
    assert not evaluate(doc, Ask("s3:DeleteObject", "arn:aws:s3:::b/k")).allowed
    assert not evaluate(doc, Ask("s3:GetObject", "arn:aws:s3:::secret/k")).allowed


def test_attack_a_missing_condition_key_never_satisfies_a_condition():
    doc = _doc({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
                "Condition": {"StringLike": {"s3:prefix": "reports/*"}}})
    assert evaluate(doc, Ask("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": ["reports/b-1/"]})).allowed
    assert not evaluate(doc, Ask("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": ["incoming/"]})).allowed
    assert not evaluate(doc, Ask("s3:ListBucket", "arn:aws:s3:::b")).allowed


def test_an_unknown_condition_operator_is_an_error_not_a_match():
    doc = _doc({"Effect": "Allow", "Action": "*", "Resource": "*",
                "Condition": {"NumericLessThan": {"aws:x": "3"}}})
    with pytest.raises(ValueError, match="NumericLessThan"):
        evaluate(doc, Ask("s3:GetObject", "arn:aws:s3:::b/k", {"aws:x": ["1"]}))


def test_attack_kms_sign_with_another_keys_alias_is_denied():
    """The KMS grants are `Resource: *` pinned by kms:ResourceAliases: the pin must hold."""
    doc = policy(_fn("handle_countersign"), P)
    sign = lambda *aliases: evaluate(doc, Ask("kms:Sign", "arn:aws:kms:r:1:key/k",  # noqa: E731
                                              {"kms:ResourceAliases": list(aliases)}))
    assert sign(rn.key_alias(P, "dsc-es256")).allowed
    assert not sign(rn.key_alias(P, "audit-anchor")).allowed
    assert not sign(rn.key_alias("vaxpass-prod", "dsc-es256")).allowed
    assert not sign().allowed


def test_attack_listing_outside_the_granted_prefix_is_denied():
    doc = policy(_fn("handle_intake"), P)
    bucket = f"arn:aws:s3:::{rn.bucket(P, 'reports')}"
    assert evaluate(doc, Ask("s3:ListBucket", bucket, {"s3:prefix": ["reports/b-1/parts/"]})).allowed
    assert not evaluate(doc, Ask("s3:ListBucket", bucket, {"s3:prefix": ["qr/"]})).allowed
    assert not evaluate(doc, Ask("s3:ListBucket", bucket)).allowed


def test_a_transaction_is_authorised_item_by_item():
    reqs = aws_calls.requests_of("dynamodb", "TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": "p-records", "Item": {}}},
        {"Update": {"TableName": "p-counters", "Key": {}}},
        {"ConditionCheck": {"TableName": "p-batches", "Key": {}}}]}, region="r", account="1")
    assert {(a, res) for a, res, _ in reqs} == {
        ("dynamodb:PutItem", "arn:aws:dynamodb:r:1:table/p-records"),
        ("dynamodb:UpdateItem", "arn:aws:dynamodb:r:1:table/p-counters"),
        ("dynamodb:ConditionCheckItem", "arn:aws:dynamodb:r:1:table/p-batches")}


def test_calls_become_the_iam_actions_and_arns_aws_checks():
    def one(service, op, params):
        return [(a, res) for a, res, _ in aws_calls.requests_of(service, op, params, region="r", account="1")]

    assert one("dynamodb", "Query", {"TableName": "t", "IndexName": "gsi1"}) == [
        ("dynamodb:Query", "arn:aws:dynamodb:r:1:table/t/index/gsi1")]
    assert one("dynamodb", "BatchGetItem", {"RequestItems": {"a": {}, "b": {}}}) == [
        ("dynamodb:BatchGetItem", "arn:aws:dynamodb:r:1:table/a"),
        ("dynamodb:BatchGetItem", "arn:aws:dynamodb:r:1:table/b")]
    assert one("s3", "HeadObject", {"Bucket": "b", "Key": "k/1"}) == [("s3:GetObject", "arn:aws:s3:::b/k/1")]
    assert one("s3", "HeadBucket", {"Bucket": "b"}) == [("s3:ListBucket", "arn:aws:s3:::b")]
    assert one("s3", "CopyObject", {"Bucket": "b", "Key": "new", "CopySource": {"Bucket": "a", "Key": "old"}}) == [
        ("s3:PutObject", "arn:aws:s3:::b/new"), ("s3:GetObject", "arn:aws:s3:::a/old")]
    assert one("sqs", "DeleteMessageBatch", {"QueueUrl": "http://h:4566/queue/r/000000000000/q-dlq"}) == [
        ("sqs:DeleteMessage", "arn:aws:sqs:r:000000000000:q-dlq")]
    assert one("sqs", "GetQueueUrl", {"QueueName": "q"}) == [("sqs:GetQueueUrl", "arn:aws:sqs:r:1:q")]
    assert one("kms", "Sign", {"KeyId": "alias/p-dsc"}) == [("kms:Sign", "arn:aws:kms:r:1:alias/p-dsc")]
    assert one("sts", "GetCallerIdentity", {}) == []


def test_the_hook_records_a_functions_calls_and_only_a_functions():
    """Through a real botocore client (stubbed responses: no socket): with the function context
    set the call is recorded as that function's; without it (fixtures, operators) it is not."""
    import boto3
    from botocore.stub import Stubber

    from chalicelib.local.event_runner import current_function

    recorder = aws_calls.install()
    sqs = boto3.session.Session(region_name="ap-southeast-1").client(
        "sqs", endpoint_url="http://127.0.0.1:9", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(sqs) as stub:
        stub.add_response("get_queue_url", {"QueueUrl": "u"}, {"QueueName": "unit-hook-not-recorded"})
        stub.add_response("get_queue_url", {"QueueUrl": "u"}, {"QueueName": "unit-hook-recorded"})
        sqs.get_queue_url(QueueName="unit-hook-not-recorded")
        token = current_function.set("handle_cleaning")
        try:
            sqs.get_queue_url(QueueName="unit-hook-recorded")
        finally:
            current_function.reset(token)
    mine = {r for r in recorder.requests if "unit-hook" in r.resource}
    # The recorder is the session's: the call made up for this test must not be judged against
    # handle_cleaning's real policy by the recorded-calls test at the end of the run.
    recorder.requests.difference_update(mine)
    assert {(r.function, r.action, r.resource.rsplit(":", 1)[-1]) for r in mine} == {
        ("handle_cleaning", "sqs:GetQueueUrl", "unit-hook-recorded")}
