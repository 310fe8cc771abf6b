"""A file's chunks stored two at a time, new records written without reading them first, and a
file's facilities read once (chalicelib/intake/service.py): none of it may change what a file
stores, counts or reports. The real service over the fakes, chunks of 5 rows."""
from __future__ import annotations

import threading

from tests.fakes import FakeFacilityRegistry, FakeRecords, fake_container
from tests.unit.intake.test_intake_service import NOW, csv_of, row, uploaded


def world(records, registry=None):
    return fake_container(facility_registry=registry or FakeFacilityRegistry({"F1": "001"}), intake_chunk_rows=5,
                          record_store=records, clock=lambda: NOW)


class FirstChunkSlow(FakeRecords):
    """The first chunk's write waits until the next chunk has written (or 1 s): without the
    file-order rule the second chunk would overtake it."""

    def __init__(self) -> None:
        super().__init__()
        self.second_wrote = threading.Event()
        self.first = True

    def put_many(self, records, now):
        if self.first:
            self.first = False
            self.second_wrote.wait(1.0)
            return super().put_many(records, now)
        try:
            return super().put_many(records, now)
        finally:
            self.second_wrote.set()


def test_attack_a_record_repeated_in_the_next_chunk_cannot_overtake_its_earlier_row():
    records = FirstChunkSlow()
    c = world(records)
    # Given a file whose row 2 stores R000 and whose row 7, in the next chunk, corrects it
    rows = [row(i) for i in range(5)] + [row(0, lot_number="CORRECTED")] + [row(i) for i in range(5, 9)]
    state = c.intake.ingest_stored(uploaded(c, csv_of(rows)))
    # Then the later row is the later version, as if the chunks ran one after the other
    assert state.status == "COMPLETE"
    item = records.items[("F1", "R000")]
    assert (item["version"], item["data"]["lot_number"], item["row_number"]) == (2, "CORRECTED", 7)
    progress = c.batch_progress.get(state.batch_id)
    assert (progress["received"], progress["accepted"], progress["rejected"]) == (10, 10, 0)


def test_attack_a_stored_record_written_as_new_loses_and_is_decided_on_what_is_stored():
    records = FakeRecords()
    c = world(records)
    first = c.intake.ingest_stored(uploaded(c, csv_of([row(i) for i in range(5)]), key="incoming/001/a.csv"))
    assert first.status == "COMPLETE"
    reads = records.requests["get_many"]
    sent = []
    real_put = records.put_many
    records.put_many = lambda recs, now: sent.append(len(recs)) or real_put(recs, now)
    # Given a second file: chunk 1 all new, chunk 2 repeats two stored records (one changed),
    # chunk 3 all new, chunk 4 repeats three stored records
    rows = ([row(i) for i in range(10, 15)] + [row(0), row(1, lot_number="L2")] + [row(i) for i in range(15, 18)]
            + [row(i) for i in range(20, 25)] + [row(2), row(3), row(4), row(30), row(31)])
    state = c.intake.ingest_stored(uploaded(c, csv_of(rows), key="incoming/001/b.csv", etag="e2"))
    assert state.status == "COMPLETE"
    # Then nothing stored was overwritten as new: R000 is a duplicate, R001 version 2
    assert records.items[("F1", "R000")]["version"] == 1 and records.items[("F1", "R000")]["batch_id"] == first.batch_id
    assert (records.items[("F1", "R001")]["version"], records.items[("F1", "R001")]["data"]["lot_number"]) == (2, "L2")
    progress = c.batch_progress.get(state.batch_id)
    assert (progress["received"], progress["accepted"], progress["duplicates"]) == (20, 20, 4)
    assert c.counters.total("NATIONAL", "received") == 5 + 15  # each new record counted once
    # and the records were read twice: chunk 2's two losers, then chunk 4, read first because
    # chunk 2 had found stored records (chunks 1 and 3 were written without reading), so only
    # chunk 4's two new records were sent to be written
    assert records.requests["get_many"] - reads == 2
    assert sorted(sent) == [1, 2, 5, 5, 5]


def test_a_file_asks_for_its_facilities_once_and_an_unregistered_one_again():
    registry = FakeFacilityRegistry({"F1": "001"})
    records = FakeRecords()
    c = world(records, registry)
    rows = ([row(i) for i in range(10)] + [row(i, facility="F2") for i in range(10, 15)]
            + [row(i) for i in range(15, 20)])
    real_put = records.put_many

    def put_many(recs, now):
        # F2 is registered while the file is read: its rows after that are accepted
        if any(n.record.record_id == "R009" for n in recs):
            registry.register("F2", "001")
        return real_put(recs, now)
    records.put_many = put_many
    c.intake._pipeline = 1  # the chunks one at a time, so "after that" is a chunk boundary
    state = c.intake.ingest_stored(uploaded(c, csv_of(rows)))
    progress = c.batch_progress.get(state.batch_id)
    assert (progress["accepted"], progress["rejected"]) == (20, 0)
    # F1 once, F2 once (chunk 3); chunk 2 and 4 asked for nothing new
    assert registry.requests["provinces"] == 2
