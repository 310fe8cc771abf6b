from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.reports.never_cleaned import NeverCleanedSweep, PendingRecord, never_cleaned

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)


def rec(record_id, version=1, cleaned=0, minutes_ago=120, batch="b1"):
    return PendingRecord("F1", record_id, version, cleaned, batch, NOW - timedelta(minutes=minutes_ago))


def test_only_versions_never_cleaned_and_older_than_the_grace_period_are_listed():
    records = [rec("R3"), rec("R1", version=2, cleaned=1), rec("R2", cleaned=1), rec("R4", minutes_ago=5)]
    assert [r.record_id for r in never_cleaned(records, now=NOW, grace=timedelta(minutes=60))] == ["R1", "R3"]
    assert [r.record_id for r in never_cleaned(records, now=NOW, grace=timedelta(0))] == ["R1", "R3", "R4"]


def test_requeue_sends_one_message_group_per_batch():
    sent = []

    class Source:
        def pending_records(self):
            return [rec("R1", batch="b2"), rec("R2", version=3, cleaned=2, batch="b1"), rec("R3", batch=None)]

    class Queue:
        def enqueue(self, batch_id, refs):
            sent.append((batch_id, list(refs)))
            return len(refs)

    sweep = NeverCleanedSweep(Source(), Queue(), lambda: NOW)
    listed = sweep.run(grace=timedelta(minutes=60))
    assert sent == [] and [line["requeued"] for line in listed] == [False] * 3
    sweep.run(grace=timedelta(minutes=60), requeue=True)
    assert sent == [("b1", [("F1", "R2", 3)]), ("b2", [("F1", "R1", 1)]), ("reconcile", [("F1", "R3", 1)])]


@pytest.mark.parametrize("value", ["-1", "soon"])
def test_reconcile_refuses_a_bad_grace_period_with_usage_not_a_traceback(value, capsys):
    from chalicelib.cli import main

    assert main(["reports", "reconcile", "--grace-minutes", value]) == 2
    err = capsys.readouterr().err
    assert "--grace-minutes" in err and len(err.splitlines()) == 1 and "Traceback" not in err
