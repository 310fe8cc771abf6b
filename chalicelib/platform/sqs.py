"""Runs an SQS batch one record at a time and reports partial batch failures.

Every SQS handler goes through `process_batch`, so a failing record is retried alone (the rest of
the batch is deleted) and ends in the queue's DLQ after the redrive count. Requires
ReportBatchItemFailures on the event source mapping (infra/ sets it; a test checks).
"""
from __future__ import annotations

from typing import Callable

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


def process_batch(event: dict, record_handler: Callable[[SQSRecord], None], context=None) -> dict:
    def logged(record: SQSRecord) -> None:
        try:
            record_handler(record)
        except Exception as e:
            # The message will be retried (and end in the DLQ); say why, without message content.
            from chalicelib.platform.logging import get_logger

            get_logger().warning("record failed", message_id=record.message_id, error=type(e).__name__,
                                 receive_count=record.attributes.approximate_receive_count)
            raise

    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(event=event, record_handler=logged,
                                    processor=processor, context=context)
