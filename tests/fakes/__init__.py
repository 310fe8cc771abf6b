"""One fake for every port, and the composition root built over them.

Naming: `Fake<Port>`, or `Fake<Store>` when one fake serves several ports the way one table
serves several adapters (`FakeRecords` is the records table behind RecordStore, CleaningRepository,
RecordReader, SigningRecords, DoseSource...). A test that needs a variation subclasses the fake
and names the subclass for what it does (`RecordsDown`, `CrashingStore`).

Each fake keeps its adapter's conditions, and the same contract test class runs on the fake and
on the real adapter against LocalStack (tests/contracts/, the LocalStack half marked
`integration`), so a test on a fake means something for production.

Which fake stands for which port, and its real adapter: the README's ports table (Architecture).
"""
from __future__ import annotations

from chalicelib.cleaning.registry import InMemoryRegistry
from tests.fakes.complaints import FakeComplaintStore, FakeCorrector, FakeFacilityHeads
from tests.fakes.intake import (FakeApiCallStore, FakeBatchStore, FakeCleaningQueue, FakeContinuations, FakeRateWindows,
                                FakeReportStore, FakeUploadSource)
from tests.fakes.issuance import (FakeChunkClaims, FakeDscRepository, FakeIdentities, FakeImageCache, FakeKeyRing,
                                  FakePassports)
from tests.fakes.platform import (FakeAccessLog, FakeDeadLetters, FakeJwksSource, FakeLoggedRevocations,
                                  FakeOperatorIdentity, FakeProbe)
from tests.fakes.privacy import FakePseudonyms, FakeSealer
from tests.fakes.records import FakeRecords
from tests.fakes.reports import FakeAuditSource, FakeCounters
from tests.fakes.rules import FakeRuleStore
from tests.fakes.trust_gateway import FakePublishedTrustList
from tests.fakes.trust import FakePublishedObjects, FakeTrustAnchor
from tests.fakes.signing import (FakeAuditAnchor, FakeAuditLog, FakeCountersignQueue, FakeFacilityRegistry,
                                 FakeManifestStore, FakeSecurityEvents)

__all__ = [
    "FakePseudonyms", "FakeSealer",
    "FakeAccessLog", "FakeApiCallStore", "FakeAuditAnchor", "FakeAuditLog", "FakeAuditSource", "FakeBatchStore",
    "FakeChunkClaims", "FakeCleaningQueue", "FakeComplaintStore", "FakeContinuations", "FakeCorrector", "FakeCounters",
    "FakeCountersignQueue",
    "FakeDeadLetters", "FakeDscRepository", "FakeFacilityHeads", "FakeFacilityRegistry", "FakeIdentities",
    "FakeImageCache", "FakeJwksSource", "FakeKeyRing", "FakeLoggedRevocations", "FakeManifestStore",
    "FakeOperatorIdentity",
    "FakePassports", "FakeProbe", "FakePublishedObjects", "FakeRateWindows", "FakeRecords", "FakeReportStore",
    "FakeRuleStore", "FakeSecurityEvents", "FakeTrustAnchor",
    "FakeUploadSource", "InMemoryRegistry", "fake_adapters", "fake_container",
    "FakePublishedTrustList",
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
        "pseudonyms": FakePseudonyms(), "sealer": FakeSealer(),
        "counters": counters, "correction_counters": counters, "batches": batches,
        "record_store": records, "cleaning_repository": records, "record_reader": records,
        "pending_records": records, "signing_records": records, "dose_source": records, "citizen_records": records,
        "report_store": FakeReportStore(), "upload_source": FakeUploadSource(),
        "api_calls": FakeApiCallStore(batches), "cleaning_queue": FakeCleaningQueue(),
        "intake_continuations": FakeContinuations(),
        "rate_windows": FakeRateWindows(), "access_log": FakeAccessLog(), "registry": InMemoryRegistry(),
        "facility_registry": FakeFacilityRegistry(), "manifests": manifests, "audit_chain": audit,
        "countersign_queue": queue, "reevaluations": queue, "audit_anchor": FakeAuditAnchor(),
        "security_events": FakeSecurityEvents(), "passports": passports, "passport_reader": passports,
        "chunk_claims": FakeChunkClaims(records, passports),
        "revocation_list": passports, "dscs": FakeDscRepository(), "key_ring": FakeKeyRing(),
        "image_cache": FakeImageCache(), "complaint_store": FakeComplaintStore(counters),
        "audit_source": FakeAuditSource(records, passports, counters, manifests, audit),
        "dead_letters": FakeDeadLetters(), "rule_store": FakeRuleStore(),
        "operator_identity": FakeOperatorIdentity(),
        "trust_anchor": FakeTrustAnchor(), "published_objects": FakePublishedObjects(),
        "health_probes": [FakeProbe(name) for name in ("dynamodb", "sqs", "s3", "kms")],
        "published_trust_list": FakePublishedTrustList(),
    }


def fake_container(settings=None, **overrides):
    """The real composition root over fakes (`fake_adapters()`), with `overrides` on top:
    `fake_container(clock=lambda: T0).intake` is the real IntakeService over fakes."""
    from chalicelib.settings import Settings
    from chalicelib.wiring import Container

    return Container(settings or Settings(stage="test"), **{**fake_adapters(), **overrides})
