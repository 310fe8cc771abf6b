from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.reports.never_cleaned import PendingRecord, never_cleaned
from tests.fakes import fake_container

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)


def rec(record_id, version=1, cleaned=0, minutes_ago=120, batch="b1"):
    return PendingRecord("F1", record_id, version, cleaned, batch, NOW - timedelta(minutes=minutes_ago))


def test_only_versions_never_cleaned_and_older_than_the_grace_period_are_listed():
    records = [rec("R3"), rec("R1", version=2, cleaned=1), rec("R2", cleaned=1), rec("R4", minutes_ago=5)]
    assert [r.record_id for r in never_cleaned(records, now=NOW, grace=timedelta(minutes=60))] == ["R1", "R3"]
    assert [r.record_id for r in never_cleaned(records, now=NOW, grace=timedelta(0))] == ["R1", "R3", "R4"]


def test_requeue_sends_one_message_group_per_batch():
    c = fake_container(clock=lambda: NOW)
    records = c.pending_records
    for record_id, version, cleaned, batch in (("R1", 1, 0, "b2"), ("R2", 3, 2, "b1"), ("R3", 1, 0, None)):
        key = records.add("F1", record_id, "", state="PENDING")
        records.items[key].update(version=version, cleaned_version=cleaned, batch_id=batch,
                                  updated_at=NOW - timedelta(minutes=120))
    listed = c.never_cleaned.run(grace=timedelta(minutes=60))
    assert c.cleaning_queue.messages == [] and [line["requeued"] for line in listed] == [False] * 3
    c.never_cleaned.run(grace=timedelta(minutes=60), requeue=True)
    assert c.cleaning_queue.messages == [{"batch_id": "b1", "records": [["F1", "R2", 3]]},
                                         {"batch_id": "b2", "records": [["F1", "R1", 1]]},
                                         {"batch_id": "reconcile", "records": [["F1", "R3", 1]]}]


@pytest.mark.parametrize("value", ["-1", "soon"])
def test_reconcile_refuses_a_bad_grace_period_with_usage_not_a_traceback(value, capsys):
    from chalicelib.cli import main

    assert main(["reports", "reconcile", "--grace-minutes", value]) == 2
    err = capsys.readouterr().err
    assert "--grace-minutes" in err and len(err.splitlines()) == 1 and "Traceback" not in err
