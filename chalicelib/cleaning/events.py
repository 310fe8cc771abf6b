"""SQS handler of the cleaning queue: one message = a chunk of record references."""
from __future__ import annotations

import json

from chalice import Blueprint

from chalicelib.platform.events import queue_name
from chalicelib.platform.logging import get_logger
from chalicelib.platform.sqs import process_batch
from chalicelib.wiring import container

bp = Blueprint(__name__)


def _handle_record(record) -> None:
    body = json.loads(record.body)
    stats = container().verification.verify(body["records"])
    get_logger().info("records verified", batch_id=body.get("batch_id"), verified=stats.verified,
                      stale=stats.skipped_stale, already_done=stats.skipped_done, lost_race=stats.lost_race)


@bp.on_sqs_message(queue=queue_name("cleaning"), batch_size=5)
def handle_cleaning(event):
    return process_batch(event.to_dict(), _handle_record)
