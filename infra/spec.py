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

    kind: str  # table | queue | dlq | bucket | bucket-list | key
    logical: str
    actions: tuple[str, ...]
    prefix: str = "*"  # bucket object prefix; for bucket-list, the s3:prefix a listing may name


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
    Table("complaints", "pk", "sk", (_gsi(1), _gsi(2)), ttl_attribute="ttl",
          purpose="citizen complaints; gsi1 = by facility and due date, gsi2 = by citizen; filing "
                  "idempotency items expire by ttl"),
    Table("counters", "pk", "sk", (_gsi(1),),
          purpose="incremental progress counters per province and facility; gsi1 = facilities of a province"),
    Table("idempotency", "id", ttl_attribute="expiration",
          purpose="Powertools idempotency records for handlers"),
    Table("access", "pk", "sk", (_gsi(1), _gsi(2)), ttl_attribute="ttl",
          purpose="append-only access log of reads of a person's data (gsi1 = by reader, gsi2 = by "
                  "the person's pseudonym) and per-caller submission rate windows; both expire by ttl"),
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

# Seconds SQS reuses a data key before asking KMS for a new one: one GenerateDataKey/Decrypt per
# queue and caller per reuse period, not per message (the KMS request quota stays untouched).
QUEUE_DATA_KEY_REUSE_S = 300

# The audit anchor: where a DynamoDB writer cannot rewrite history. Ten years, like the records.
AUDIT_RETENTION_DAYS = 3650
AUDIT_CHECKPOINT_PREFIX = "checkpoints/"
SECURITY_EVENT_PREFIX = "security-events/"
REVOCATION_PREFIX = "revocation/"

BUCKETS: tuple[Bucket, ...] = (
    Bucket("intake", (Notification("incoming/", "intake"),), expire_days=90,
           purpose="province batch uploads under incoming/<province_code>/"),
    Bucket("reports", expire_days=365,
           purpose="rejected-rows reports, exports, cached QR images"),
    Bucket("audit", object_lock_days=AUDIT_RETENTION_DAYS,
           purpose=f"{AUDIT_CHECKPOINT_PREFIX} KMS-signed checkpoints of the audit log's head; "
                   f"{SECURITY_EVENT_PREFIX} countersign chunks and entries refused as forged"),
    # No expiry: a batch stays listed in the index until a rebuild leaves it out.
    Bucket("revocation", purpose=f"{REVOCATION_PREFIX} the revocation list verifiers download: signed "
                                 "batches, index pages and root (`revocation publish` writes them)"),
)

KEYS: tuple[Key, ...] = (
    Key("dsc-es256", "ECC_NIST_P256", "SIGN_VERIFY", purpose="DSC key for ES256 DCC signing", multi_region=True),
    Key("dsc-ps256", "RSA_2048", "SIGN_VERIFY", purpose="DSC key for PS256 DCC signing"),
    Key("audit-anchor", "ECC_NIST_P256", "SIGN_VERIFY",
        purpose="signs the audit log checkpoints (sequence, head hash, time) written to the audit bucket"),
    Key("trust-anchor", "ECC_NIST_P256", "SIGN_VERIFY",
        purpose="the national trust anchor: signs the lists published for verifiers (revocation batches "
                "and index, gateway-format trust list); used by operators' CLI runs, never by a function"),
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
# Every function both sends to and/or receives from queues encrypted with the data key (SQS asks
# KMS for a data key on send and decrypts on receive), and reads and writes its tables and buckets.
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
        # No grant on the registry table: no route reads it (README, Personal data: who can read what).
        Grant("table", "records", _RW), Grant("table", "batches", _RW),
        Grant("table", "facilities", _RW), Grant("table", "signing", _RW),
        Grant("table", "passports", _RW), Grant("table", "complaints", _RW),
        Grant("table", "counters", _RW), Grant("table", "idempotency", _RW),
        # The access log is append-only for the API: conditional puts of new entries, Query for a
        # citizen's own history (GET /v1/access-log/me); UpdateItem is for the RATE# windows only.
        # No DeleteItem, no Scan.
        Grant("table", "access", ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query")),
        Grant("queue", "cleaning", _SEND), Grant("queue", "countersign", _SEND),
        Grant("bucket", "reports", ("s3:GetObject", "s3:PutObject")),
        # Without ListBucket, S3 answers a GetObject of a missing key 403, not 404: a QR image not
        # cached yet would be an error instead of a miss (S3ImageCache.get).
        Grant("bucket-list", "reports", ("s3:ListBucket",)),
        Grant("bucket", "intake", ("s3:PutObject",), prefix="incoming/*"),
        Grant("bucket", "revocation", ("s3:GetObject",), prefix=f"{REVOCATION_PREFIX}*"),
        # /v1/health: DescribeTable of the records table, HeadBucket (ListBucket) of the intake bucket.
        Grant("table", "records", ("dynamodb:DescribeTable",)),
        Grant("bucket-list", "intake", ("s3:ListBucket",)),
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
        # The rejected-rows report is written in parts, then composed: list and read the parts.
        Grant("bucket", "reports", ("s3:PutObject", "s3:GetObject"), prefix="reports/*"),
        Grant("bucket-list", "reports", ("s3:ListBucket",), prefix="reports/*"),
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
        # The identity on the passport: the person's registry entry, read by key (never queried).
        Grant("table", "registry", ("dynamodb:GetItem", "dynamodb:BatchGetItem")),
        # Reads attestations and manifests; updates only the status items of dispatched chunks.
        Grant("table", "signing", _RO + ("dynamodb:UpdateItem",)),
        Grant("table", "passports", _RW), Grant("table", "counters", _RW),
        Grant("bucket", "audit", ("s3:PutObject",), prefix=f"{SECURITY_EVENT_PREFIX}*"),
        # Before issuing on an attestation: the anchor's checkpoint of its sequence, checked with
        # the anchor key's public key (never its Sign).
        Grant("bucket", "audit", ("s3:GetObject",), prefix=f"{AUDIT_CHECKPOINT_PREFIX}*"),
        # A checkpoint not (yet) written must read as missing (404), which S3 answers only to a
        # caller allowed to list the bucket; to anyone else it is a 403, and the chunk would fail
        # as "audit unavailable" instead of being refused as unanchored. Names only, no content.
        Grant("bucket-list", "audit", ("s3:ListBucket",)),
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
