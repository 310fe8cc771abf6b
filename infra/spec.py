"""The one definition of every AWS resource vaxpass needs.

Both consumers read this spec and nothing else:
- infra/cloudformation.py renders it as a CloudFormation template (deployed to AWS, and merged into
  `chalice package` output), and as per-function IAM policies for Chalice;
- infra/bootstrap.py creates the same resources through the AWS APIs (LocalStack or a sandbox
  account), which is how the local stack and the integration tests get them.
Names come from chalicelib.resource_names so the app finds at run time what this creates.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib import resource_names as rn


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: str
    range_key: str | None = None


@dataclass(frozen=True)
class Table:
    logical: str
    hash_key: str
    range_key: str | None = None
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None
    purpose: str = ""

    def key_attributes(self) -> list[str]:
        names = [self.hash_key] + ([self.range_key] if self.range_key else [])
        for ix in self.indexes:
            names += [ix.hash_key] + ([ix.range_key] if ix.range_key else [])
        return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Queue:
    logical: str
    visibility_timeout_s: int
    max_receive_count: int
    retention_s: int = 4 * 24 * 3600
    dlq_retention_s: int = 14 * 24 * 3600
    purpose: str = ""


@dataclass(frozen=True)
class Notification:
    prefix: str
    queue: str  # logical queue name


@dataclass(frozen=True)
class Bucket:
    logical: str
    notifications: tuple[Notification, ...] = ()
    expire_days: int | None = None
    # Write once: versioning plus S3 Object Lock with this default retention (COMPLIANCE mode: no
    # principal, root included, can delete or overwrite an object version before it ends).
    object_lock_days: int | None = None
    purpose: str = ""


@dataclass(frozen=True)
class Key:
    logical: str
    spec: str  # KMS KeySpec
    usage: str  # KMS KeyUsage
    purpose: str = ""
    # A KMS multi-Region key, replicated to each VAXPASS_SIGNING_REGIONS Region with the same alias
    # (set at creation: an existing single-Region key cannot become one).
    multi_region: bool = False


@dataclass(frozen=True)
class Grant:
    """What one function may do with one resource (least privilege per function)."""

    kind: str  # table | queue | dlq | bucket | key
    logical: str
    actions: tuple[str, ...]
    prefix: str = "*"  # bucket object prefix


@dataclass(frozen=True)
class Function:
    """A Chalice Lambda function (its handler name), its timeout and the grants it needs.
    Chalice reads the timeout from .chalice/config.json; a test keeps the two equal."""

    name: str
    grants: tuple[Grant, ...] = field(default_factory=tuple)
    timeout_s: int = 30
    queue: str | None = None  # the queue it consumes (its visibility timeout is >= 6x timeout_s)


# Generic overloaded key names: each table's items define what pk/sk/gsi*pk mean, so access
# patterns added later do not need a table rebuild.
def _gsi(n: int) -> Index:
    return Index(f"gsi{n}", f"gsi{n}pk", f"gsi{n}sk")


TABLES: tuple[Table, ...] = (
    Table("records", "pk", "sk", (_gsi(1), _gsi(2)),
          purpose="vaccination records; gsi1 = by citizen, gsi2 = by facility and cleaning/signing state"),
    Table("batches", "pk", "sk", (_gsi(1),), ttl_attribute="ttl",
          purpose="province upload batches, API idempotency keys, intake progress"),
    Table("registry", "pk", "sk", (_gsi(1),),
          purpose="population registry copy; gsi1 = blocking keys for candidate search"),
    Table("facilities", "pk", "sk", (_gsi(1),),
          purpose="facilities, their signing certificates, province focal agencies; gsi1 = by province"),
    Table("signing", "pk", "sk", (_gsi(1),),
          purpose="signing batches (manifests) and the hash-chained attestation log"),
    Table("passports", "pk", "sk", (_gsi(1), _gsi(2)),
          purpose="issued passports per person and version; gsi1 = by UVCI, gsi2 = revocations"),
    Table("complaints", "pk", "sk", (_gsi(1), _gsi(2)),
          purpose="citizen complaints; gsi1 = by facility and due date, gsi2 = by citizen"),
    Table("counters", "pk", "sk", (_gsi(1),),
          purpose="incremental progress counters per province and facility; gsi1 = facilities of a province"),
    Table("idempotency", "id", ttl_attribute="expiration",
          purpose="Powertools idempotency records for handlers"),
    Table("access", "pk", "sk", (_gsi(1),), ttl_attribute="ttl",
          purpose="access log of cleaning-result reads (gsi1 = by reader) and per-caller submission "
                  "rate windows; both expire by ttl"),
)

# Lambda's guidance for SQS event sources: the visibility timeout at least 6x the function timeout
# (a test asserts it on the generated template). Short timeouts keep a crashed invocation's
# message from waiting long before it is delivered again.
QUEUES: tuple[Queue, ...] = (
    Queue("intake", visibility_timeout_s=720, max_receive_count=3,
          purpose="S3 ObjectCreated events for incoming/ batch files"),
    Queue("cleaning", visibility_timeout_s=360, max_receive_count=5,
          purpose="chunks of accepted records to verify against the registry"),
    Queue("countersign", visibility_timeout_s=360, max_receive_count=5,
          purpose="facility-attested people to countersign with the KMS DSC key"),
)

# The audit anchor: where a DynamoDB writer cannot rewrite history. Ten years, like the records.
AUDIT_RETENTION_DAYS = 3650
AUDIT_CHECKPOINT_PREFIX = "checkpoints/"
SECURITY_EVENT_PREFIX = "security-events/"

BUCKETS: tuple[Bucket, ...] = (
    Bucket("intake", (Notification("incoming/", "intake"),), expire_days=90,
           purpose="province batch uploads under incoming/<province_code>/"),
    Bucket("reports", expire_days=365,
           purpose="rejected-rows reports, exports, cached QR images"),
    Bucket("audit", object_lock_days=AUDIT_RETENTION_DAYS,
           purpose=f"{AUDIT_CHECKPOINT_PREFIX} KMS-signed checkpoints of the audit log's head; "
                   f"{SECURITY_EVENT_PREFIX} countersign chunks and entries refused as forged"),
)

KEYS: tuple[Key, ...] = (
    Key("dsc-es256", "ECC_NIST_P256", "SIGN_VERIFY", purpose="DSC key for ES256 DCC signing", multi_region=True),
    Key("dsc-ps256", "RSA_2048", "SIGN_VERIFY", purpose="DSC key for PS256 DCC signing"),
    Key("audit-anchor", "ECC_NIST_P256", "SIGN_VERIFY",
        purpose="signs the audit log checkpoints (sequence, head hash, time) written to the audit bucket"),
    # Never used per lookup: one GenerateMac at cold start derives the pseudonym secret.
    Key("pseudonym", "HMAC_256", "GENERATE_VERIFY_MAC",
        purpose="derives the keyed hash that replaces citizen ids in keys (chalicelib/adapters/privacy.py)"),
    Key("data", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT",
        purpose="encrypts tables, queues, buckets, and the personal fields of items (chalicelib/adapters/privacy.py)"),
)

_RW = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
       "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem",
       "dynamodb:ConditionCheckItem")
_RO = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem")
_SEND = ("sqs:SendMessage", "sqs:GetQueueUrl")
_CONSUME = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility")
# DescribeKey: the field sealer resolves the key's ARN once per process (chalicelib/adapters/privacy.py).
_DATA_KEY = Grant("key", "data", ("kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"))
# Every function that keys an item by citizen id derives the pseudonym secret once per process.
_PSEUDONYM_KEY = Grant("key", "pseudonym", ("kms:GenerateMac",))
# Whoever appends to the audit log (attestations, ministry revocations) anchors the new head: sign
# with the anchor key and create the checkpoint object (never read, list or delete it).
_ANCHOR = (Grant("key", "audit-anchor", ("kms:Sign",)),
           Grant("bucket", "audit", ("s3:PutObject",), prefix=f"{AUDIT_CHECKPOINT_PREFIX}*"))

FUNCTIONS: tuple[Function, ...] = (
    # API Gateway answers 504 after 29 s whatever the function does: 30 s is all a route can use.
    Function("api_handler", timeout_s=30, grants=(
        Grant("table", "records", _RW), Grant("table", "batches", _RW), Grant("table", "registry", _RO),
        Grant("table", "facilities", _RW), Grant("table", "signing", _RW),
        Grant("table", "passports", _RW), Grant("table", "complaints", _RW),
        Grant("table", "counters", _RW), Grant("table", "idempotency", _RW),
        Grant("table", "access", ("dynamodb:PutItem", "dynamodb:UpdateItem")),
        Grant("queue", "cleaning", _SEND), Grant("queue", "countersign", _SEND),
        Grant("bucket", "reports", ("s3:GetObject", "s3:PutObject")),
        Grant("bucket", "intake", ("s3:PutObject",), prefix="incoming/*"),
        Grant("key", "dsc-es256", ("kms:GetPublicKey", "kms:DescribeKey")),
        Grant("key", "dsc-ps256", ("kms:GetPublicKey", "kms:DescribeKey")),
        *_ANCHOR,
        _DATA_KEY, _PSEUDONYM_KEY,
    )),
    # A file of any length is worked through in 2-minute invocations: each stops at a checkpoint
    # before its time runs out and sends the batch on in a continuation message (intake/uploads.py),
    # so a crashed invocation's batch resumes after 12 minutes (visibility), not 90.
    Function("handle_intake", timeout_s=120, queue="intake", grants=(
        # dlq: a message that can never succeed goes there at once, with its reason. The intake
        # queue itself: continuation messages.
        Grant("queue", "intake", _CONSUME), Grant("queue", "intake", _SEND), Grant("dlq", "intake", _SEND),
        Grant("queue", "cleaning", _SEND),
        Grant("bucket", "intake", ("s3:GetObject",), prefix="incoming/*"),
        Grant("bucket", "reports", ("s3:PutObject",), prefix="reports/*"),
        Grant("table", "records", _RW), Grant("table", "batches", _RW), Grant("table", "counters", _RW),
        Grant("table", "facilities", _RO),  # records only of registered facilities
        _DATA_KEY, _PSEUDONYM_KEY,
    )),
    # A message's work is bounded (batch_size 5 x VAXPASS_CLEANING_CHUNK_SIZE records): seconds.
    Function("handle_cleaning", timeout_s=60, queue="cleaning", grants=(
        # A verified dose that now matches someone else: its previous citizen is queued for
        # re-evaluation on the countersign queue.
        Grant("queue", "cleaning", _CONSUME), Grant("queue", "countersign", _SEND),
        Grant("table", "records", _RW), Grant("table", "registry", _RO),
        Grant("table", "batches", _RW), Grant("table", "counters", _RW),
        _DATA_KEY, _PSEUDONYM_KEY,
    )),
    # A message's work is bounded (batch_size 5 x 25 people, KMS signing in parallel, throttling
    # retried for at most a few seconds per signature): well under a minute.
    Function("handle_countersign", timeout_s=60, queue="countersign", grants=(
        # A chunk refused as forged, or with a person who cannot be issued, goes to the DLQ at once.
        Grant("queue", "countersign", _CONSUME), Grant("dlq", "countersign", _SEND),
        Grant("table", "records", _RW), Grant("table", "facilities", _RO),
        # Reads attestations and manifests; updates only the status items of dispatched chunks.
        Grant("table", "signing", _RO + ("dynamodb:UpdateItem",)),
        Grant("table", "passports", _RW), Grant("table", "counters", _RW),
        Grant("bucket", "audit", ("s3:PutObject",), prefix=f"{SECURITY_EVENT_PREFIX}*"),
        # Before issuing on an attestation: the anchor's checkpoint of its sequence, checked with
        # the anchor key's public key (never its Sign).
        Grant("bucket", "audit", ("s3:GetObject",), prefix=f"{AUDIT_CHECKPOINT_PREFIX}*"),
        Grant("key", "audit-anchor", ("kms:GetPublicKey",)),
        Grant("key", "dsc-es256", ("kms:Sign", "kms:GetPublicKey")),
        Grant("key", "dsc-ps256", ("kms:Sign", "kms:GetPublicKey")),
        _DATA_KEY, _PSEUDONYM_KEY,
    )),
)


def table(logical: str) -> Table:
    return next(t for t in TABLES if t.logical == logical)


def queue(logical: str) -> Queue:
    return next(q for q in QUEUES if q.logical == logical)


def names(prefix: str) -> dict[str, str]:
    """Physical names of every resource for a prefix, for operators and the README."""
    out = {f"table:{t.logical}": rn.physical(prefix, t.logical) for t in TABLES}
    for q in QUEUES:
        out[f"queue:{q.logical}"] = rn.physical(prefix, q.logical)
        out[f"dlq:{q.logical}"] = rn.dlq(prefix, q.logical)
    out.update({f"bucket:{b.logical}": rn.bucket(prefix, b.logical) for b in BUCKETS})
    out.update({f"key:{k.logical}": rn.key_alias(prefix, k.logical) for k in KEYS})
    return out
