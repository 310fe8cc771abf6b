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
    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(event=event, record_handler=record_handler,
                                    processor=processor, context=context)
