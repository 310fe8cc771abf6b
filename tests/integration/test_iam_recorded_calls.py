"""The IAM policies infra/spec.py grants, proven against what the code does: every AWS call a
function made during this session's integration and e2e tests (recorded by infra/aws_calls.py,
installed in tests/conftest.py; the demo's subprocesses append to test-artifacts/) is evaluated
against that function's policy as infra/cloudformation.policy renders it for the prefix the call
ran under. LocalStack does not enforce IAM: without this, a missing grant shows only on AWS.

tests/conftest.py orders this module after every other test, so it sees all of their calls; it
also writes test-artifacts/iam-unused-grants.txt (printed in the summary): grants no call used.
"""
from __future__ import annotations

import dataclasses
import functools
from collections import defaultdict
from pathlib import Path

import boto3
import pytest

from infra import aws_calls, spec
from infra.cloudformation import policy, template
from infra.iam import Ask, evaluate, wildcard_match

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DEMO_CALLS = ARTIFACTS / "iam-calls-demo.jsonl"


def _session_requests(session_started: float) -> list[aws_calls.Request]:
    recorder = aws_calls.install()
    found = set(recorder.requests)
    # The demo's subprocesses wrote theirs, if the demo ran in this session.
    if DEMO_CALLS.exists() and DEMO_CALLS.stat().st_mtime >= session_started:
        found.update(aws_calls.read([DEMO_CALLS]))
    return sorted(found, key=lambda r: (r.function, r.action, r.resource))


def _key_aliases(endpoint: str, region: str) -> dict[str, list[str]]:
    """Every alias and key id/ARN on the endpoint -> the aliases of its key (kms:ResourceAliases)."""
    kms = boto3.client("kms", endpoint_url=endpoint, region_name=region)
    by_key: dict[str, list[str]] = defaultdict(list)
    for page in kms.get_paginator("list_aliases").paginate():
        for a in page["Aliases"]:
            if "TargetKeyId" in a:
                by_key[a["TargetKeyId"]].append(a["AliasName"])
    out: dict[str, list[str]] = {}
    for key_id, aliases in by_key.items():
        out[key_id] = aliases
        for alias in aliases:
            out[alias] = aliases
    return out


def _aliases(key_id: str, known: dict[str, list[str]]) -> list[str]:
    if key_id.startswith("arn:"):
        resource = key_id.split(":", 5)[5]  # key/<id> or alias/<name>
        key_id = resource.split("/", 1)[1] if resource.startswith("key/") else resource
    return known.get(key_id, [key_id] if key_id.startswith("alias/") else [])


def _ask(r: aws_calls.Request, known: dict[str, list[str]]) -> Ask:
    context = {k: [v] for k, v in r.conditions}
    if r.action.startswith("kms:"):
        context["kms:ResourceAliases"] = _aliases(r.key_id, known)
    return Ask(r.action, r.resource, context)


# What S3 and SQS ask KMS with the caller's permissions when the bucket or queue is encrypted with
# a customer key (AWS: SSE-KMS objects, SSE-KMS queues): the calls the code never makes itself.
_IMPLIED_KMS = {"s3:PutObject": ("kms:GenerateDataKey",), "s3:GetObject": ("kms:Decrypt",),
                "sqs:SendMessage": ("kms:GenerateDataKey", "kms:Decrypt"), "sqs:ReceiveMessage": ("kms:Decrypt",)}


@functools.cache
def _encryption_keys(prefix: str) -> dict[str, str]:
    """Bucket or queue name -> alias of the KMS key the template encrypts it with."""
    res = template(prefix)["Resources"]
    alias_of = {lid: r["Properties"]["AliasName"] for r in res.values() if r["Type"] == "AWS::KMS::Alias"
                for lid in [r["Properties"]["TargetKeyId"]["Ref"]]}
    out = {}
    for r in res.values():
        props = r.get("Properties", {})
        if r["Type"] == "AWS::S3::Bucket":
            for rule in props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", []):
                key = rule["ServerSideEncryptionByDefault"].get("KMSMasterKeyID")
                if isinstance(key, dict) and "Ref" in key:
                    out[props["BucketName"]] = alias_of[key["Ref"]]
        if r["Type"] == "AWS::SQS::Queue" and isinstance(props.get("KmsMasterKeyId"), dict):
            out[props["QueueName"]] = alias_of[props["KmsMasterKeyId"]["Ref"]]
    return out


def _implied(r: aws_calls.Request) -> list[aws_calls.Request]:
    if r.action not in _IMPLIED_KMS:
        return []
    # arn:aws:s3:::<bucket>/<key> or arn:aws:sqs:<region>:<account>:<queue>
    s3 = r.action.startswith("s3:")
    name = r.resource.split(":::", 1)[1].split("/", 1)[0] if s3 else r.resource.rsplit(":", 1)[1]
    alias = _encryption_keys(r.prefix).get(name)
    return [dataclasses.replace(r, action=a, resource="*", key_id=alias, conditions=(),
                                operation=f"{r.operation} (SSE-KMS)") for a in _IMPLIED_KMS[r.action]] if alias else []


def test_every_recorded_aws_call_is_allowed_by_its_functions_policy(aws_endpoint, region):
    from tests.conftest import SESSION_STARTED

    requests = _session_requests(SESSION_STARTED)
    requests += sorted({i for r in requests for i in _implied(r)} - set(requests),
                       key=lambda r: (r.function, r.action, r.resource))
    functions = {f.name: f for f in spec.FUNCTIONS}
    if not requests:
        # The selected tests ran no function (the recorder's hook itself has a unit test).
        pytest.skip("no Lambda function made an AWS call in this session")
    known = _key_aliases(aws_endpoint, region)
    denied: list[str] = []
    used: dict[str, set[tuple[str, str]]] = defaultdict(set)  # function -> (Sid, action) used
    for r in requests:
        fn = functions.get(r.function)
        if fn is None:
            continue  # a test's own app (tests/integration/test_event_runner.py), not a deployed function
        decision = evaluate(policy(fn, r.prefix), _ask(r, known))
        if not decision.allowed:
            denied.append(f"{r.function}: {r.action} on {r.resource} ({r.operation})")
        for sid in decision.allowed_by:
            used[r.function].add((sid, r.action.lower()))

    unused = _unused_grants(functions.values(), used, requests)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "iam-unused-grants.txt").write_text("\n".join(unused) + "\n", encoding="utf-8")
    (ARTIFACTS / "iam-recorded-calls.txt").write_text(
        "".join(f"{r.function}\t{r.action}\t{r.resource}\t{r.operation}\n" for r in requests), encoding="utf-8")
    (ARTIFACTS / "iam-denied-calls.txt").write_text("".join(f"{d}\n" for d in denied), encoding="utf-8")
    assert not denied, ("the deployed policy would deny these calls (function: action on resource):\n  "
                        + "\n  ".join(denied))


def _unused_grants(functions, used: dict[str, set[tuple[str, str]]], requests) -> list[str]:
    """Each function's granted actions no recorded call was allowed by (per statement)."""
    seen = {r.function for r in requests}
    lines = []
    for fn in functions:
        if fn.name not in seen:
            lines.append(f"{fn.name}: no call recorded in this session")
            continue
        for st in policy(fn, "p")["Statement"]:
            if st["Sid"] == "Logs":
                continue  # the Lambda runtime writes the function's logs, not its code
            for action in st["Action"]:
                if not any(sid == st["Sid"] and wildcard_match(action, a, case=False) for sid, a in used[fn.name]):
                    lines.append(f"{fn.name}: {action} ({st['Sid']})")
    return lines
