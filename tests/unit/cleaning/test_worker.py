"""The cleaning worker (VerificationWorker): the real service, built by the composition root over the
fakes, fed the references intake queued. Each version is verified once; a stale message (the
record changed since), a redelivered one (verified already) and a lost race to another worker
store nothing; the counters move from the old outcome to the new one; only the disclosed view
of the result is stored. (Through SQS and DynamoDB: tests/integration/test_cleaning_pipeline.py.)"""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timezone

from chalicelib.auth.principal import Principal, Role
from chalicelib.intake.records import RegistryPerson
from chalicelib.wiring import Container
from tests.fakes import FakeFacilityRegistry, InMemoryRegistry, fake_container

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)
HOA = RegistryPerson("001085012345", "Đặng Văn Hòa", date(1985, 3, 12), "M", "001")
HUNG = RegistryPerson("001085099999", "Đặng Văn Hùng", date(1985, 3, 12), "M", "001")
F1 = Principal("s-f1", Role.FACILITY, facility_id="F1", province_code="001")


def world() -> Container:
    return fake_container(registry=InMemoryRegistry([HOA, HUNG]), facility_registry=FakeFacilityRegistry({"F1": "001"}),
                          clock=lambda: NOW)


def row(record_id="R1", **changes) -> dict:
    return {"record_id": record_id, "facility_id": "F1", "citizen_id": HOA.citizen_id, "full_name": HOA.full_name,
            "date_of_birth": "1985-03-12", "sex": "M", "province_code": "001", "vaccine_product": "Pfizer",
            "dose_number": "1", "vaccination_date": "2021-08-01", **changes}


def submitted(c: Container, *rows: dict, key: str = "k1") -> list:
    """Stores the rows through intake and returns the references it queued for cleaning."""
    c.cleaning_queue.messages.clear()
    c.submission.submit(records=list(rows), idempotency_key=key, facility_id=None, writer=F1)
    return [list(r) for r in c.cleaning_queue.refs]


def test_a_stored_version_is_verified_once_and_counted_with_its_batch():
    c = world()
    refs = submitted(c, row("R1"), row("R2", full_name="ĐẶNG VĂN HÒA"),  # another case: normalised
                     row("R3", citizen_id="", full_name="Lê Vô Danh"))
    stats = c.verification.verify(refs)
    assert (stats.verified, stats.skipped_stale, stats.skipped_done, stats.lost_race) == (3, 0, 0, 0)
    states = {k[1]: i["state"] for k, i in c.record_store.items.items()}
    assert states == {"R1": "VERIFIED", "R2": "VERIFIED_NORMALIZED", "R3": "NOT_FOUND"}
    assert c.record_store.items[("F1", "R1")]["matched_citizen_id"] == HOA.citizen_id
    assert (c.counters.total("FAC#F1", "verified"), c.counters.total("FAC#F1", "verified_normalized"),
            c.counters.total("PROV#001", "not_found")) == (1, 1, 1)
    batch = c.record_store.items[("F1", "R1")]["batch_id"]
    assert c.batches.get(batch)["cleaned"] == 3
    # a redelivered message: every version is cleaned already
    again = c.verification.verify(refs)
    assert (again.verified, again.skipped_done) == (0, 3) and c.counters.total("FAC#F1", "verified") == 1


def test_a_message_for_a_version_replaced_since_or_a_record_never_stored_does_nothing():
    c = world()
    old = submitted(c, row("R1"))
    submitted(c, row("R1", dose_number="2"), key="k2")  # version 2, with its own message
    stats = c.verification.verify(old + [["F1", "R9", 1]])
    assert (stats.verified, stats.skipped_stale) == (0, 2)
    assert c.record_store.items[("F1", "R1")]["state"] == "PENDING"


def test_a_version_another_worker_verified_first_is_a_lost_race_counted_once():
    c = world()
    refs = submitted(c, row("R1"))
    # a concurrent delivery of the same message stores its result between this one's read and write
    c.record_store.before_next_save = c.record_store.save_results
    stats = c.verification.verify(refs)
    assert (stats.verified, stats.lost_race) == (0, 1)
    assert c.counters.total("FAC#F1", "verified") == 1  # by the worker that won


def test_a_corrected_record_moves_its_count_from_the_old_outcome_to_the_new():
    c = world()
    c.verification.verify(submitted(c, row("R1", full_name="Đặng Văn Hưởng")))  # a typo: MISMATCH
    assert c.counters.total("FAC#F1", "mismatched") == 1
    c.corrections.correct("F1", "R1", writer=F1, changes={"full_name": HOA.full_name})
    c.verification.verify([list(r) for r in c.cleaning_queue.refs])
    assert (c.counters.total("FAC#F1", "mismatched"), c.counters.total("FAC#F1", "verified")) == (0, 1)
    assert c.counters.total("FAC#F1", "received") == 1  # one record, two versions


def test_what_is_stored_of_a_result_is_the_disclosed_view_only():
    c = world()
    c.verification.verify(submitted(c, row("R1", citizen_id="", full_name="Đặng Văn Hoà")))  # no id typed
    stored = c.record_store.items[("F1", "R1")]["cleaning"]
    assert "candidates" not in stored and "confidence" not in stored
    assert HUNG.citizen_id not in str(stored)  # the other person sharing the name's keys


# -- per chunk: a few requests, whatever its size ---------------------------------------------------
LAN = RegistryPerson("002090011111", "Trần Thị Lan", date(1990, 7, 1), "F", "002")
F2 = Principal("s-f2", Role.FACILITY, facility_id="F2", province_code="002")


class CountedRegistry(InMemoryRegistry):
    """The offline registry adapter, counting its calls as the DynamoDB adapter's requests are."""

    def __init__(self, people) -> None:
        super().__init__(people)
        self.calls: Counter = Counter()

    def get(self, citizen_id):
        self.calls["get"] += 1
        return super().get(citizen_id)

    def get_many(self, citizen_ids):
        self.calls["get_many"] += 1
        return super().get_many(citizen_ids)

    def candidates(self, block_key):
        self.calls["candidates"] += 1
        return super().candidates(block_key)

    def candidates_many(self, block_keys):
        self.calls["candidates_many"] += 1
        return super().candidates_many(block_keys)


def two_provinces(registry=None) -> Container:
    return fake_container(registry=registry or InMemoryRegistry([HOA, HUNG, LAN]), clock=lambda: NOW,
                          facility_registry=FakeFacilityRegistry({"F1": "001", "F2": "002"}))


def lan_row(record_id: str, **changes) -> dict:
    return row(record_id, facility_id="F2", citizen_id=LAN.citizen_id, full_name=LAN.full_name,
               date_of_birth="1990-07-01", sex="F", province_code="002", **changes)


def test_a_chunk_reads_the_registry_once_and_stores_its_results_at_once():
    registry = CountedRegistry([HOA, HUNG])
    c = two_provinces(registry)
    clean_rows = [row(f"R{i}") for i in range(40)]
    dirty = [row("D1", full_name="Dang Van Hoa"), row("D2", citizen_id="", full_name="Đặng Văn Hòa")]
    refs = submitted(c, *clean_rows, *dirty)
    c.record_store.requests.clear()
    stats = c.verification.verify(refs)
    assert stats.verified == 42
    # one read of the chunk's records, of the people its ids name, of the blocks of the two
    # records the id did not settle, and one store of every result: never one request per record
    assert dict(registry.calls) == {"get_many": 1, "candidates_many": 1}
    assert (c.record_store.requests["load"], c.record_store.requests["save_results"]) == (1, 1)
    assert c.counters.total("FAC#F1", "verified") == 40 and c.counters.total("NATIONAL", "verified") == 40


def test_a_chunk_with_every_record_settled_by_its_id_queries_no_block():
    registry = CountedRegistry([HOA])
    c = two_provinces(registry)
    c.verification.verify(submitted(c, *(row(f"R{i}") for i in range(5))))
    assert dict(registry.calls) == {"get_many": 1}


def test_a_chunk_spanning_facilities_provinces_and_batches_counts_each_scope_once_per_record():
    c = two_provinces()
    refs = (submitted(c, row("R1"), row("R2", full_name="Đặng Văn Hưởng"), key="k1")
            + [list(r) for r in _submitted_by(c, F2, lan_row("L1"), lan_row("L2"), lan_row("L3"))])
    stats = c.verification.verify(refs)
    assert stats.verified == 5
    assert (c.counters.total("FAC#F1", "verified"), c.counters.total("FAC#F1", "mismatched"),
            c.counters.total("FAC#F2", "verified"), c.counters.total("PROV#001", "verified"),
            c.counters.total("PROV#002", "verified"), c.counters.total("NATIONAL", "verified"),
            c.counters.total("NATIONAL", "mismatched")) == (1, 1, 3, 1, 3, 4, 1)
    batches = {i["batch_id"] for i in c.record_store.items.values()}
    assert sorted(c.batches.get(b)["cleaned"] for b in batches) == [2, 3]
    again = c.verification.verify(list(reversed(refs)))  # redelivered, in another order
    assert (again.verified, again.skipped_done) == (0, 5)
    assert c.counters.total("NATIONAL", "verified") == 4
    assert sorted(c.batches.get(b)["cleaned"] for b in batches) == [2, 3]


def _submitted_by(c: Container, writer: Principal, *rows: dict) -> list:
    c.cleaning_queue.messages.clear()
    c.submission.submit(records=list(rows), idempotency_key="k-" + writer.subject, facility_id=None, writer=writer)
    return list(c.cleaning_queue.refs)


def test_a_chunk_partly_cleaned_by_another_worker_stores_the_rest_and_counts_each_once():
    c = two_provinces()
    refs = submitted(c, *(row(f"R{i}") for i in range(6)))

    def another_worker_cleans_two(cleaned, now):
        # between this worker's read and its write, another delivery stores R1 and R4
        c.record_store.save_results([x for x in cleaned if x.record.record_id in ("R1", "R4")], now)

    c.record_store.before_next_save = another_worker_cleans_two
    stats = c.verification.verify(refs)
    assert (stats.verified, stats.lost_race) == (4, 2)
    assert all(i["state"] == "VERIFIED" for i in c.record_store.items.values())
    batch = c.record_store.items[("F1", "R1")]["batch_id"]
    assert (c.counters.total("FAC#F1", "verified"), c.counters.total("NATIONAL", "verified"),
            c.batches.get(batch)["cleaned"]) == (6, 6, 6)


def test_attack_chunk_naming_a_version_twice_is_verified_and_counted_once():
    c = two_provinces()
    refs = submitted(c, row("R1"), row("R2"))
    # a forged or replayed message repeating a reference, and naming another version of it
    stats = c.verification.verify(refs + refs + [["F1", "R1", 7]])
    assert (stats.verified, stats.skipped_done, stats.skipped_stale) == (2, 2, 1)
    batch = c.record_store.items[("F1", "R1")]["batch_id"]
    assert (c.counters.total("FAC#F1", "verified"), c.batches.get(batch)["cleaned"]) == (2, 2)
