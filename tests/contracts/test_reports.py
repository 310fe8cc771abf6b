"""The counters and the reconciliation's view of the tables: FakeCounters and FakeAuditSource
(tests/fakes/reports.py) against DynamoCounters, DynamoCorrectionCounters and DynamoAuditSource.
Both are seeded through the other ports (records stored and cleaned, passports issued, chunks
dispatched, attestations logged), as the pipeline writes them."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.cleaning.matcher import CleaningResult, Outcome
from chalicelib.cleaning.worker import Cleaned
from chalicelib.intake.service import NewRecord
from chalicelib.signing.service import QueuedChunk
from tests.contracts.conftest import BOTH, FAKE, real
from tests.contracts.test_passports import passport
from tests.contracts.test_records import attest, record, table_records
from tests.fakes import (FakeAuditLog, FakeAuditSource, FakeCounters, FakeManifestStore, FakePassports,
                         FakeRecords)

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)


@pytest.fixture(params=BOTH)
def stores(request):
    """The ports the counters and the reconciliation read, fake or real, as one namespace."""
    if request.param == FAKE:
        counters = FakeCounters()
        records, passports = FakeRecords(counters), FakePassports(counters)
        manifests, audit = FakeManifestStore(), FakeAuditLog()
        return dict(counters=counters, corrections=counters, records=records, passports=passports,
                    manifests=manifests, audit=audit,
                    source=FakeAuditSource(records, passports, counters, manifests, audit))
    c = real(request)
    return dict(counters=c.counters, corrections=c.correction_counters, records=table_records(c), passports=c.passports,
                manifests=c.manifests, audit=c.audit_chain, source=c.audit_source)


def totals(counters, *pks) -> dict:
    found = counters.totals(list(pks))
    return {pk: {k: v for k, v in found.get(pk, {}).items() if v} for pk in pks}


class TestCountersContract:
    def test_an_event_moves_the_nation_its_province_and_its_facility_together(self, stores, unique):
        counters, facility = stores["counters"], f"F{unique}"
        before = totals(counters, "NATIONAL", "PROV#079")
        counters.add(facility, "079", signed_by_facility=12, complaints_received=0)
        stores["corrections"].corrected(facility, "079")
        after = totals(counters, "NATIONAL", "PROV#079", f"FAC#{facility}")
        for pk in ("NATIONAL", "PROV#079"):
            assert after[pk].get("signed_by_facility", 0) - before[pk].get("signed_by_facility", 0) == 12
            assert after[pk].get("corrected", 0) - before[pk].get("corrected", 0) == 1
        assert after[f"FAC#{facility}"] == {"signed_by_facility": 12, "corrected": 1}
        assert facility in counters.facilities("079") and facility not in counters.facilities("001")
        assert counters.facilities("079")[facility]["signed_by_facility"] == 12
        with pytest.raises(ValueError):
            counters.add(facility, "079", not_a_counter=1)
        assert totals(counters, f"FAC#{facility}-absent") == {f"FAC#{facility}-absent": {}}

    def test_a_fix_sets_a_counter_only_if_nothing_moved_it(self, stores, unique):
        counters, facility = stores["counters"], f"F{unique}"
        counters.add(facility, "079", corrected=3)
        assert not counters.set_if_unchanged(f"FAC#{facility}", "TOTAL", "corrected", 2, 9)
        assert counters.set_if_unchanged(f"FAC#{facility}", "TOTAL", "corrected", 3, 9)
        assert counters.set_if_unchanged(f"FAC#{facility}", "TOTAL", "verified", 0, 4)  # absent counts as 0
        assert totals(counters, f"FAC#{facility}")[f"FAC#{facility}"] == {"corrected": 9, "verified": 4}
        assert ((f"FAC#{facility}", "TOTAL"), counters.totals([f"FAC#{facility}"])[f"FAC#{facility}"]) in list(
            counters.scan_all())

    def test_a_scope_written_many_times_reads_and_scans_as_one_sum(self, stores, unique):
        # The real adapter spreads PROV# and NATIONAL over write shards; both reads sum them.
        counters = stores["counters"]
        before = totals(counters, "PROV#094")["PROV#094"].get("complaints_resolved", 0)
        for _ in range(40):
            counters.add(f"F{unique}", "094", complaints_resolved=1)
        after = counters.totals(["PROV#094"])["PROV#094"]
        assert after["complaints_resolved"] == before + 40
        scanned = list(counters.scan_all())
        assert [v for key, v in scanned if key == ("PROV#094", "TOTAL")] == [after]
        keys = [key for key, _ in scanned]
        assert len(keys) == len(set(keys)) and not [pk for pk, _ in keys if "#S" in pk]

    def test_a_fix_of_a_sharded_scope_sets_its_sum_only_if_nothing_moved_it(self, stores, unique):
        counters, name = stores["counters"], "countersign_entries_not_attested"
        for _ in range(10):
            counters.add(f"F{unique}", "095", **{name: 1})
        now = counters.totals(["PROV#095"])["PROV#095"][name]
        assert not counters.set_if_unchanged("PROV#095", "TOTAL", name, now - 1, 3)
        assert counters.set_if_unchanged("PROV#095", "TOTAL", name, now, 3)
        after = counters.totals(["PROV#095"])["PROV#095"]
        assert after[name] == 3 and (("PROV#095", "TOTAL"), after) in list(counters.scan_all())

    def test_passports_are_counted_per_day_of_issue(self, stores, unique):
        counters, passports = stores["counters"], stores["passports"]
        day = NOW.date() + timedelta(days=int(unique, 16) % 3000)  # a day of this test's own
        at = datetime.combine(day, NOW.timetz())
        cid = f"7{int(unique, 16) % 10**11:011d}"
        passports.save_new(passport(cid, 1), None, [], at)
        issued = counters.issued_per_day("PROV#001", day - timedelta(days=1), day)
        assert issued.get(day) == 1 and issued.get(day - timedelta(days=1), 0) == 0


class TestAuditSourceContract:
    def test_the_facts_of_records_passports_chunks_and_attestations(self, stores, unique):
        records, passports, source = stores["records"], stores["passports"], stores["source"]
        facility, batch = f"F{unique}", f"SB{unique}"
        a, b = f"6{int(unique, 16) % 10**11:011d}", f"5{int(unique, 16) % 10**11:011d}"
        # two records of the facility: one verified (matched to b) and attested in `batch`, one pending
        records.put_many([NewRecord(record(facility, "R1", citizen=b), "b1", 1),
                          NewRecord(record(facility, "R2", citizen=a), "b1", 2)], NOW)
        rec = records.load([(facility, "R1")])[(facility, "R1")]
        records.save_results([Cleaned(rec, CleaningResult("R1", Outcome.VERIFIED, matched_citizen_id=b), {})], NOW)
        attest(records, {(facility, "R1")}, batch)
        mine = sorted((f.counted_state or "") for f in source.record_facts() if f.facility_id == facility)
        assert mine == ["", "VERIFIED"]
        # a's passport: version 1 on an earlier attestation, then version 2 over it
        seq, _ = stores["audit"].append({"type": "batch-attestation", "batch_id": batch}, unique_key=f"batch:{batch}")
        passports.save_new(passport(a, 1, sequence=seq - 1, facility=facility), None, [], NOW)
        passports.save_new(passport(a, 2, sequence=seq, batch=batch, facility=facility), passports.current(a), [], NOW)
        facts = sorted((f.version, f.created_day, f.revoked_in_place, f.issued_over_revocation)
                       for f in source.passport_facts() if f.facility_id == facility)
        assert facts == [(1, "2026-01-05", False, False), (2, "2026-01-05", False, False)]
        # the chunk that carried a and b, processed
        stores["manifests"].chunks_queued(batch, facility, [QueuedChunk(0, 0, (a, b))],
                                          pending_until=NOW + timedelta(days=18), now=NOW)
        assert [(c.chunk, c.status, c.people) for c in source.chunk_facts(queued_only=True)
                if c.batch_id == batch] == [(0, "QUEUED", (a, b))]
        stores["manifests"].finish_chunk(batch, 0, first_index=0, size=2, status="DEAD_LETTERED", refused=[1], now=NOW)
        [chunk] = [c for c in source.chunk_facts(queued_only=False) if c.batch_id == batch]
        assert (chunk.facility_id, chunk.status, chunk.first_index, chunk.refused) == (facility, "DEAD_LETTERED", 0,
                                                                                      (1,))
        assert chunk.pending_until == NOW + timedelta(days=18)
        assert [c for c in source.chunk_facts(queued_only=True) if c.batch_id == batch] == []
        # who holds a passport, on which attestation; the batch's attestation; b's claim released
        holders = source.passport_holders([a, b])
        assert set(holders) == {a} and holders[a].attestation_sequence == seq and holders[a].held_by is None
        assert holders[a].batches == frozenset({batch})
        assert source.attestation_sequence(batch) == seq and source.attestation_sequence(f"{batch}-absent") is None
        assert source.release_claims(batch, b, NOW) == 1 and source.release_claims(batch, b, NOW) == 0
