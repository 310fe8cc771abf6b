"""The generated CloudFormation keeps its DLQs, encryption, PITR and least-privilege policies."""
from __future__ import annotations

from chalicelib import resource_names as rn
from infra import spec
from infra.cloudformation import logical_id, policy, template


def by_type(tpl, type_):
    return {k: v for k, v in tpl["Resources"].items() if v["Type"] == type_}


def test_every_logical_resource_name_is_defined_in_the_spec():
    assert {t.logical for t in spec.TABLES} == set(rn.TABLES)
    assert {q.logical for q in spec.QUEUES} == set(rn.QUEUES)
    assert {b.logical for b in spec.BUCKETS} == set(rn.BUCKETS)
    assert {k.logical for k in spec.KEYS} == set(rn.KEYS)


def test_tables_have_pitr_kms_encryption_and_their_indexes():
    tables = by_type(template("vaxpass-dev"), "AWS::DynamoDB::Table")
    assert len(tables) == len(spec.TABLES)
    for res in tables.values():
        p = res["Properties"]
        assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert p["SSESpecification"]["SSEType"] == "KMS"
        assert p["SSESpecification"]["KMSMasterKeyId"] == {"Ref": "DataKey"}
    indexes = tables["RecordsTable"]["Properties"]["GlobalSecondaryIndexes"]
    assert [ix["IndexName"] for ix in indexes] == ["gsi1", "gsi2"]


def test_every_queue_has_a_dead_letter_queue_and_redrive_policy():
    tpl = template("vaxpass-dev")
    for q in spec.QUEUES:
        props = tpl["Resources"][logical_id(q.logical, "queue")]["Properties"]
        assert props["RedrivePolicy"]["deadLetterTargetArn"] == {
            "Fn::GetAtt": [logical_id(q.logical, "dead-letter-queue"), "Arn"]}
        assert props["RedrivePolicy"]["maxReceiveCount"] >= 2
        assert tpl["Resources"][logical_id(q.logical, "dead-letter-queue")]["Type"] == "AWS::SQS::Queue"


def test_buckets_are_private_encrypted_and_intake_notifies_its_queue():
    tpl = template("vaxpass-dev")
    for b in by_type(tpl, "AWS::S3::Bucket").values():
        p = b["Properties"]
        assert all(p["PublicAccessBlockConfiguration"].values())
        assert p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    qc = tpl["Resources"]["IntakeBucket"]["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert qc[0]["Queue"] == {"Fn::GetAtt": ["IntakeQueue", "Arn"]}
    assert qc[0]["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "incoming/"}]


def test_signing_keys_have_the_right_specs():
    keys = by_type(template("vaxpass-dev"), "AWS::KMS::Key")
    assert {k: v["Properties"]["KeySpec"] for k, v in keys.items()} == {
        "DscEs256Key": "ECC_NIST_P256", "DscPs256Key": "RSA_2048", "AuditAnchorKey": "ECC_NIST_P256",
        "TrustAnchorKey": "ECC_NIST_P256", "PseudonymKey": "HMAC_256", "DataKey": "SYMMETRIC_DEFAULT"}
    assert keys["AuditAnchorKey"]["Properties"]["KeyUsage"] == "SIGN_VERIFY"


def test_the_audit_bucket_is_write_once():
    """Checkpoints anchor the audit chain only if nobody can rewrite them: versioning and Object
    Lock in COMPLIANCE mode, and no lifecycle rule that would expire them."""
    props = template("vaxpass-dev")["Resources"]["AuditBucket"]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"} and props["ObjectLockEnabled"] is True
    assert props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    assert props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Days"] >= 365
    assert "LifecycleConfiguration" not in props


def test_policies_are_least_privilege():
    fns = {f.name: policy(f, "vaxpass-dev") for f in spec.FUNCTIONS}
    flat = {name: [(a, r) for st in doc["Statement"] for a in st["Action"]
                   for r in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])]
            for name, doc in fns.items()}
    # Only the countersign worker may sign with the DSC keys, and only the API (which appends to the
    # audit log) with the audit anchor key; nobody gets wildcard actions.
    def signers(key):
        return {n for n, doc in fns.items() for st in doc["Statement"]
                if "kms:Sign" in st["Action"] and rn.key_alias("vaxpass-dev", key) in str(st.get("Condition"))}
    assert signers("dsc-es256") == signers("dsc-ps256") == {"handle_countersign"}
    assert signers("audit-anchor") == {"api_handler"}
    # Checkpoints are created by the API, read only by the countersign worker (it checks an
    # attestation is anchored before issuing on it), never deleted by a function.
    audit_bucket = f"arn:aws:s3:::{rn.bucket('vaxpass-dev', 'audit')}/"
    audit = {(n, a, r) for n, pairs in flat.items() for a, r in pairs if r.startswith(audit_bucket)}
    assert audit == {("api_handler", "s3:PutObject", audit_bucket + "checkpoints/*"),
                     ("handle_countersign", "s3:GetObject", audit_bucket + "checkpoints/*"),
                     ("handle_countersign", "s3:PutObject", audit_bucket + "security-events/*")}
    # ...and listed (names only) by the countersign worker alone: a missing checkpoint is a 404 to it.
    assert {(n, a) for n, pairs in flat.items() for a, r in pairs if r == audit_bucket.rstrip("/")} == {
        ("handle_countersign", "s3:ListBucket")}
    assert not any(a.endswith("*") for pairs in flat.values() for a, _ in pairs)
    # Intake reads the facility registry (records only of registered facilities), never writes it.
    intake_facilities = {a for a, r in flat["handle_intake"] if r.endswith("table/vaxpass-dev-facilities")}
    assert intake_facilities == set(spec._RO)
    # KMS grants with a "*" resource are pinned to one alias by condition.
    for doc in fns.values():
        for st in doc["Statement"]:
            if any(a.startswith("kms:") for a in st["Action"]):
                assert "kms:ResourceAliases" in str(st["Condition"])


def test_intake_may_dead_letter_its_own_messages_and_knows_the_redrive_count():
    from chalicelib.settings import Settings

    doc = policy(next(f for f in spec.FUNCTIONS if f.name == "handle_intake"), "vaxpass-dev")
    sends = {r for st in doc["Statement"] if "sqs:SendMessage" in st["Action"] for r in st["Resource"]}
    assert "arn:aws:sqs:*:*:vaxpass-dev-intake-dlq" in sends
    # The handler marks a batch FAILED on the last receive the queue allows: the two must agree.
    assert Settings().intake_max_receive_count == spec.queue("intake").max_receive_count


def test_function_timeouts_are_the_specs_in_every_stage_and_queues_wait_six_times_as_long():
    """Chalice deploys the timeouts of .chalice/config.json; infra/spec.py says why each is what
    it is: the two must agree, in every stage."""
    from chalicelib.local.event_runner import configured_timeouts_ms

    for stage in ("local", "dev", "prod"):
        assert configured_timeouts_ms([f.name for f in spec.FUNCTIONS], stage) == {
            f.name: 1000 * f.timeout_s for f in spec.FUNCTIONS}, stage
    for f in spec.FUNCTIONS:
        if f.queue:
            assert spec.queue(f.queue).visibility_timeout_s >= 6 * f.timeout_s, f.name
    assert {f.queue for f in spec.FUNCTIONS if f.queue} == {q.logical for q in spec.QUEUES}
    assert next(f for f in spec.FUNCTIONS if f.name == "handle_intake").timeout_s <= 120
