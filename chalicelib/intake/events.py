"""SQS handler for S3 upload notifications: one batch file per message."""
from __future__ import annotations

import json
from urllib.parse import unquote_plus

from chalice import Blueprint

from chalicelib.platform.events import queue_name
from chalicelib.platform.logging import get_logger
from chalicelib.platform.sqs import process_batch
from chalicelib.wiring import container

bp = Blueprint(__name__)


def _handle_record(record) -> None:
    body = json.loads(record.body)
    for s3rec in body.get("Records", []):
        if not s3rec.get("eventName", "").startswith("ObjectCreated"):
            continue
        bucket = s3rec["s3"]["bucket"]["name"]
        key = unquote_plus(s3rec["s3"]["object"]["key"])
        etag = s3rec["s3"]["object"].get("eTag")
        state = container().ingest_s3_object(bucket, key, etag)
        get_logger().info("batch processed", batch_id=state.batch_id, status=state.status,
                          rows_done=state.rows_done)


@bp.on_sqs_message(queue=queue_name("intake"), batch_size=1)
def handle_intake(event):
    return process_batch(event.to_dict(), _handle_record)
