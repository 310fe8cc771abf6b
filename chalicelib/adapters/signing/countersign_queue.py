"""SQS adapter of the countersign queue: attested chunks of a signing batch, and people to
re-evaluate (the CountersignQueue port of signing, the Reevaluations ports of cleaning and of
ministry revocations).
"""
from __future__ import annotations

import json
from typing import Sequence

from chalicelib import errors
from chalicelib.adapters.sqs import MAX_BATCH_BYTES, QueueSender
from chalicelib.privacy import Pseudonyms, Sealer


class CountersignSealing:
    """The wire form of countersign messages (see SqsCountersignQueue). On its own, without the
    queue, for the worker: opening a message needs no SQS request (nor a grant to send)."""

    def __init__(self, *, pseudonyms: Pseudonyms | None = None, sealer: Sealer | None = None) -> None:
        self._pseudonyms, self._sealer = pseudonyms, sealer

    @staticmethod
    def _context(body: dict) -> dict[str, str]:
        bound = ("batch_id", "chunk") if body.get("kind") == "facility-attested" else ("citizen",)
        return {"purpose": "vaxpass-queue", "queue": "countersign", "kind": str(body.get("kind")),
                **{k: str(body.get(k)) for k in bound}}

    def _sealed(self, body: dict) -> dict:
        if self._sealer is None or self._pseudonyms is None:
            return body
        hide = self._pseudonyms.pseudonym
        if body["kind"] == "reevaluate":
            out: dict = {"kind": "reevaluate", "citizen": hide(body["citizen_id"])}
            plain: object = {"citizen_id": body["citizen_id"]}
        else:
            out = {**body, "entries": [{"index": e.get("index"), "citizen": hide(str(e.get("citizen_id")))}
                                       for e in body["entries"]]}
            plain = body["entries"]
        return {**out, "sealed": self._sealer.seal(self._context(out), json.dumps(plain, ensure_ascii=False).encode())}

    def open(self, body: object) -> object:
        """The message as the worker reads it. A sealed part that does not open under this
        message's batch and chunk (copied from another message, or altered) is refused."""
        if not isinstance(body, dict) or "sealed" not in body:
            return body
        if self._sealer is None or self._pseudonyms is None or not isinstance(body["sealed"], str):
            raise errors.ValidationError("a countersign message's sealed part cannot be opened here")
        try:
            plain = json.loads(self._sealer.open(self._context(body), body["sealed"]))
        except (errors.SealBroken, ValueError) as e:
            raise errors.ValidationError("a countersign message's sealed part does not open: moved or altered") from e
        # What is in clear must be what was sealed: a message that keeps a genuine sealed part and
        # changes the entries or the person beside it is a forgery, not one or the other.
        if body.get("kind") == "reevaluate":
            clear: object = body.get("citizen")
            sealed_view: object = self._pseudonyms.pseudonym(str(plain.get("citizen_id")))
        else:
            clear = body.get("entries")
            sealed_view = [{"index": e.get("index"), "citizen": self._pseudonyms.pseudonym(str(e.get("citizen_id")))}
                           for e in plain]
        if clear != sealed_view:
            raise errors.ValidationError("a countersign message's entries are not the ones it sealed")
        rest = {k: v for k, v in body.items() if k not in ("sealed", "citizen")}
        if body.get("kind") == "reevaluate":
            return {**rest, **plain}
        return {**rest, "entries": plain}

class SqsCountersignQueue(CountersignSealing):
    """Message bodies: {"kind": "facility-attested", "batch_id", "chunk", "chunks",
    "attestation": {sequence, entry_hash, facility_id, merkle_root, count, certificate_fingerprint}
    (claims the worker checks against the audit log),
    "entries": [{citizen_id, doses, entry_digest, index, proof: [hex]}]}; and
    {"kind": "reevaluate", "citizen_id"} (one per person, sent 10 to a SendMessageBatch).

    That is what the worker reads (`open`). On the wire, with a sealer and pseudonyms, a queue or
    dead-letter reader sees no citizen id and no dose: each entry is {index, citizen: pseudonym},
    a re-evaluation {kind, citizen}, and the personal part is one `sealed` blob bound to the
    queue, the batch and chunk (or the pseudonym), which `open` puts back."""

    def __init__(self, sqs, url: str, *, pseudonyms: Pseudonyms | None = None, sealer: Sealer | None = None) -> None:
        super().__init__(pseudonyms=pseudonyms, sealer=sealer)
        self._sender = QueueSender(sqs, url)

    def enqueue(self, batch_id: str, attestation_ref: dict, people_chunks: Sequence[Sequence[dict]]) -> int:
        bodies = [{"kind": "facility-attested", "batch_id": batch_id, "chunk": i, "chunks": len(people_chunks),
                   "attestation": attestation_ref, "entries": list(chunk)} for i, chunk in enumerate(people_chunks)]
        bodies = [self._sealed(b) for b in bodies]
        for b in bodies:
            if len(json.dumps(b, separators=(",", ":"), ensure_ascii=False).encode("utf-8")) > MAX_BATCH_BYTES:
                raise errors.ValidationError("a countersign chunk exceeds the SQS message limit; use smaller chunks")
        return self._sender.send_all(bodies)

    def reevaluate(self, citizen_ids: Sequence[str]) -> int:
        return self._sender.send_all(self._sealed({"kind": "reevaluate", "citizen_id": cid}) for cid in citizen_ids)
