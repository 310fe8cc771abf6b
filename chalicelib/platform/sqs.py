"""Runs an SQS batch one record at a time and reports partial batch failures.

Every SQS handler goes through `process_batch`, so a failing record is retried alone (the rest of
the batch is deleted) and ends in the queue's DLQ after the redrive count. Requires
ReportBatchItemFailures on the event source mapping (infra/ sets it; a test checks).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.errors import DependencyUnavailable, DomainError


def process_batch(event: dict, record_handler: Callable[[SQSRecord], None], context=None,
                  dead_letter: Callable[[SQSRecord, Exception], None] | None = None, *,
                  concurrent: Callable[[dict], str] | None = None) -> PartialItemFailureResponse:
    """`dead_letter`, when given, receives records that failed with a permanent domain error
    (bad data, unknown person: retrying cannot help); they go straight to the DLQ with the
    reason attached instead of being retried maxReceiveCount times. `concurrent`, when given, names
    each record's lane: lanes run side by side, a lane's records one after the other, each as a
    batch of its own (for handlers that mostly wait on the network, where records of one lane would
    contend for the same items)."""
    records = event.get("Records") or []
    if concurrent is not None and len(records) > 1:
        lanes: dict[str, list[dict]] = {}
        for record in records:
            lanes.setdefault(concurrent(record), []).append(record)

        def lane(mine: list[dict]) -> list:
            failed = []
            for record in mine:
                try:
                    failed += process_batch({**event, "Records": [record]}, record_handler, context,
                                            dead_letter)["batchItemFailures"]
                except BatchProcessingError:  # its only record failed: retried, as in a batch
                    failed.append({"itemIdentifier": record["messageId"]})
            return failed

        with ThreadPoolExecutor(max_workers=len(lanes), thread_name_prefix="sqs-lanes") as pool:
            return {"batchItemFailures": [f for failures in pool.map(lane, lanes.values()) for f in failures]}

    def logged(record: SQSRecord) -> None:
        try:
            record_handler(record)
        except DomainError as e:
            if dead_letter is not None and not isinstance(e, DependencyUnavailable):
                from chalicelib.platform.logging import get_logger

                get_logger().warning("record dead-lettered", message_id=record.message_id, code=e.code)
                dead_letter(record, e)
                return
            _log_failure(record, e)
            raise
        except Exception as e:
            _log_failure(record, e)
            raise

    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(event=event, record_handler=logged,
                                    processor=processor, context=context)


def _log_failure(record: SQSRecord, e: Exception) -> None:
    # The message will be retried (and end in the DLQ); say why, without message content.
    from chalicelib.platform.logging import get_logger

    get_logger().warning("record failed", message_id=record.message_id, error=type(e).__name__,
                         receive_count=record.attributes.approximate_receive_count)
