"""The cleaning worker (VerificationWorker): the real service, built by the composition root over the
fakes, fed the references intake queued. Each version is verified once; a stale message (the
record changed since), a redelivered one (verified already) and a lost race to another worker
store nothing; the counters move from the old outcome to the new one; only the disclosed view
of the result is stored. (Through SQS and DynamoDB: tests/integration/test_cleaning_pipeline.py.)"""
from __future__ import annotations

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
