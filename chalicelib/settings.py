"""The one place that reads the process environment.

Everything configurable is a field of `Settings`; `get_settings()` reads the environment once and
caches the result. Tests build `Settings(...)` directly or call `Settings.from_env(env)` with a dict.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Mapping

from chalicelib import resource_names as rn


# An AWS Region name (ap-southeast-1, us-gov-west-1): it becomes part of an endpoint host name.
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")


class SettingsError(ValueError):
    """A configuration value is missing or malformed."""


# The stages where a token may be checked against a key set on local disk and minted by the dev
# issuer: anywhere else, a file:// JWKS or a dev key means anyone with the file mints any role.
DEV_STAGES = ("local", "test")


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"not a boolean: {value!r}")


@dataclass(frozen=True)
class Settings:
    stage: str = "local"
    region: str = "ap-southeast-1"
    # Selects LocalStack (or any emulator); None means real AWS. Nothing else differs.
    endpoint_url: str | None = None
    resource_prefix: str = ""
    log_level: str = "INFO"
    # DCC issuing
    country: str = "VN"
    issuing_authority: str = "Ministry of Health of Viet Nam"
    dcc_issuer: str = "VN"
    dcc_validity_days: int = 365
    dsc_algorithm: str = "ES256"
    # Multi-Region countersigning: further Regions holding a replica of the multi-Region DSC key
    # (comma-separated; `region` always signs and is listed first by `signing_region_list`).
    signing_regions: str = ""
    # The account's KMS Sign quota in each signing Region (requests/s; 1,000 for ECC by default).
    kms_sign_quota_per_s: float = 1000.0
    # The countersign function's maximum concurrency (its SQS event source's MaximumConcurrency):
    # each instance takes this share of every Region's quota.
    countersign_max_concurrency: int = 4
    # Intake
    max_records_per_request: int = 500
    # A chunk of one facility's batch is stored in one transaction: 96 records + NATIONAL, the
    # province, the facility and the batch = DynamoDB's 100 items.
    cleaning_chunk_size: int = 96
    # Records (submitted or corrected) per caller per minute; over it, 429 with Retry-After.
    records_per_minute: int = 1000
    # Write shards of each NATIONAL and PROV# counter item (chalicelib/adapters/counters.py; the
    # README's "Counters layout" says why 32). At most 100: a reconciliation fix conditions every
    # shard of a scope in one transaction. Raise it, never lower it: shards above it go unread.
    counter_shards: int = 32
    # Retention (README, Personal data: retention). Days an access-log entry (who read whose
    # data) is kept, and days an idempotency record (API calls, complaint filings) is kept: both
    # expire by DynamoDB TTL. DLQ messages expire by the queues' retention (infra/spec.py).
    access_log_retention_days: int = 400
    idempotency_retention_days: int = 7
    # Caps on what one stored record may take (chalicelib/intake/records.py::IntakeLimits).
    max_extra_columns: int = 20
    max_row_bytes: int = 8 * 1024
    # .xlsx uploads, checked on the zip directory before anything is decompressed.
    xlsx_max_uncompressed_mb: int = 512
    xlsx_max_part_mb: int = 32
    xlsx_max_ratio: int = 100
    # The intake queue's maxReceiveCount (infra/spec.py; a test keeps the two equal): the last
    # receive marks its batch FAILED before the message moves to the DLQ.
    intake_max_receive_count: int = 3
    # A handler working through a long file stops at a checkpoint while at least this much of its
    # Lambda's time is left (plus its longest chunk so far), and hands the rest to a continuation
    # message: room for the rejected-rows report, the hand-over and a slower chunk than any yet.
    deadline_margin_ms: int = 20_000
    # Population registry: "dynamodb" (registry table) or "https" (national gateway).
    registry_backend: str = "dynamodb"
    registry_url: str | None = None
    registry_timeout_s: float = 5.0
    registry_retries: int = 3
    registry_rate_limit_per_s: float = 50.0
    registry_client_cert: str | None = None
    registry_client_key: str | None = None
    registry_ca_bundle: str | None = None
    # Authentication
    jwks_url: str | None = None
    jwt_issuer: str = "https://id.vaxpass.local"
    jwt_audience: str = "vaxpass"
    dev_jwt_key_file: str | None = None
    # Complaints
    complaint_sla_working_days: int = 3
    # Extra, per-test resource names (unit tests, parallel runs): overrides of logical -> physical.
    overrides: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.resource_prefix:
            object.__setattr__(self, "resource_prefix", f"vaxpass-{self.stage}")
        bad = [r for r in self.signing_region_list if not _REGION.fullmatch(r)]
        if bad:
            raise SettingsError(f"VAXPASS_SIGNING_REGIONS: not an AWS Region name: {bad[0]!r}")
        if not self.kms_sign_quota_per_s > 0:
            raise SettingsError("VAXPASS_KMS_SIGN_QUOTA_PER_S must be positive")
        if not 2 <= self.countersign_max_concurrency <= 1000:  # what SQS event sources accept
            raise SettingsError("VAXPASS_COUNTERSIGN_MAX_CONCURRENCY must be between 2 and 1000")
        if not 1 <= self.counter_shards <= 100:
            raise SettingsError(f"{ENV_NAMES['counter_shards']} must be a whole number from 1 to 100")
        for name in ("access_log_retention_days", "idempotency_retention_days"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{ENV_NAMES[name]} must be at least 1 (day)")
        self._refuse_dev_auth()

    def _refuse_dev_auth(self) -> None:
        """Outside the local and test stages, tokens are checked only against the identity
        provider's key set over HTTPS: a cold start with a file:// key set or a dev issuer key fails."""
        if self.stage in DEV_STAGES:
            return
        if (self.jwks_url or "").strip().lower().startswith("file:"):
            raise SettingsError(f"{ENV_NAMES['jwks_url']}: a file:// key set is accepted only in the "
                                f"{' and '.join(DEV_STAGES)} stages, not in {self.stage!r}")
        if self.dev_jwt_key_file:
            raise SettingsError(f"{ENV_NAMES['dev_jwt_key_file']}: the dev issuer is accepted only in the "
                                f"{' and '.join(DEV_STAGES)} stages, not in {self.stage!r}")

    @property
    def signing_region_list(self) -> tuple[str, ...]:
        """The Regions whose KMS signs passports: the primary first, then the replicas, once each."""
        listed = (r.strip() for r in self.signing_regions.split(","))
        return tuple(dict.fromkeys([self.region, *(r for r in listed if r)]))

    # -- physical names -------------------------------------------------------------------------
    def table(self, logical: str) -> str:
        return self.overrides.get(f"table:{logical}") or rn.physical(self.resource_prefix, logical)

    def queue(self, logical: str) -> str:
        return self.overrides.get(f"queue:{logical}") or rn.physical(self.resource_prefix, logical)

    def dlq(self, logical: str) -> str:
        return self.overrides.get(f"dlq:{logical}") or rn.dlq(self.resource_prefix, logical)

    def bucket(self, logical: str) -> str:
        return self.overrides.get(f"bucket:{logical}") or rn.bucket(self.resource_prefix, logical)

    def key_alias(self, logical: str) -> str:
        return self.overrides.get(f"key:{logical}") or rn.key_alias(self.resource_prefix, logical)

    # -- reading --------------------------------------------------------------------------------
    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        values: dict = {}
        for f in fields(cls):
            if f.name == "overrides":
                continue
            raw = env.get(ENV_NAMES[f.name])
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, f.type, raw)
        if "region" not in values and env.get("AWS_DEFAULT_REGION"):
            values["region"] = env["AWS_DEFAULT_REGION"]
        return cls(**values)


def _convert(name: str, type_: object, raw: str):
    t = str(type_)
    try:
        if t.startswith("int"):
            return int(raw)
        if t.startswith("float"):
            return float(raw)
        if t.startswith("bool"):
            return _bool(raw)
    except ValueError as e:
        raise SettingsError(f"{ENV_NAMES[name]}={raw!r}: {e}") from e
    return raw


# Environment variable for each setting; the README's configuration table is generated from this.
ENV_NAMES = {
    "stage": "VAXPASS_STAGE",
    "region": "AWS_REGION",
    "endpoint_url": "AWS_ENDPOINT_URL",
    "resource_prefix": "VAXPASS_RESOURCE_PREFIX",
    "log_level": "POWERTOOLS_LOG_LEVEL",
    "country": "VAXPASS_COUNTRY",
    "issuing_authority": "VAXPASS_ISSUING_AUTHORITY",
    "dcc_issuer": "VAXPASS_DCC_ISSUER",
    "dcc_validity_days": "VAXPASS_DCC_VALIDITY_DAYS",
    "dsc_algorithm": "VAXPASS_DSC_ALGORITHM",
    "signing_regions": "VAXPASS_SIGNING_REGIONS",
    "kms_sign_quota_per_s": "VAXPASS_KMS_SIGN_QUOTA_PER_S",
    "countersign_max_concurrency": "VAXPASS_COUNTERSIGN_MAX_CONCURRENCY",
    "max_records_per_request": "VAXPASS_MAX_RECORDS_PER_REQUEST",
    "cleaning_chunk_size": "VAXPASS_CLEANING_CHUNK_SIZE",
    "records_per_minute": "VAXPASS_RECORDS_PER_MINUTE",
    "counter_shards": "VAXPASS_COUNTER_SHARDS",
    "access_log_retention_days": "VAXPASS_ACCESS_LOG_RETENTION_DAYS",
    "idempotency_retention_days": "VAXPASS_IDEMPOTENCY_RETENTION_DAYS",
    "max_extra_columns": "VAXPASS_MAX_EXTRA_COLUMNS",
    "max_row_bytes": "VAXPASS_MAX_ROW_BYTES",
    "xlsx_max_uncompressed_mb": "VAXPASS_XLSX_MAX_UNCOMPRESSED_MB",
    "xlsx_max_part_mb": "VAXPASS_XLSX_MAX_PART_MB",
    "xlsx_max_ratio": "VAXPASS_XLSX_MAX_RATIO",
    "intake_max_receive_count": "VAXPASS_INTAKE_MAX_RECEIVE_COUNT",
    "deadline_margin_ms": "VAXPASS_DEADLINE_MARGIN_MS",
    "registry_backend": "VAXPASS_REGISTRY_BACKEND",
    "registry_url": "VAXPASS_REGISTRY_URL",
    "registry_timeout_s": "VAXPASS_REGISTRY_TIMEOUT_S",
    "registry_retries": "VAXPASS_REGISTRY_RETRIES",
    "registry_rate_limit_per_s": "VAXPASS_REGISTRY_RATE_LIMIT_PER_S",
    "registry_client_cert": "VAXPASS_REGISTRY_CLIENT_CERT",
    "registry_client_key": "VAXPASS_REGISTRY_CLIENT_KEY",
    "registry_ca_bundle": "VAXPASS_REGISTRY_CA_BUNDLE",
    "jwks_url": "VAXPASS_JWKS_URL",
    "jwt_issuer": "VAXPASS_JWT_ISSUER",
    "jwt_audience": "VAXPASS_JWT_AUDIENCE",
    "dev_jwt_key_file": "VAXPASS_DEV_JWT_KEY_FILE",
    "complaint_sla_working_days": "VAXPASS_COMPLAINT_SLA_WORKING_DAYS",
}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
