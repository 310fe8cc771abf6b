"""Helpers shared by integration tests."""
from __future__ import annotations

import json


def drain_queue(sqs, url: str) -> list[dict]:
    """Receives and deletes every visible message; returns their JSON bodies."""
    out = []
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
