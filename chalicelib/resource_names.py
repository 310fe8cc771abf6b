"""Names of the AWS resources, shared by the app (at run time) and infra/ (at deploy time).

The properties of each resource (keys, GSIs, redrive, encryption) are defined once in infra/spec.py;
this module only fixes how a logical name becomes a physical one, so that the app finds what infra
created without passing dozens of ARNs around.
"""
from __future__ import annotations

# Logical names. infra/spec.py must define a resource for each of these (a test checks it).
TABLES = ("records", "batches", "registry", "facilities", "signing", "passports", "complaints",
          "counters", "idempotency", "access")
QUEUES = ("intake", "cleaning", "countersign")
BUCKETS = ("intake", "reports", "audit", "revocation")
KEYS = ("dsc-es256", "dsc-ps256", "audit-anchor", "trust-anchor", "pseudonym", "data")


def physical(prefix: str, logical: str) -> str:
    return f"{prefix}-{logical}"


def dlq(prefix: str, logical: str) -> str:
    return f"{prefix}-{logical}-dlq"


def bucket(prefix: str, logical: str) -> str:
    # Bucket names are global across AWS: operators choose a unique VAXPASS_RESOURCE_PREFIX.
    return f"{prefix}-{logical}".lower()


def key_alias(prefix: str, logical: str) -> str:
    return f"alias/{prefix}-{logical}"
