"""SQS handler of the countersign queue: one chunk of a facility-attested batch per message, or one
person to re-evaluate (`{"kind": "reevaluate", "citizen_id"}`)."""
from __future__ import annotations

import json

from chalice import Blueprint

from chalicelib import errors
from chalicelib.issuance.attested import PassportRaceLost
from chalicelib.issuance.domain import reevaluation_target
from chalicelib.platform.events import countersign_max_concurrency, queue_name
from chalicelib.platform.logging import get_logger
from chalicelib.platform.sqs import process_batch
from chalicelib.wiring import container

bp = Blueprint(__name__)


def _handle_record(record, cache: dict | None = None) -> None:
    try:
        body = json.loads(record.body)
    except ValueError:
        body = None  # refused (and kept) by the countersigner like any other malformed message
    body = container().countersign_messages.open(body)  # personal part sealed on the wire
    if isinstance(body, dict) and body.get("kind") == "reevaluate":
        _reevaluate(body)
        return
    outcomes = container().attested_countersign.handle(body, cache)
    body = body if isinstance(body, dict) else {}
    tally: dict[str, int] = {}
    for o in outcomes:
        tally[o.status] = tally.get(o.status, 0) + 1
    get_logger().info("countersigned", batch_id=body.get("batch_id"), chunk=body.get("chunk"), extra=tally)
    refused = [o for o in outcomes if o.status == "refused"]
    if refused:
        # Everyone else's passport is stored; the message goes to the DLQ with the reasons, and a
        # replay after the registry is fixed issues only what is still missing.
        codes = sorted({code for o in refused for code in o.detail})
        raise errors.ValidationError(f"{len(refused)} of {len(outcomes)} people could not be issued a "
                                     f"certificate: {', '.join(codes)}")


def _reevaluate(body: dict) -> None:
    outcome = container().countersign.reevaluate(reevaluation_target(body))
    get_logger().info("re-evaluated", status=outcome.status, version=outcome.version)
    if outcome.status == "lost_race":
        raise PassportRaceLost("another worker changed this passport meanwhile; retry")
    if outcome.status == "refused":
        raise errors.ValidationError(f"the person could not be issued a certificate: {', '.join(outcome.detail)}")


def _dead_letter(record, error) -> None:
    container().dead_letters.send("countersign", record.body, error.code, error.message)


@bp.on_sqs_message(queue=queue_name("countersign"), batch_size=5, maximum_concurrency=countersign_max_concurrency())
def handle_countersign(event):
    cache: dict = {}  # per invocation: what the countersigner may reuse across this batch's messages
    # A chunk waits on DynamoDB and KMS most of its time: the batch's chunks of different
    # attestations run side by side, so one chunk's reads and stores overlap another's signatures
    # (a person is leased to one chunk, so two chunks never sign one person; KMS stays under the
    # consumer's token bucket). Chunks of one attestation book the same facility's counters: they
    # run one after the other, as contending transactions would only be sent again.
    return process_batch(event.to_dict(), lambda record: _handle_record(record, cache), dead_letter=_dead_letter,
                         concurrent=_attestation_of)


def _attestation_of(record: dict) -> str:
    try:
        body = json.loads(record.get("body") or "")
        batch_id = body.get("batch_id") if isinstance(body, dict) else None
    except ValueError:
        batch_id = None
    return batch_id if isinstance(batch_id, str) else f"message:{record.get('messageId')}"
