"""QueueSender keeps each SendMessageBatch within 10 entries and 256 KiB."""
from __future__ import annotations

import json

from chalicelib.adapters.sqs import MAX_BATCH_BYTES, QueueSender


class RecordingSqs:
    def __init__(self):
        self.calls = []

    def send_message_batch(self, QueueUrl, Entries):
        self.calls.append(Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}


def test_batches_split_by_count_and_by_size():
    sqs = RecordingSqs()
    small = [{"n": i} for i in range(23)]
    assert QueueSender(sqs, "u").send_all(small) == 23
    assert [len(c) for c in sqs.calls] == [10, 10, 3]

    sqs = RecordingSqs()
    big = [{"pad": "x" * 60_000, "n": i} for i in range(9)]  # ~60 KB each: 4 fit in 256 KiB
    assert QueueSender(sqs, "u").send_all(big) == 9
    assert [len(c) for c in sqs.calls] == [4, 4, 1]
    assert all(sum(len(e["MessageBody"].encode()) for e in c) <= MAX_BATCH_BYTES for c in sqs.calls)
    assert [json.loads(e["MessageBody"])["n"] for c in sqs.calls for e in c] == list(range(9))
