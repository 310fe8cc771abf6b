"""Composition root: builds AWS clients, adapters and services lazily, once per process.

Handlers call `container()` and ask for what they need; nothing is created at import time. It
holds no use case: each attribute builds one adapter or one service from the others, and the
rules live in the services.

Overrides: `Container(settings, **overrides)` takes any adapter, service or value it would build,
by its attribute name, and builds everything else around it. This is the one way tests give the
app fakes (tests/fakes/) or fault-injecting adapters, e.g.
    Container(settings, record_store=FakeRecordStore(), clock=lambda: T0).intake
is the real IntakeService over a fake record store and a fixed clock, with the other adapters as
usual. An unknown name is a TypeError, so a misspelt override never passes silently.
"""
from __future__ import annotations

import functools
import secrets
import threading
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Callable

from chalicelib.settings import Settings, get_settings


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Container:
    def __init__(self, settings: Settings, **overrides: object) -> None:
        unknown = sorted(name for name in overrides if name not in self.overridable())
        if unknown:
            raise TypeError(f"Container has nothing named {', '.join(unknown)} to override")
        self.settings = settings
        self._lock = threading.Lock()
        self._clients: dict[str, object] = {}
        # cached_property reads the instance dict first: an override is what the attribute holds.
        self.__dict__.update(overrides)

    @classmethod
    def overridable(cls) -> frozenset[str]:
        """Every name `Container(settings, **overrides)` accepts: its lazily built attributes."""
        if cls not in _OVERRIDABLE:
            _OVERRIDABLE[cls] = frozenset(name for klass in cls.__mro__ for name, value in vars(klass).items()
                                          if isinstance(value, cached_property) and not name.startswith("_"))
        return _OVERRIDABLE[cls]

    # -- AWS clients --------------------------------------------------------------------------
    def client(self, service: str, *, botocore_retries: bool = True, region: str | None = None):
        """A boto3 client for the configured region (or `region`) and endpoint (LocalStack or AWS).

        `botocore_retries=False` for callers that retry themselves: KmsSigner backs off with
        jitter on throttling, and botocore's 5 attempts under its 6 would stack to 30."""
        from botocore.config import Config

        name = service if botocore_retries else f"{service}:no-retries"
        if region is not None and region != self.settings.region:
            name = f"{name}@{region}"
        retries = {"max_attempts": 5, "mode": "standard"} if botocore_retries else {"total_max_attempts": 1}
        with self._lock:
            if name not in self._clients:
                self._clients[name] = self._session.client(
                    service, endpoint_url=self.settings.endpoint_url, region_name=region,
                    config=Config(retries=retries, max_pool_connections=32))
            return self._clients[name]

    @cached_property
    def _session(self):
        import boto3  # here, not at import: a container over fakes never makes a client

        return boto3.session.Session(region_name=self.settings.region)

    @cached_property
    def queue_urls(self):
        from chalicelib.adapters.sqs import QueueUrls

        return QueueUrls(self.client("sqs"), self.settings)

    @cached_property
    def tables(self):
        from chalicelib.adapters.dynamo import Tables

        return Tables(self.settings, pseudonyms=self.pseudonyms, sealer=self.sealer)

    @cached_property
    def pseudonyms(self):
        """Citizen ids in keys become this keyed hash (issue 14 item 5)."""
        from chalicelib.adapters.privacy import KmsPseudonyms

        return KmsPseudonyms(self.client("kms"), self.settings.key_alias("pseudonym"))

    @cached_property
    def sealer(self):
        """Personal fields of items, envelope-encrypted under the data key (issue 14 item 4)."""
        from chalicelib.adapters.privacy import EsdkSealer

        return EsdkSealer(self.client("kms"), self.settings.key_alias("data"))

    # -- values the services take besides adapters ---------------------------------------------
    @cached_property
    def clock(self) -> Callable[[], datetime]:
        return _utc_now

    @cached_property
    def random_bytes(self) -> Callable[[int], bytes]:
        """Randomness of UVCIs (chalicelib/dcc/uvci.py)."""
        return secrets.token_bytes

    @cached_property
    def new_signing_batch_id(self) -> Callable[[], str]:
        return lambda: f"SB{secrets.token_hex(8)}"

    @cached_property
    def intake_chunk_rows(self) -> int:
        from chalicelib.intake.service import CHUNK_ROWS

        return CHUNK_ROWS

    @cached_property
    def intake_limits(self):
        from chalicelib.intake.records import IntakeLimits, MiB

        s = self.settings
        return IntakeLimits(max_extra_columns=s.max_extra_columns, max_row_bytes=s.max_row_bytes,
                            xlsx_max_uncompressed_bytes=s.xlsx_max_uncompressed_mb * MiB,
                            xlsx_max_part_bytes=s.xlsx_max_part_mb * MiB, xlsx_max_ratio=s.xlsx_max_ratio)

    # -- adapters (one per port family; tests/fakes/ has a fake of each) ------------------------
    @cached_property
    def record_store(self):
        from chalicelib.adapters.intake.records import DynamoRecordStore

        return DynamoRecordStore(self.tables)

    @cached_property
    def batches(self):
        from chalicelib.adapters.intake.batches import DynamoBatchStore

        return DynamoBatchStore(self.tables)

    @cached_property
    def report_store(self):
        from chalicelib.adapters.intake.reports import S3ReportStore

        return S3ReportStore(self.client("s3"), self.settings.bucket("reports"))

    @cached_property
    def upload_source(self):
        from chalicelib.adapters.s3_stream import S3UploadSource

        return S3UploadSource(self.client("s3"))

    @cached_property
    def api_calls(self):
        from chalicelib.adapters.intake.batches import DynamoApiCallStore

        return DynamoApiCallStore(self.tables, self.settings.idempotency_retention_days)

    @cached_property
    def pending_records(self):
        from chalicelib.adapters.reports.pending_records import DynamoPendingRecords

        return DynamoPendingRecords(self.tables)

    @cached_property
    def cleaning_queue(self):
        from chalicelib.adapters.intake.cleaning_queue import SqsCleaningQueue

        return SqsCleaningQueue(self.client("sqs"), self.queue_urls("cleaning"), self.settings.cleaning_chunk_size)

    @cached_property
    def intake_continuations(self):
        from chalicelib.adapters.intake.continuations import SqsContinuations

        return SqsContinuations(self.client("sqs"), self.queue_urls("intake"))

    @cached_property
    def rate_windows(self):
        from chalicelib.adapters.intake.rate_windows import DynamoRateWindows

        return DynamoRateWindows(self.tables)

    @cached_property
    def access_log(self):
        from chalicelib.adapters.cleaning.access_log import DynamoAccessLog

        return DynamoAccessLog(self.tables, self.settings.access_log_retention_days)

    @cached_property
    def person_access(self):
        from chalicelib.access.service import PersonAccessLog

        return PersonAccessLog(self.access_log, self.pseudonyms, self.clock)

    @cached_property
    def registry(self):
        if self.settings.registry_backend == "https":
            from chalicelib.adapters.cleaning.registry_http import HttpRegistry

            return HttpRegistry.from_settings(self.settings)
        from chalicelib.adapters.cleaning.registry_dynamo import DynamoRegistry

        return DynamoRegistry(self.tables)

    @cached_property
    def cleaning_repository(self):
        from chalicelib.adapters.cleaning.repository import DynamoCleaningRepository

        return DynamoCleaningRepository(self.tables)

    @cached_property
    def record_reader(self):
        from chalicelib.adapters.cleaning.corrections import DynamoRecordReader

        return DynamoRecordReader(self.tables)

    @cached_property
    def correction_counters(self):
        from chalicelib.adapters.cleaning.corrections import DynamoCorrectionCounters

        return DynamoCorrectionCounters(self.tables)

    @cached_property
    def counters(self):
        from chalicelib.adapters.counters import DynamoCounters

        return DynamoCounters(self.tables)

    @cached_property
    def audit_source(self):
        from chalicelib.adapters.reports.audit_source import DynamoAuditSource

        return DynamoAuditSource(self.tables, self.passports.Item, self.counters)

    @cached_property
    def facility_registry(self):
        from chalicelib.adapters.signing.facilities import DynamoFacilityRegistry

        return DynamoFacilityRegistry(self.tables)

    @cached_property
    def signing_records(self):
        from chalicelib.adapters.signing.records import DynamoSigningRecords

        return DynamoSigningRecords(self.tables)

    @cached_property
    def manifests(self):
        from chalicelib.adapters.signing.manifests import DynamoManifestStore

        return DynamoManifestStore(self.tables)

    @cached_property
    def audit_chain(self):
        """The audit log's hash chain as stored, without its anchor (readers; `audit_log` appends)."""
        from chalicelib.adapters.signing.audit_log import DynamoAuditLog

        return DynamoAuditLog(self.tables)

    @cached_property
    def countersign_queue(self):
        from chalicelib.adapters.signing.countersign_queue import SqsCountersignQueue

        return SqsCountersignQueue(self.client("sqs"), self.queue_urls("countersign"), pseudonyms=self.pseudonyms,
                                   sealer=self.sealer)

    @cached_property
    def countersign_messages(self):
        """Opens countersign messages for the worker (no queue URL: the worker only reads them)."""
        from chalicelib.adapters.signing.countersign_queue import CountersignSealing

        return CountersignSealing(pseudonyms=self.pseudonyms, sealer=self.sealer)

    @cached_property
    def reevaluations(self):
        """Queues people for re-evaluation on the countersign queue (a dose moved away, a lifted hold)."""
        return self.countersign_queue

    @cached_property
    def audit_anchor(self):
        from chalicelib.adapters.signing.audit_bucket import S3KmsAuditAnchor

        s = self.settings
        return S3KmsAuditAnchor(self.client("s3"), self.client("kms"), s.bucket("audit"), s.key_alias("audit-anchor"))

    @cached_property
    def security_events(self):
        from chalicelib.adapters.signing.audit_bucket import S3SecurityEvents

        return S3SecurityEvents(self.client("s3"), self.settings.bucket("audit"))

    @cached_property
    def published_trust_list(self):
        from chalicelib.adapters.trust.gateway_list import DynamoPublishedTrustList

        return DynamoPublishedTrustList(self.tables)

    @cached_property
    def gateway_trust(self):
        from chalicelib.trust.gateway import GatewayTrustService

        return GatewayTrustService(self.dscs, self.published_trust_list, self.settings.country)

    @cached_property
    def dscs(self):
        from chalicelib.adapters.trust.trust_list import DynamoDscRepository

        return DynamoDscRepository(self.tables)

    @cached_property
    def revocation_list(self):
        from chalicelib.adapters.trust.trust_list import DynamoRevocationRepository

        return DynamoRevocationRepository(self.tables)

    @cached_property
    def trust_anchor(self):
        """The national trust anchor's KMS key: signs every list published for verifiers
        (`dcc.signed_document.sign_document`)."""
        from chalicelib.adapters.trust.published import KmsTrustAnchor

        return KmsTrustAnchor(self.client("kms"), self.settings.key_alias("trust-anchor"))

    @cached_property
    def published_objects(self):
        from chalicelib.adapters.trust.published import S3PublishedObjects

        return S3PublishedObjects(self.client("s3"), self.settings.bucket("revocation"))

    @cached_property
    def passports(self):
        from chalicelib.adapters.issuance.passports import DynamoPassportStore

        return DynamoPassportStore(self.tables)

    @cached_property
    def chunk_claims(self):
        from chalicelib.adapters.issuance.claims import DynamoChunkClaims

        return DynamoChunkClaims(self.tables, self.passports)

    @cached_property
    def passport_reader(self):
        from chalicelib.adapters.issuance.passports import DynamoPassportReader

        return DynamoPassportReader(self.passports)

    @cached_property
    def dose_source(self):
        from chalicelib.adapters.issuance.doses import DynamoDoseSource

        return DynamoDoseSource(self.tables)

    @cached_property
    def identities(self):
        from chalicelib.adapters.issuance.identities import RegistryIdentities

        return RegistryIdentities(self.registry)

    @cached_property
    def signing_kms(self) -> dict[str, object]:
        """A KMS client per signing Region (VAXPASS_SIGNING_REGIONS), the primary first."""
        return {r: self.client("kms", botocore_retries=False, region=r) for r in self.settings.signing_region_list}

    @cached_property
    def key_ring(self):
        """The current DSC signer for a time: KMS keys with a registered DSC (chalicelib/dcc/signer.py),
        signing in every Region of `signing_kms`, each under this consumer's share of its quota."""
        from chalicelib.adapters.issuance.key_ring import KmsKeyRing
        from chalicelib.dcc.regional import per_consumer_rate

        s = self.settings
        primary, *replicas = self.signing_kms.items()
        return KmsKeyRing(self.dscs, primary[1], s.dsc_algorithm, region=primary[0], replicas=dict(replicas),
                          sign_rate_per_s=per_consumer_rate(s.kms_sign_quota_per_s, s.countersign_max_concurrency))

    @cached_property
    def image_cache(self):
        from chalicelib.adapters.issuance.qr_cache import S3ImageCache

        return S3ImageCache(self.client("s3"), self.settings.bucket("reports"))

    @cached_property
    def citizen_records(self):
        from chalicelib.adapters.complaints.citizen_records import DynamoCitizenRecords

        return DynamoCitizenRecords(self.tables)

    @cached_property
    def complaint_store(self):
        from chalicelib.adapters.complaints.store import DynamoComplaintStore

        return DynamoComplaintStore(self.tables, self.settings.idempotency_retention_days)

    @cached_property
    def facility_heads(self):
        from chalicelib.adapters.complaints.facility_heads import RegistryFacilityHeads

        return RegistryFacilityHeads(self.facility_registry)

    @cached_property
    def dead_letters(self):
        from chalicelib.adapters.sqs import DeadLetters

        return DeadLetters(self.client("sqs"), self.queue_urls, self.settings)

    @cached_property
    def operator_identity(self):
        from chalicelib.adapters.access.operator import StsOperatorIdentity

        return StsOperatorIdentity(self.client("sts"))

    @cached_property
    def dead_letter_inspection(self):
        from chalicelib.access.dead_letters import DeadLetterInspection

        return DeadLetterInspection(self.dead_letters, self.person_access, self.operator_identity)

    @cached_property
    def health_probes(self):
        from chalicelib.adapters.health.probes import aws_probes

        return aws_probes(self)

    # -- services -----------------------------------------------------------------------------
    @cached_property
    def intake(self):
        from chalicelib.intake.service import IntakeService

        return IntakeService(self.record_store, self.batches, self.cleaning_queue, self.report_store, self.clock,
                             facilities=self.facility_registry, chunk_rows=self.intake_chunk_rows,
                             limits=self.intake_limits, uploads=self.upload_source,
                             deadline_margin_ms=self.settings.deadline_margin_ms)

    @cached_property
    def upload_delivery(self):
        from chalicelib.intake.uploads import UploadDelivery

        return UploadDelivery(self.intake.ingest_stored, self.batches,
                              functools.partial(self.dead_letters.send, "intake"), self.clock,
                              self.settings.intake_max_receive_count, self.intake_continuations)

    @cached_property
    def submission(self):
        from chalicelib.intake.submission import RecordSubmission

        return RecordSubmission(self.intake, self.api_calls, self.clock, self.settings.max_records_per_request)

    @cached_property
    def batch_progress(self):
        from chalicelib.intake.service import BatchProgress

        return BatchProgress(self.batches, self.report_store)

    @cached_property
    def submission_limiter(self):
        from chalicelib.intake.ratelimit import SubmissionLimiter

        return SubmissionLimiter(self.rate_windows, self.clock, self.settings.records_per_minute)

    @cached_property
    def verification(self):
        from chalicelib.cleaning.matcher import Matcher
        from chalicelib.cleaning.worker import VerificationWorker

        return VerificationWorker(self.cleaning_repository, Matcher(self.registry), self.clock, self.reevaluations)

    @cached_property
    def corrections(self):
        from chalicelib.cleaning.corrections import CorrectionService

        return CorrectionService(self.record_reader, self.intake, self.correction_counters, self.access_log,
                                 self.clock, pseudonyms=self.pseudonyms)

    @cached_property
    def trust(self):
        from chalicelib.trust.service import TrustService

        return TrustService(self.dscs, self.settings.country)

    @cached_property
    def revocation_publisher(self):
        from chalicelib.trust.revocations import RevocationPublisher

        s = self.settings
        return RevocationPublisher(self.revocation_list, self.published_objects, self.trust_anchor, self.clock,
                                   lambda: self.random_bytes(16).hex(), country=s.country,
                                   validity=timedelta(days=s.dcc_validity_days))

    @cached_property
    def rule_store(self):
        from chalicelib.adapters.rules.store import DynamoRuleStore

        return DynamoRuleStore(self.tables)

    @cached_property
    def rules(self):
        from chalicelib.rules.service import RulesService

        return RulesService(self.rule_store, self.passport_reader, self.dscs, self.clock, self.settings.country)

    @cached_property
    def countersign(self):
        from chalicelib.issuance.service import CountersignService

        s = self.settings
        return CountersignService(self.passports, self.dose_source, self.identities, self.key_ring, self.clock,
                                  self.random_bytes, country=s.country, issuer=s.dcc_issuer,
                                  authority=s.issuing_authority, valid_days=s.dcc_validity_days,
                                  leases=self.chunk_claims)

    @cached_property
    def attested_countersign(self):
        from chalicelib.issuance.attested import AttestedBatchCountersigner
        from chalicelib.signing.anchor import AnchorWitness

        return AttestedBatchCountersigner(
            self.countersign, self.signing_records, self.clock, claims=self.chunk_claims, attestations=self.audit_chain,
            anchor=AnchorWitness(self.audit_anchor), facilities=self.facility_registry, chunks=self.manifests,
            events=self.security_events, counters=self.counters)

    @cached_property
    def passport_query(self):
        from chalicelib.issuance.passports import PassportQuery

        return PassportQuery(self.passport_reader, self.image_cache, self.clock)

    @cached_property
    def facilities(self):
        from chalicelib.signing.facilities import FacilityService

        return FacilityService(self.facility_registry)

    @cached_property
    def signing(self):
        from chalicelib.signing.service import SigningService

        return SigningService(self.facility_registry, self.signing_records, self.manifests, self.audit_log,
                              self.countersign_queue, new_id=self.new_signing_batch_id, counters=self.counters)

    @cached_property
    def audit_log(self):
        """The one audit log (attestations, ministry revocations): every append goes through here,
        so every append is followed by a KMS-signed checkpoint in the audit bucket."""
        from chalicelib.signing.anchor import AnchoredAuditLog

        return AnchoredAuditLog(self.audit_chain, self.audit_anchor, self.clock)

    @cached_property
    def audit(self):
        from chalicelib.signing.anchor import AuditService

        return AuditService(self.audit_chain, self.audit_anchor, revocations=self.revocations)

    @cached_property
    def revocations(self):
        from chalicelib.issuance.revocation import RevocationService

        return RevocationService(self.passports, self.audit_log, self.clock, country=self.settings.country,
                                 reevaluations=self.reevaluations)

    @cached_property
    def complaints(self):
        from chalicelib.complaints.service import ComplaintService

        return ComplaintService(self.citizen_records, self.complaint_store, self.corrections, self.facility_heads,
                                self.clock, sla_working_days=self.settings.complaint_sla_working_days)

    @cached_property
    def reports(self):
        from chalicelib.reports.service import ReportService

        return ReportService(self.counters, self.clock, overdue=self.complaints.overdue_counts)

    @cached_property
    def reconciler(self):
        from chalicelib.reports.reconcile import Reconciler

        return Reconciler(self.audit_source)

    @cached_property
    def never_cleaned(self):
        from chalicelib.reports.never_cleaned import NeverCleanedSweep

        return NeverCleanedSweep(self.pending_records, self.cleaning_queue, self.clock)

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
        from chalicelib.health.service import HealthService

        return HealthService(self.health_probes)


_OVERRIDABLE: dict[type, frozenset[str]] = {}  # per class: it is asked for every container built
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
