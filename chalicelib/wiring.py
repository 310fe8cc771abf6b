"""Composition root: builds AWS clients, adapters and services lazily, once per process.

Handlers call `container()` and ask for what they need; nothing is created at import time. Tests
build `Container(Settings(...))` themselves to point at their own LocalStack resources.
"""
from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from chalicelib.settings import Settings, get_settings

if TYPE_CHECKING:
    from chalicelib.adapters.sqs import QueueUrls


class Container:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._clients: dict[str, object] = {}

    # -- AWS clients --------------------------------------------------------------------------
    def client(self, service: str, *, botocore_retries: bool = True):
        """A boto3 client for the configured region and endpoint (LocalStack or AWS).

        `botocore_retries=False` for callers that retry themselves: KmsSigner backs off with
        jitter on throttling, and botocore's 5 attempts under its 6 would stack to 30."""
        name = service if botocore_retries else f"{service}:no-retries"
        retries = {"max_attempts": 5, "mode": "standard"} if botocore_retries else {"total_max_attempts": 1}
        with self._lock:
            if name not in self._clients:
                self._clients[name] = self._session.client(
                    service, endpoint_url=self.settings.endpoint_url,
                    config=Config(retries=retries, max_pool_connections=32))
            return self._clients[name]

    @cached_property
    def _session(self) -> boto3.session.Session:
        return boto3.session.Session(region_name=self.settings.region)

    @cached_property
    def queue_urls(self) -> "QueueUrls":
        from chalicelib.adapters.sqs import QueueUrls

        return QueueUrls(self.client("sqs"), self.settings)

    @cached_property
    def tables(self):
        from chalicelib.adapters.dynamo import Tables

        return Tables(self.settings)

    def clock(self):
        from datetime import datetime, timezone

        return datetime.now(timezone.utc)

    # -- services -----------------------------------------------------------------------------
    @cached_property
    def batches(self):
        from chalicelib.adapters.intake.batches import DynamoBatchStore

        return DynamoBatchStore(self.tables)

    @cached_property
    def intake(self):
        from chalicelib.adapters.intake.records import DynamoRecordStore
        from chalicelib.adapters.intake.reports import S3ReportStore
        from chalicelib.intake.service import IntakeService

        s = self.settings
        return IntakeService(
            DynamoRecordStore(self.tables), self.batches, self.cleaning_queue,
            S3ReportStore(self.client("s3"), s.bucket("reports")), self.clock,
            facilities=self.facility_registry, limits=self.intake_limits)

    @cached_property
    def cleaning_queue(self):
        from chalicelib.adapters.intake.cleaning_queue import SqsCleaningQueue

        return SqsCleaningQueue(self.client("sqs"), self.queue_urls("cleaning"), self.settings.cleaning_chunk_size)

    @cached_property
    def intake_limits(self):
        from chalicelib.intake.records import IntakeLimits, MiB

        s = self.settings
        return IntakeLimits(max_extra_columns=s.max_extra_columns, max_row_bytes=s.max_row_bytes,
                            xlsx_max_uncompressed_bytes=s.xlsx_max_uncompressed_mb * MiB,
                            xlsx_max_part_bytes=s.xlsx_max_part_mb * MiB, xlsx_max_ratio=s.xlsx_max_ratio)

    @cached_property
    def upload_delivery(self):
        from chalicelib.intake.uploads import UploadDelivery

        return UploadDelivery(lambda u: self.ingest_s3_object(u.bucket, u.key, u.etag), self.batches,
                              lambda body, code, message: self.dead_letters.send("intake", body, code, message),
                              self.clock, self.settings.intake_max_receive_count)

    @cached_property
    def registry(self):
        if self.settings.registry_backend == "https":
            from chalicelib.adapters.cleaning.registry_http import HttpRegistry

            return HttpRegistry.from_settings(self.settings)
        from chalicelib.adapters.cleaning.registry_dynamo import DynamoRegistry

        return DynamoRegistry(self.tables)

    @cached_property
    def verification(self):
        from chalicelib.adapters.cleaning.repository import DynamoCleaningRepository
        from chalicelib.cleaning.matcher import Matcher
        from chalicelib.cleaning.worker import VerificationWorker

        return VerificationWorker(DynamoCleaningRepository(self.tables), Matcher(self.registry), self.clock,
                                  self.reevaluations)

    @cached_property
    def reevaluations(self):
        """Queues people for re-evaluation on the countersign queue (a dose moved away, a lifted hold)."""
        from chalicelib.adapters.signing.countersign_queue import SqsCountersignQueue

        return SqsCountersignQueue(self.client("sqs"), self.queue_urls("countersign"))

    @cached_property
    def corrections(self):
        from chalicelib.adapters.cleaning.corrections import DynamoCorrectionCounters, DynamoRecordReader
        from chalicelib.cleaning.corrections import CorrectionService

        return CorrectionService(DynamoRecordReader(self.tables), self.intake, DynamoCorrectionCounters(self.tables),
                                 self.access_log, self.clock)

    @cached_property
    def access_log(self):
        from chalicelib.adapters.cleaning.access_log import DynamoAccessLog

        return DynamoAccessLog(self.tables, self.settings.access_log_retention_days)

    @cached_property
    def submission_limiter(self):
        from chalicelib.adapters.intake.rate_windows import DynamoRateWindows
        from chalicelib.intake.ratelimit import SubmissionLimiter

        return SubmissionLimiter(DynamoRateWindows(self.tables), self.clock, self.settings.records_per_minute)

    @cached_property
    def trust(self):
        from chalicelib.adapters.trust.trust_list import DynamoDscRepository, DynamoRevocationRepository
        from chalicelib.trust.service import TrustService

        return TrustService(DynamoDscRepository(self.tables), DynamoRevocationRepository(self.tables),
                            self.settings.country)

    @cached_property
    def dead_letters(self):
        from chalicelib.adapters.sqs import DeadLetters

        return DeadLetters(self.client("sqs"), self.queue_urls, self.settings)

    @cached_property
    def passports(self):
        from chalicelib.adapters.issuance.passports import DynamoPassportStore

        return DynamoPassportStore(self.tables)

    @cached_property
    def countersign(self):
        import secrets

        from chalicelib.adapters.issuance.doses import DynamoDoseSource
        from chalicelib.adapters.issuance.identities import RegistryIdentities
        from chalicelib.adapters.issuance.key_ring import KmsKeyRing
        from chalicelib.adapters.trust.trust_list import DynamoDscRepository
        from chalicelib.issuance.service import CountersignService

        s = self.settings
        ring = KmsKeyRing(DynamoDscRepository(self.tables), self.client("kms", botocore_retries=False),
                          s.dsc_algorithm)
        return CountersignService(self.passports, DynamoDoseSource(self.tables), RegistryIdentities(self.registry),
                                  ring, self.clock, secrets.token_bytes, country=s.country, issuer=s.dcc_issuer,
                                  authority=s.issuing_authority, valid_days=s.dcc_validity_days)

    @cached_property
    def attested_countersign(self):
        from chalicelib.adapters.signing.audit_log import DynamoAuditLog
        from chalicelib.adapters.signing.manifests import DynamoManifestStore
        from chalicelib.adapters.signing.records import DynamoSigningRecords
        from chalicelib.issuance.attested import AttestedBatchCountersigner
        from chalicelib.signing.anchor import AnchorWitness

        return AttestedBatchCountersigner(
            self.countersign, DynamoSigningRecords(self.tables), self.clock, attestations=DynamoAuditLog(self.tables),
            anchor=AnchorWitness(self.audit_anchor), facilities=self.facility_registry,
            chunks=DynamoManifestStore(self.tables), events=self.security_events, counters=self.counters)

    @cached_property
    def passport_query(self):
        from chalicelib.adapters.issuance.passports import DynamoPassportReader
        from chalicelib.adapters.issuance.qr_cache import S3ImageCache
        from chalicelib.issuance.passports import PassportQuery

        return PassportQuery(DynamoPassportReader(self.passports),
                             S3ImageCache(self.client("s3"), self.settings.bucket("reports")), self.clock)

    @cached_property
    def facility_registry(self):
        from chalicelib.adapters.signing.facilities import DynamoFacilityRegistry

        return DynamoFacilityRegistry(self.tables)

    @cached_property
    def facilities(self):
        from chalicelib.signing.facilities import FacilityService

        return FacilityService(self.facility_registry)

    @cached_property
    def signing(self):
        import secrets

        from chalicelib.adapters.signing.countersign_queue import SqsCountersignQueue
        from chalicelib.adapters.signing.manifests import DynamoManifestStore
        from chalicelib.adapters.signing.records import DynamoSigningRecords
        from chalicelib.signing.service import SigningService

        return SigningService(
            self.facility_registry, DynamoSigningRecords(self.tables), DynamoManifestStore(self.tables),
            self.audit_log, SqsCountersignQueue(self.client("sqs"), self.queue_urls("countersign")),
            new_id=lambda: f"SB{secrets.token_hex(8)}", counters=self.counters)

    @cached_property
    def audit_anchor(self):
        from chalicelib.adapters.signing.audit_bucket import S3KmsAuditAnchor

        s = self.settings
        return S3KmsAuditAnchor(self.client("s3"), self.client("kms"), s.bucket("audit"), s.key_alias("audit-anchor"))

    @cached_property
    def audit_log(self):
        """The one audit log (attestations, ministry revocations): every append goes through here,
        so every append is followed by a KMS-signed checkpoint in the audit bucket."""
        from chalicelib.adapters.signing.audit_log import DynamoAuditLog
        from chalicelib.signing.anchor import AnchoredAuditLog

        return AnchoredAuditLog(DynamoAuditLog(self.tables), self.audit_anchor, self.clock)

    @cached_property
    def audit(self):
        from chalicelib.adapters.signing.audit_log import DynamoAuditLog
        from chalicelib.signing.anchor import AuditService

        return AuditService(DynamoAuditLog(self.tables), self.audit_anchor, revocations=self.revocations)

    @cached_property
    def security_events(self):
        from chalicelib.adapters.signing.audit_bucket import S3SecurityEvents

        return S3SecurityEvents(self.client("s3"), self.settings.bucket("audit"))

    @cached_property
    def revocations(self):
        from chalicelib.issuance.revocation import RevocationService

        return RevocationService(self.passports, self.audit_log, self.clock, issuer_country=self.settings.dcc_issuer,
                                 reevaluations=self.reevaluations)

    @cached_property
    def counters(self):
        from chalicelib.adapters.counters import DynamoCounters

        return DynamoCounters(self.tables)

    @cached_property
    def complaints(self):
        from chalicelib.adapters.complaints.citizen_records import DynamoCitizenRecords
        from chalicelib.adapters.complaints.facility_heads import RegistryFacilityHeads
        from chalicelib.adapters.complaints.store import DynamoComplaintStore
        from chalicelib.complaints.service import ComplaintService

        return ComplaintService(DynamoCitizenRecords(self.tables), DynamoComplaintStore(self.tables),
                                self.corrections, RegistryFacilityHeads(self.facility_registry), self.clock,
                                sla_working_days=self.settings.complaint_sla_working_days)

    @cached_property
    def reports(self):
        from chalicelib.reports.service import ReportService

        return ReportService(self.counters, self.clock, overdue=self.complaints.overdue_counts)

    @cached_property
    def reconciler(self):
        from chalicelib.adapters.reports.audit_source import DynamoAuditSource
        from chalicelib.reports.reconcile import Reconciler

        return Reconciler(DynamoAuditSource(self.tables, self.passports.Item, self.counters))

    @cached_property
    def never_cleaned(self):
        from chalicelib.adapters.reports.pending_records import DynamoPendingRecords
        from chalicelib.reports.never_cleaned import NeverCleanedSweep

        return NeverCleanedSweep(DynamoPendingRecords(self.tables), self.cleaning_queue, self.clock)

    @cached_property
    def submission(self):
        from chalicelib.adapters.intake.batches import DynamoApiCallStore
        from chalicelib.intake.submission import RecordSubmission

        return RecordSubmission(self.intake, DynamoApiCallStore(self.tables), self.clock,
                                self.settings.max_records_per_request)

    def batch_progress(self, batch_id: str) -> dict:
        from chalicelib import errors

        item = self.batches.get(batch_id)
        if item is None:
            raise errors.NotFound("no such batch", details={"batch_id": batch_id})
        out = {k: getattr(item, k) for k in (
            "batch_id", "kind", "province_code", "status", "received", "accepted", "duplicates",
            "rejected", "queued", "cleaned", "rows_done", "error_code", "error_message", "failure",
            "created_at", "updated_at")}
        out = {k: (int(v) if isinstance(v, float) else v) for k, v in out.items()}
        out["counts_add_up"] = out["received"] == out["accepted"] + out["rejected"]
        if item.report_key:
            out["rejected_rows_report"] = {
                "bucket": self.settings.bucket("reports"), "key": item.report_key,
                "url": self.client("s3").generate_presigned_url(
                    "get_object", Params={"Bucket": self.settings.bucket("reports"), "Key": item.report_key},
                    ExpiresIn=3600)}
        return out

    def ingest_s3_object(self, bucket: str, key: str, etag: str | None):
        """Streams one uploaded batch file from S3 into the intake service."""
        from chalicelib.adapters.s3_stream import RangedS3Reader

        reader = RangedS3Reader(self.client("s3"), bucket, key)
        try:
            return self.intake.ingest_upload(bucket=bucket, key=key, etag=etag, stream=reader)
        finally:
            reader.close()

    @cached_property
    def token_verifier(self):
        """Bearer tokens against the identity provider's JWKS (VAXPASS_JWKS_URL)."""
        from chalicelib import errors
        from chalicelib.adapters.auth.jwks import jwks_source_for
        from chalicelib.auth.tokens import JwksCache, TokenVerifier

        s = self.settings
        if not s.jwks_url:
            # Misconfiguration, not the caller's fault: protected routes answer 503 until it is set.
            raise errors.DependencyUnavailable("token verification is not configured (VAXPASS_JWKS_URL)")
        try:
            source = jwks_source_for(s.jwks_url)
        except ValueError as e:
            raise errors.DependencyUnavailable("token verification is misconfigured (VAXPASS_JWKS_URL)") from e
        return TokenVerifier(JwksCache(source, self.clock), issuer=s.jwt_issuer,
                             audience=s.jwt_audience, clock=self.clock)

    @cached_property
    def health(self):
        from chalicelib.adapters.health.probes import aws_probes
        from chalicelib.health.service import HealthService

        return HealthService(aws_probes(self))


_container: Container | None = None
_container_lock = threading.Lock()


def container() -> Container:
    global _container
    with _container_lock:
        if _container is None:
            _container = Container(get_settings())
        return _container


def set_container(c: Container | None) -> None:
    """Replaces the process-wide container (tests, the local event runner)."""
    global _container
    with _container_lock:
        _container = c
