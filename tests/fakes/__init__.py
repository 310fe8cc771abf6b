"""One fake for every port, and the composition root built over them.

Naming: `Fake<Port>`, or `Fake<Store>` when one fake serves several ports the way one table
serves several adapters (`FakeRecords` is the records table behind RecordStore, CleaningRepository,
RecordReader, SigningRecords, DoseSource...). A test that needs a variation subclasses the fake
and names the subclass for what it does (`RecordsDown`, `CrashingStore`).

Each fake keeps its adapter's conditions, and the same contract test class runs on the fake and
on the real adapter against LocalStack (tests/contracts/, the LocalStack half marked
`integration`), so a test on a fake means something for production.

Port (where it is declared) -> fake -> real adapter; contract in tests/contracts/<file>:

intake/service.py, intake/ratelimit.py                                          test_records, test_intake
  RecordStore -> FakeRecords -> DynamoRecordStore
  BatchStore -> FakeBatchStore -> DynamoBatchStore
  CleaningQueue -> FakeCleaningQueue -> SqsCleaningQueue
  ReportStore -> FakeReportStore -> S3ReportStore
  UploadSource -> FakeUploadSource -> S3UploadSource
  ApiCallStore -> FakeApiCallStore -> DynamoApiCallStore
  FacilityDirectory -> FakeFacilityRegistry -> DynamoFacilityRegistry
  RateWindows -> FakeRateWindows -> DynamoRateWindows
cleaning/worker.py, corrections.py, access.py, registry.py                      test_records, test_platform
  CleaningRepository -> FakeRecords -> DynamoCleaningRepository
  RecordReader -> FakeRecords -> DynamoRecordReader
  CorrectionCounters -> FakeCounters -> DynamoCorrectionCounters
  Reevaluations -> FakeCountersignQueue -> SqsCountersignQueue
  AccessLog -> FakeAccessLog -> DynamoAccessLog
  Registry -> InMemoryRegistry -> DynamoRegistry (InMemoryRegistry is no fake: it is the offline
    `vaxpass clean` command's adapter, the registry file in memory, and checked like the others)
signing/service.py, anchor.py, audit.py                                         test_signing
  FacilityRegistry -> FakeFacilityRegistry -> DynamoFacilityRegistry
  SigningRecords -> FakeRecords -> DynamoSigningRecords
  ManifestStore -> FakeManifestStore -> DynamoManifestStore
  AuditLog -> FakeAuditLog -> DynamoAuditLog
  CountersignQueue -> FakeCountersignQueue -> SqsCountersignQueue
  AuditAnchor, CheckpointReader, CheckpointSource -> FakeAuditAnchor -> S3KmsAuditAnchor
  LoggedRevocations -> FakeLoggedRevocations -> RevocationService (a service, unit-tested itself)
issuance/service.py, attested.py, revocation.py, passports.py                   test_passports, test_records
  PassportStore, RevocationStore, PassportReader -> FakePassports -> DynamoPassportStore, DynamoPassportReader
  DoseSource, SignedRecords -> FakeRecords -> DynamoDoseSource, DynamoSigningRecords
  IdentitySource -> FakeIdentities -> RegistryIdentities (test_platform)
  Attestations -> FakeAuditLog; Facilities -> FakeFacilityRegistry; ChunkStatus -> FakeManifestStore
  Anchor -> AnchorWitness (production, pure) over FakeAuditAnchor
  SecurityEvents -> FakeSecurityEvents -> S3SecurityEvents (test_signing)
  Counters -> FakeCounters -> DynamoCounters (test_reports)
  ImageCache -> FakeImageCache -> S3ImageCache (test_platform)
  the key ring (Callable[[datetime], Signer]) -> FakeKeyRing -> KmsKeyRing; Signer -> LocalKeySigner
    (production: dev keys) -> KmsSigner (tests/integration/test_kms_signer.py)
trust/service.py                                                                test_platform, test_passports
  DscRepository -> FakeDscRepository -> DynamoDscRepository
  RevocationRepository -> FakePassports -> DynamoRevocationRepository
complaints/service.py                                                           test_complaints, test_records
  ComplaintStore -> FakeComplaintStore -> DynamoComplaintStore
  CitizenRecords -> FakeRecords -> DynamoCitizenRecords
  FacilityHeads -> FakeFacilityHeads -> RegistryFacilityHeads
  Corrector -> FakeCorrector -> CorrectionService (a service, unit-tested itself)
reports/service.py, reconcile.py                                                test_reports, test_records
  CounterReader -> FakeCounters -> DynamoCounters
  AuditSource -> FakeAuditSource -> DynamoAuditSource
  PendingRecordSource -> FakeRecords -> DynamoPendingRecords
  CleaningRequeue -> FakeCleaningQueue -> SqsCleaningQueue
auth/tokens.py, health/service.py, the dead-letter queues                       test_platform
  JwksSource -> FakeJwksSource -> FileJwksSource
  Probe -> FakeProbe -> the AWS probes (aws/health.py)
  DeadLetters.send -> FakeDeadLetters -> DeadLetters
"""
from __future__ import annotations

from chalicelib.cleaning.registry import InMemoryRegistry
from tests.fakes.complaints import FakeComplaintStore, FakeCorrector, FakeFacilityHeads
from tests.fakes.intake import (FakeApiCallStore, FakeBatchStore, FakeCleaningQueue, FakeRateWindows, FakeReportStore,
                                FakeUploadSource)
from tests.fakes.issuance import (FakeDscRepository, FakeIdentities, FakeImageCache, FakeKeyRing, FakePassports)
from tests.fakes.platform import (FakeAccessLog, FakeDeadLetters, FakeJwksSource, FakeLoggedRevocations,
                                  FakeProbe)
from tests.fakes.records import FakeRecords
from tests.fakes.reports import FakeAuditSource, FakeCounters
from tests.fakes.signing import (FakeAuditAnchor, FakeAuditLog, FakeCountersignQueue, FakeFacilityRegistry,
                                 FakeManifestStore, FakeSecurityEvents)

__all__ = [
    "FakeAccessLog", "FakeApiCallStore", "FakeAuditAnchor", "FakeAuditLog", "FakeAuditSource", "FakeBatchStore",
    "FakeCleaningQueue", "FakeComplaintStore", "FakeCorrector", "FakeCounters", "FakeCountersignQueue",
    "FakeDeadLetters", "FakeDscRepository", "FakeFacilityHeads", "FakeFacilityRegistry", "FakeIdentities",
    "FakeImageCache", "FakeJwksSource", "FakeKeyRing", "FakeLoggedRevocations", "FakeManifestStore",
    "FakePassports", "FakeProbe", "FakeRateWindows", "FakeRecords", "FakeReportStore", "FakeSecurityEvents",
    "FakeUploadSource", "InMemoryRegistry", "fake_adapters", "fake_container",
]


def fake_adapters() -> dict[str, object]:
    """Every adapter the composition root builds, as a fresh fake, sharing state where the real
    adapters share a table (the records' cleaning moves the counters and the batch, a passport
    moves the counters, one countersign queue carries chunks and re-evaluations)."""
    counters = FakeCounters()
    batches = FakeBatchStore(counters)
    records = FakeRecords(counters, batches)
    passports = FakePassports(counters)
    queue = FakeCountersignQueue()
    manifests, audit = FakeManifestStore(), FakeAuditLog()
    return {
        "counters": counters, "correction_counters": counters, "batches": batches,
        "record_store": records, "cleaning_repository": records, "record_reader": records,
        "pending_records": records, "signing_records": records, "dose_source": records, "citizen_records": records,
        "report_store": FakeReportStore(), "upload_source": FakeUploadSource(),
        "api_calls": FakeApiCallStore(batches), "cleaning_queue": FakeCleaningQueue(),
        "rate_windows": FakeRateWindows(), "access_log": FakeAccessLog(), "registry": InMemoryRegistry(),
        "facility_registry": FakeFacilityRegistry(), "manifests": manifests, "audit_chain": audit,
        "countersign_queue": queue, "reevaluations": queue, "audit_anchor": FakeAuditAnchor(),
        "security_events": FakeSecurityEvents(), "passports": passports, "passport_reader": passports,
        "revocation_list": passports, "dscs": FakeDscRepository(), "key_ring": FakeKeyRing(),
        "image_cache": FakeImageCache(), "complaint_store": FakeComplaintStore(counters),
        "audit_source": FakeAuditSource(records, passports, counters, manifests, audit),
        "dead_letters": FakeDeadLetters(),
        "health_probes": [FakeProbe(name) for name in ("dynamodb", "sqs", "s3", "kms")],
    }


def fake_container(settings=None, **overrides):
    """The real composition root over fakes (`fake_adapters()`), with `overrides` on top:
    `fake_container(clock=lambda: T0).intake` is the real IntakeService over fakes."""
    from chalicelib.settings import Settings
    from chalicelib.wiring import Container

    return Container(settings or Settings(stage="test"), **{**fake_adapters(), **overrides})
