"""Local event source mapping: what Lambda's SQS poller does, for machines where Lambda cannot run.

It long-polls the real queues (LocalStack or AWS) for every `@on_sqs_message` handler of a Chalice
app and invokes the handler in this process with the same event payload Lambda would send. It keeps
Lambda's contract:
- up to `batch_size` messages per invocation;
- ReportBatchItemFailures: messages listed in `batchItemFailures` stay on the queue, the others are
  deleted; an invalid or empty item identifier fails the whole batch, as Lambda does;
- a handler that raises fails the whole batch: nothing is deleted;
- failed messages become visible again when the queue's visibility timeout ends, and the queue's
  own redrive policy moves them to the DLQ after maxReceiveCount receives (SQS does that, not us);
- each invocation gets a Lambda context whose remaining time counts down from the function's
  timeout as configured for Chalice (`.chalice/config.json`), so a handler that watches its
  deadline (intake) stops and continues here as it does on Lambda. An invocation that runs past
  its timeout is counted (`Stats.overran`); Lambda would have killed it.
"""
from __future__ import annotations

import json
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from chalice.app import SQSEventConfig
from chalice.config import Config
from chalice.local import LambdaContext

# The Lambda function whose work this thread is doing. Lambda gives each function its own role;
# running them all in one process, the tests' AWS-call recorder (infra/aws_calls.py) reads this to
# know whose role a call would use. The polling counts too: Lambda's SQS poller uses the function's role.
current_function: ContextVar[str | None] = ContextVar("vaxpass_current_function", default=None)


@dataclass
class Stats:
    invocations: int = 0
    received: int = 0
    deleted: int = 0
    failed: int = 0
    errors: int = 0
    overran: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **kw: int) -> None:
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)


@dataclass(frozen=True)
class Source:
    function_name: str
    queue_name: str
    batch_size: int


def sqs_sources(app) -> list[Source]:
    out = []
    for es in app.event_sources:
        if isinstance(es, SQSEventConfig):
            name = es.queue or (es.queue_arn or "").rsplit(":", 1)[-1]
            out.append(Source(es.name, name, es.batch_size))
    return out


def _lambda_message_attributes(attrs: dict) -> dict:
    # SQS API uses StringValue/DataType; Lambda events use camelCase keys.
    out = {}
    for name, a in (attrs or {}).items():
        out[name] = {
            "stringValue": a.get("StringValue"),
            "binaryValue": a.get("BinaryValue"),
            "stringListValues": a.get("StringListValues", []),
            "binaryListValues": a.get("BinaryListValues", []),
            "dataType": a.get("DataType"),
        }
    return out


def configured_timeouts_ms(functions, stage: str = "local", project_dir: Path | None = None) -> dict[str, int]:
    """Each function's timeout as Chalice deploys it (`.chalice/config.json` of the checkout, the
    stage's value over the top-level one), in milliseconds."""
    root = project_dir or Path(__file__).resolve().parents[2]
    on_disk = json.loads((root / ".chalice" / "config.json").read_text(encoding="utf-8"))
    return {name: 1000 * int(Config(chalice_stage=stage, function_name=name, config_from_disk=on_disk,
                                    default_params={"lambda_timeout": 60}).lambda_timeout)
            for name in functions}


class EventRunner:
    def __init__(self, app, sqs, *, region: str, wait_time_s: int = 1, logger=None,
                 memory_mb: int = 512, timeouts_ms: Mapping[str, int] | None = None, concurrency: int = 1) -> None:
        """`timeouts_ms`: per function, over the configured ones (a test shortens a deadline)."""
        self._app = app
        self._sqs = sqs
        self._region = region
        self._wait = wait_time_s
        self._log = logger
        self._memory = memory_mb
        # Lambda runs several instances of a function at once; each poller thread is one.
        self._concurrency = max(1, concurrency)
        self.sources = sqs_sources(app)
        self._timeouts_ms = {**configured_timeouts_ms(s.function_name for s in self.sources), **(timeouts_ms or {})}
        self.stats = Stats()
        self._queues: dict[str, tuple[str, str]] = {}
        self._stop = threading.Event()

    def _queue(self, name: str) -> tuple[str, str]:
        if name not in self._queues:
            url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
            arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            self._queues[name] = (url, arn)
        return self._queues[name]

    def _receive(self, url: str, batch_size: int, wait: int) -> list[dict]:
        messages: list[dict] = []
        while len(messages) < batch_size:
            resp = self._sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=min(10, batch_size - len(messages)),
                WaitTimeSeconds=wait if not messages else 0,
                AttributeNames=["All"], MessageAttributeNames=["All"])
            got = resp.get("Messages", [])
            if not got:
                break
            messages.extend(got)
        return messages

    def _event(self, messages: list[dict], arn: str) -> dict:
        return {"Records": [{
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": _lambda_message_attributes(m.get("MessageAttributes", {})),
            "md5OfBody": m.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": self._region,
        } for m in messages]}

    def poll_once(self, source: Source, wait_time_s: int | None = None) -> int:
        """Receives one batch for `source` and invokes its handler. Returns messages received."""
        url, arn = self._queue(source.queue_name)
        token = current_function.set(source.function_name)
        try:
            return self._poll_once(source, url, arn, wait_time_s)
        finally:
            current_function.reset(token)

    def _poll_once(self, source: Source, url: str, arn: str, wait_time_s: int | None) -> int:
        messages = self._receive(url, source.batch_size, self._wait if wait_time_s is None else wait_time_s)
        if not messages:
            return 0
        self.stats.add(invocations=1, received=len(messages))
        timeout_ms = self._timeouts_ms[source.function_name]
        context = LambdaContext(source.function_name, self._memory, max_runtime_ms=timeout_ms)
        handler = self._app.handler_map[source.function_name]
        try:
            response = handler(self._event(messages, arn), context)
        except Exception as e:  # noqa: BLE001 - Lambda semantics: the whole batch is retried
            self.stats.add(errors=1, failed=len(messages))
            self._check_time(source, context)
            if self._log:
                self._log.warning("handler failed; batch returns to the queue",
                                  function=source.function_name, messages=len(messages),
                                  error=type(e).__name__)
            return len(messages)
        self._check_time(source, context)
        failed_ids = self._failed_ids(response, messages)
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        for i in range(0, len(done), 10):
            chunk = done[i:i + 10]
            self._sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(chunk)])
        self.stats.add(deleted=len(done), failed=len(messages) - len(done))
        return len(messages)

    def _check_time(self, source: Source, context: LambdaContext) -> None:
        if context.get_remaining_time_in_millis() < 0:
            self.stats.add(overran=1)
            if self._log:
                self._log.warning("invocation ran past its function's timeout; Lambda would have killed it",
                                  function=source.function_name)

    @staticmethod
    def _failed_ids(response, messages: list[dict]) -> set[str]:
        if not isinstance(response, dict) or "batchItemFailures" not in response:
            return set()
        ids = {m["MessageId"] for m in messages}
        failed = set()
        for item in response["batchItemFailures"] or []:
            ident = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not ident or ident not in ids:
                # Lambda treats a malformed failure report as a failure of the whole batch.
                return ids
            failed.add(ident)
        return failed

    def drain(self, *, idle_rounds: int = 2, max_seconds: float = 120.0) -> None:
        """Polls every source until all queues look empty `idle_rounds` times in a row (tests, demo)."""
        deadline = time.monotonic() + max_seconds
        idle = 0
        while idle < idle_rounds and time.monotonic() < deadline:
            got = sum(self.poll_once(s, wait_time_s=0) for s in self.sources)
            idle = idle + 1 if got == 0 else 0
            if got == 0:
                time.sleep(0.2)

    def run_forever(self) -> None:
        threads = [threading.Thread(target=self._loop, args=(s,), name=f"poll-{s.function_name}-{i}", daemon=True)
                   for s in self.sources for i in range(self._concurrency)]
        for t in threads:
            t.start()
        try:
            while not self._stop.is_set():
                self._stop.wait(0.5)
        finally:
            self._stop.set()
            for t in threads:
                t.join(timeout=self._wait + 5)

    def _loop(self, source: Source) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(source)
            except Exception as e:  # noqa: BLE001 - keep polling; SQS or LocalStack may blip
                if self._log:
                    self._log.warning("poll failed", function=source.function_name, error=type(e).__name__)
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
