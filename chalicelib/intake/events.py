"""SQS handler for S3 upload notifications: one batch file per message. What happens when a
message cannot be processed (dead-lettered at once, or FAILED on its last receive) is
`chalicelib.intake.uploads.UploadDelivery`, which also stops a long file before the invocation's
remaining time (the Lambda context's) runs out and hands it to a continuation message."""
from __future__ import annotations

import functools

from chalice import Blueprint

from chalicelib.platform.events import queue_name
from chalicelib.platform.logging import get_logger
from chalicelib.platform.sqs import process_batch
from chalicelib.wiring import container

bp = Blueprint(__name__)


def _handle_record(record, remaining_ms=None) -> None:
    receives = int(record.attributes.get("ApproximateReceiveCount") or 1)
    for state in container().upload_delivery.handle(record.body, receives, remaining_ms):
        get_logger().info("batch processed", batch_id=state.batch_id, status=state.status,
                          rows_done=state.rows_done, continued=state.suspended, superseded=state.superseded)


@bp.on_sqs_message(queue=queue_name("intake"), batch_size=1)
def handle_intake(event):
    remaining_ms = getattr(event.context, "get_remaining_time_in_millis", None)
    return process_batch(event.to_dict(), functools.partial(_handle_record, remaining_ms=remaining_ms))
