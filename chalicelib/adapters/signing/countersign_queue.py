"""SQS adapter of the countersign queue: attested chunks of a signing batch, and people to
re-evaluate (the CountersignQueue port of signing, the Reevaluations ports of cleaning and of
ministry revocations).
"""
from __future__ import annotations

import json
from typing import Sequence

from chalicelib import errors
from chalicelib.adapters.sqs import MAX_BATCH_BYTES, QueueSender


class SqsCountersignQueue:
    """Message bodies: {"kind": "facility-attested", "batch_id", "chunk", "chunks",
    "attestation": {sequence, entry_hash, facility_id, merkle_root, count, certificate_fingerprint}
    (claims the worker checks against the audit log),
    "entries": [{citizen_id, doses, entry_digest, index, proof: [hex]}]}; and
    {"kind": "reevaluate", "citizen_id"} (one per person, sent 10 to a SendMessageBatch)."""

    def __init__(self, sqs, url: str) -> None:
        self._sender = QueueSender(sqs, url)

    def enqueue(self, batch_id: str, attestation_ref: dict, people_chunks: Sequence[Sequence[dict]]) -> int:
        bodies = [{"kind": "facility-attested", "batch_id": batch_id, "chunk": i, "chunks": len(people_chunks),
                   "attestation": attestation_ref, "entries": list(chunk)} for i, chunk in enumerate(people_chunks)]
        for b in bodies:
            if len(json.dumps(b, separators=(",", ":"), ensure_ascii=False).encode("utf-8")) > MAX_BATCH_BYTES:
                raise errors.ValidationError("a countersign chunk exceeds the SQS message limit; use smaller chunks")
        return self._sender.send_all(bodies)

    def reevaluate(self, citizen_ids: Sequence[str]) -> int:
        return self._sender.send_all({"kind": "reevaluate", "citizen_id": cid} for cid in citizen_ids)
