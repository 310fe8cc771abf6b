"""SQS handler for S3 upload notifications: one batch file per message. What happens when a
message cannot be processed (dead-lettered at once, or FAILED on its last receive) is
`chalicelib.intake.uploads.UploadDelivery`."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.platform.events import queue_name
from chalicelib.platform.logging import get_logger
from chalicelib.platform.sqs import process_batch
from chalicelib.wiring import container

bp = Blueprint(__name__)


def _handle_record(record) -> None:
    receives = int(record.attributes.get("ApproximateReceiveCount") or 1)
    for state in container().upload_delivery.handle(record.body, receives):
        get_logger().info("batch processed", batch_id=state.batch_id, status=state.status,
                          rows_done=state.rows_done)


@bp.on_sqs_message(queue=queue_name("intake"), batch_size=1)
def handle_intake(event):
    return process_batch(event.to_dict(), _handle_record)
