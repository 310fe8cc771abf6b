"""Cleaning per chunk on LocalStack: a chunk larger than one transaction, spanning two facilities,
provinces and batches, delivered through the real cleaning queue and handler while another worker
stores part of it first. The transactions cancelled by those records' conditions are sent again
without them; every record is cleaned once and every counter and batch count moves once per
record, however the chunk was split and retried."""
from __future__ import annotations

import json
from datetime import date

import pytest

from chalicelib.adapters.cleaning.repository import DynamoCleaningRepository, transaction_groups
from chalicelib.auth.principal import Principal, Role
from chalicelib.intake.records import RegistryPerson
from tests.integration.helpers import register_facilities

pytestmark = pytest.mark.integration


class AnotherWorkerFirst(DynamoCleaningRepository):
    """The real adapter, with another delivery of the same chunk storing some of its records
    between this worker's read and its write (a lost race inside a transaction)."""

    def __init__(self, tables, keys: set[tuple[str, str]]) -> None:
        super().__init__(tables)
        self.keys = keys
        self.lost: set = set()

    def save_results(self, cleaned, now):
        # (the shared queue may hold other tests' leftover messages: only this test's chunk races)
        first = [c for c in cleaned if (c.record.facility_id, c.record.record_id) in self.keys]
        if first:
            self.keys = set()
            self.lost = DynamoCleaningRepository(self._t).save_results(first, now)
        return super().save_results(cleaned, now)


def test_a_chunk_split_over_transactions_with_lost_races_counts_every_record_once(stack, runner, unique):
    from chalicelib.wiring import Container, set_container

    settings, _ = stack
    # ids of this test's own: province, a woman born in the 1900s, birth year 90, then serial digits
    people = [RegistryPerson(f"{p}190{int(unique, 16) % 10**4:04d}{i:02d}", name, date(1990, 1, 1 + i % 28), "F", p)
              for p, name in (("001", "Nguyễn Thị Mai"), ("079", "Trần Thị Lan")) for i in range(70)]
    fa, fb = f"A{unique}", f"B{unique}"
    register_facilities(settings, (fa, "001"), (fb, "079"))
    c = Container(settings)
    c.registry.import_people(people)
    # intake queues its own messages (one per batch) on a queue of this test's, not the worker's:
    # the worker gets one message naming both batches
    from chalicelib.adapters.intake.cleaning_queue import SqsCleaningQueue

    aside = c.client("sqs").create_queue(QueueName=f"{settings.resource_prefix}-q-{unique}")["QueueUrl"]
    intake = Container(settings, cleaning_queue=SqsCleaningQueue(c.client("sqs"), aside, 100))

    def rows(facility, province, who):
        return [{"record_id": f"R{i}", "facility_id": facility, "citizen_id": p.citizen_id,
                 "full_name": p.full_name if i % 10 else p.full_name.replace("Thị", "Thi"),  # a few unaccented
                 "date_of_birth": p.date_of_birth.isoformat(), "sex": "F", "province_code": province,
                 "vaccine_product": "Pfizer", "dose_number": "1", "vaccination_date": "2021-08-01"}
                for i, p in enumerate(who)]

    for facility, province, who in ((fa, "001", people[:70]), (fb, "079", people[70:])):
        writer = Principal(f"s-{facility}", Role.FACILITY, facility_id=facility, province_code=province)
        answer = intake.submission.submit(records=rows(facility, province, who), idempotency_key=f"k-{facility}",
                                     facility_id=None, writer=writer)
        assert answer["accepted"] == 70, answer["results"][:1]
    # Given one message naming all 140 records (more than one transaction holds)
    refs = [[f, f"R{i}", 1] for f in (fa, fb) for i in range(70)]
    c.client("sqs").send_message(QueueUrl=c.queue_urls("cleaning"),
                                 MessageBody=json.dumps({"batch_id": "mixed", "records": refs}))
    # When the worker handles it while another worker stores records of both transactions first
    racing = AnotherWorkerFirst(c.tables, {(f, r) for f in (fa, fb) for r in ("R3", "R65")})
    set_container(Container(settings, cleaning_repository=racing))
    runner.drain(idle_rounds=2, max_seconds=60)
    c.client("sqs").delete_queue(QueueUrl=aside)

    # Then every record is cleaned once, by one worker or the other
    assert len(racing.lost) == 4
    loaded = c.cleaning_repository.load([(f, r) for f, r, _v in refs])
    assert len(loaded) == 140 and all(r.cleaned_version == 1 for r in loaded.values())
    states = {k: r.counted_state for k, r in loaded.items()}
    assert set(states.values()) == {"VERIFIED", "MISMATCH"}
    # and each scope counts each record once
    totals = c.counters.totals([f"FAC#{fa}", f"FAC#{fb}"])
    for facility in (fa, fb):
        mine = [s for (f, _r), s in states.items() if f == facility]
        assert totals[f"FAC#{facility}"]["verified"] == mine.count("VERIFIED")
        assert totals[f"FAC#{facility}"]["mismatched"] == mine.count("MISMATCH")
        assert totals[f"FAC#{facility}"]["received"] == 70
    batches = {r.batch_id for r in loaded.values()}
    assert len(batches) == 2 and all(c.batches.get(b)["cleaned"] == 70 for b in batches)


def test_a_transaction_never_holds_more_than_100_items():
    from chalicelib.cleaning.matcher import CleaningResult, Outcome
    from chalicelib.cleaning.worker import Cleaned, RecordForCleaning

    def cleaned(i, facility, province, batch):
        rec = RecordForCleaning(facility, f"R{i}", province, 1, 0, None, batch, {}, {})
        return Cleaned(rec, CleaningResult(f"R{i}", Outcome.VERIFIED), {})

    one_scope = [cleaned(i, "F1", "001", "b1") for i in range(250)]
    # NATIONAL, PROV#001, FAC#F1 and the batch take 4 items: 96 records per transaction
    assert [len(g) for g in transaction_groups(one_scope)] == [96, 96, 58]
    spread = [cleaned(i, f"F{i % 30}", f"{i % 7:03d}", f"b{i % 5}") for i in range(300)]
    for group in transaction_groups(spread):
        extra = ({f"FAC#{c.record.facility_id}" for c in group} | {f"PROV#{c.record.province_code}" for c in group}
                 | {c.record.batch_id for c in group} | {"NATIONAL"})
        assert len(group) + len(extra) <= 100
