"""The signing ports: the fakes of tests/fakes/signing.py and the adapters of aws/signing_adapters.py
and aws/audit_adapters.py keep the same contract: a facility's province fixed at its first
registration, manifests stored once and whole, chunk status items finished only by their own
message, an audit chain that never forks and logs a key once, countersign messages within SQS's
limit, checkpoints written once and signed, security events read back newest last."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib import errors
from chalicelib.signing import facility_pki as pki
from chalicelib.signing.audit import Checkpoint, verify_chain
from chalicelib.signing.manifest import DoseRecord, build_entries, build_manifest
from chalicelib.signing.facilities import Facility, FocalAgency, ProvinceFixed
from chalicelib.signing.service import CHUNK_DEAD_LETTERED, CHUNK_DONE, DuplicateAuditKey, QueuedChunk
from tests.contracts.conftest import BOTH, FAKE, own_queue, real
from tests.integration.helpers import drain_queue
from tests.fakes import (FakeAuditAnchor, FakeAuditLog, FakeCountersignQueue, FakeFacilityRegistry,
                         FakeManifestStore, FakeSecurityEvents)

NOW = datetime(2026, 1, 5, tzinfo=timezone.utc)


def _rnd(n: int) -> bytes:
    return random.randbytes(n)


@pytest.fixture(scope="module")
def ca():
    key = pki.generate_key("EC")
    return key, pki.issue_government_ca(key, now=NOW, valid_days=3650, random_bytes=_rnd)


def signer_pem(ca, subject_id: str, **kw) -> str:
    ca_key, ca_cert = ca
    cert = pki.issue_signer_certificate(pki.generate_key("EC").public_key(), ca_cert=ca_cert, ca_key=ca_key,
                                        subject_id=subject_id, name=subject_id, now=NOW, valid_days=365,
                                        random_bytes=_rnd, **kw)
    return pki.pem(cert)


# -- the facility registry ------------------------------------------------------------------------
@pytest.fixture(params=BOTH)
def registry(request):
    return FakeFacilityRegistry() if request.param == FAKE else real(request).facility_registry


class TestFacilityRegistryContract:
    def test_a_facility_keeps_its_province_and_every_certificate(self, registry, unique, ca):
        f = f"F{unique}"
        first, second = signer_pem(ca, f, province="079"), signer_pem(ca, f, province="079")
        registry.save_facility(Facility(f, "Trạm Y tế", "079", "BS. Lan", (first,)), NOW)
        registry.save_facility(Facility(f, "Trạm Y tế 2", "079", "BS. Hùng", (second,)), NOW)  # rotation
        got = registry.get_facility(f)
        assert (got.name, got.province, got.head) == ("Trạm Y tế 2", "079", "BS. Hùng")
        assert sorted(got.certificates) == sorted([first, second])
        with pytest.raises(ProvinceFixed):
            registry.save_facility(Facility(f, "x", "001", "h"), NOW)
        assert registry.get_facility(f).province == "079" and registry.get_facility(f"{f}-absent") is None

    def test_provinces_of_registered_facilities_only(self, registry, unique):
        a, b = f"A{unique}", f"B{unique}"
        registry.save_facility(Facility(a, "a", "001", "h"), NOW)
        registry.save_facility(Facility(b, "b", "079", "h"), NOW)
        assert registry.provinces({a, b, f"N{unique}"}) == {a: "001", b: "079"}
        assert registry.provinces(set()) == {}

    def test_focal_agencies_by_province_and_trusted_cas(self, registry, unique, ca):
        agency = f"CDC{unique}"
        pem = signer_pem(ca, agency, province="079", focal_agency=True)
        registry.save_focal_agency(FocalAgency(agency, "HCM CDC", "079", (pem,)), NOW)
        with pytest.raises(ProvinceFixed):
            registry.save_focal_agency(FocalAgency(agency, "HCM CDC", "001", ()), NOW)
        mine = [a for a in registry.focal_agencies("079") if a.agency_id == agency]
        assert [(a.name, a.province, a.certificates) for a in mine] == [("HCM CDC", "079", (pem,))]
        assert [a for a in registry.focal_agencies("001") if a.agency_id == agency] == []
        ca_pem = pki.pem(ca[1])
        registry.save_ca(ca_pem, NOW)
        registry.save_ca(ca_pem, NOW)
        assert registry.ca_certificates().count(ca_pem) == 1


# -- manifests and their chunks ------------------------------------------------------------------
@pytest.fixture(params=BOTH)
def manifests(request):
    return FakeManifestStore() if request.param == FAKE else real(request).manifests


def manifest(batch_id: str, people: int) -> dict:
    doses = {f"0792{i:08d}": [DoseRecord("F1", f"R{i}", 1, "d" * 64, 1, "2021-08-01", "EU/1/20/1528")]
             for i in range(people)}
    return build_manifest(batch_id=batch_id, facility_id="F1", created_at=NOW.isoformat(),
                          expires_at=(NOW + timedelta(days=3)).isoformat(), entries=build_entries(doses))


class TestManifestStoreContract:
    def test_a_manifest_is_stored_once_and_read_back_whole(self, manifests, unique):
        m = manifest(f"SB{unique}", 450)  # more entries than one item holds
        manifests.put(m)
        stored = manifests.get(m["batch_id"])
        assert stored.status == "OPEN" and stored.manifest == m
        with pytest.raises(errors.Conflict):
            manifests.put(m)
        assert manifests.get(f"SB{unique}-absent") is None

    def test_the_status_only_moves_forward(self, manifests, unique):
        m = manifest(f"SB{unique}", 1)
        manifests.put(m)
        manifests.set_status(m["batch_id"], "ATTESTED", NOW)
        manifests.set_status(m["batch_id"], "DISPATCHED", NOW)
        manifests.set_status(m["batch_id"], "ATTESTED", NOW)  # a late repeat never undoes DISPATCHED
        assert manifests.get(m["batch_id"]).status == "DISPATCHED"

    def test_a_chunk_is_finished_only_by_a_message_with_its_first_index_and_size(self, manifests, unique):
        batch = f"SB{unique}"
        manifests.chunks_queued(batch, "F1", [QueuedChunk(0, 0, ("A", "B")), QueuedChunk(1, 2, ("C",))],
                                pending_until=NOW + timedelta(days=18), now=NOW)
        assert not manifests.finish_chunk(batch, 1, first_index=0, size=2, status=CHUNK_DONE, refused=[], now=NOW)
        assert not manifests.finish_chunk(batch, 7, first_index=0, size=2, status=CHUNK_DONE, refused=[], now=NOW)
        assert manifests.finish_chunk(batch, 0, first_index=0, size=2, status=CHUNK_DEAD_LETTERED, refused=[1],
                                      now=NOW)
        assert manifests.finish_chunk(batch, 1, first_index=2, size=1, status=CHUNK_DONE, refused=[], now=NOW)


# -- the audit log -------------------------------------------------------------------------------
@pytest.fixture(params=BOTH)
def audit(request):
    return FakeAuditLog() if request.param == FAKE else real(request).audit_chain


class TestAuditLogContract:
    def test_appends_link_into_one_chain_and_each_key_is_logged_once(self, audit, unique):
        s1, h1 = audit.append({"type": "t", "n": 1, "name": "Đào"}, unique_key=f"k1:{unique}")
        s2, h2 = audit.append({"type": "t", "n": 2}, unique_key=f"k2:{unique}")
        assert s2 == s1 + 1
        found = audit.find(f"k1:{unique}")
        assert (found.sequence, found.entry_hash, found.entry) == (s1, h1, {"type": "t", "n": 1, "name": "Đào"})
        assert audit.find(f"k3:{unique}") is None
        # the same entry again is a retried append whose answer was lost; another entry is refused
        assert audit.append({"type": "t", "n": 1, "name": "Đào"}, unique_key=f"k1:{unique}") == (s1, h1)
        with pytest.raises(DuplicateAuditKey):
            audit.append({"type": "t", "n": 99}, unique_key=f"k1:{unique}")
        entries = list(audit.entries())
        assert [e.sequence for e in entries] == list(range(1, len(entries) + 1))
        assert verify_chain(entries).ok and entries[s2 - 1].prev_hash == h1 and entries[s2 - 1].entry_hash == h2


# -- the countersign queue ------------------------------------------------------------------------
@pytest.fixture(params=BOTH)
def countersign_queue(request, unique):
    """(the queue, a function returning the messages sent)"""
    if request.param == FAKE:
        fake = FakeCountersignQueue()
        return fake, lambda: fake.messages
    from chalicelib.adapters.signing.countersign_queue import SqsCountersignQueue

    c = real(request)
    url = own_queue(c, unique)
    queue = SqsCountersignQueue(c.client("sqs"), url, pseudonyms=c.pseudonyms, sealer=c.sealer)
    return queue, lambda: [queue.open(m) for m in drain_queue(c.client("sqs"), url)]


class TestCountersignQueueContract:
    def test_chunks_and_reevaluations_are_sent_as_the_worker_reads_them(self, countersign_queue):
        queue, sent = countersign_queue
        ref = {"sequence": 3, "entry_hash": "ab" * 32}
        assert queue.enqueue("SB1", ref, [[{"citizen_id": "A", "index": 0}], [{"citizen_id": "B", "index": 1}]]) == 2
        assert queue.reevaluate(["001090012345", "079188054321"]) == 2
        got = sorted(sent(), key=lambda m: (m["kind"], m.get("chunk", 0), m.get("citizen_id", "")))
        assert got == [
            {"kind": "facility-attested", "batch_id": "SB1", "chunk": 0, "chunks": 2, "attestation": ref,
             "entries": [{"citizen_id": "A", "index": 0}]},
            {"kind": "facility-attested", "batch_id": "SB1", "chunk": 1, "chunks": 2, "attestation": ref,
             "entries": [{"citizen_id": "B", "index": 1}]},
            {"kind": "reevaluate", "citizen_id": "001090012345"}, {"kind": "reevaluate", "citizen_id": "079188054321"}]

    def test_a_chunk_over_the_message_limit_is_refused_and_nothing_is_sent(self, countersign_queue):
        queue, sent = countersign_queue
        with pytest.raises(errors.ValidationError):
            queue.enqueue("SB1", {}, [[{"citizen_id": "A", "proof": ["ab" * 32] * 5000}]])
        assert sent() == []


# -- the audit anchor -----------------------------------------------------------------------------
@pytest.fixture(params=BOTH)
def anchor(request):
    return FakeAuditAnchor() if request.param == FAKE else real(request).audit_anchor


class TestAuditAnchorContract:
    def test_a_checkpoint_is_written_once_signed_and_read_back(self, anchor, unique):
        seq = 10**9 + int(unique, 16) % 10**9  # a sequence of this test's own
        anchor.write(Checkpoint(seq, "aa" * 32, NOW.isoformat()))
        anchor.write(Checkpoint(seq, "bb" * 32, NOW.isoformat()))  # a second write keeps the first
        signed = anchor.checkpoint(seq)
        assert (signed.checkpoint.sequence, signed.checkpoint.head_hash) == (seq, "aa" * 32)
        assert signed.verifies(anchor.public_key())
        assert seq in anchor.sequences() and anchor.load(seq).checkpoint == signed.checkpoint
        assert anchor.checkpoint(seq + 1) is None and anchor.load(seq + 1) is None


# -- security events ------------------------------------------------------------------------------
@pytest.fixture(params=BOTH)
def events(request):
    return FakeSecurityEvents() if request.param == FAKE else real(request).security_events


class TestSecurityEventsContract:
    def test_events_are_kept_and_read_back_newest_last(self, events, unique):
        # A time of this test's own, later than any other test's events in the bucket
        at = datetime(2099, 1, 1, tzinfo=timezone.utc) + timedelta(days=int(unique, 16) % 10_000)
        first = events.record({"event": "countersign_chunk_refused", "batch_id": f"SB{unique}"}, at)
        second = events.record({"event": "countersign_entries_not_attested", "batch_id": f"SB{unique}"},
                               at + timedelta(seconds=1))
        latest = events.latest(2)
        assert [e["key"] for e in latest] == [first, second]
        assert latest[1] == {"key": second, "event": "countersign_entries_not_attested", "batch_id": f"SB{unique}",
                             "at": (at + timedelta(seconds=1)).isoformat(timespec="seconds")}
        assert events.latest(0) == []
