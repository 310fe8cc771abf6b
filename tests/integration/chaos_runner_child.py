"""The local event runner as a process of its own, for the chaos test to kill with SIGKILL: every
SQS handler of the real app, polling the queues of the resource prefix in its environment
(VAXPASS_RESOURCE_PREFIX), several invocations at once per handler as Lambda runs them.

    python -m tests.integration.chaos_runner_child READY_FILE JOURNAL TIMEOUTS_JSON INTAKE_CHUNK_ROWS

Writes READY_FILE once the app is imported and the runner is polling, so the test's kill clock
starts when work can start (a kill during imports would test nothing). JOURNAL gets one byte as
each invocation starts (`s`) and ends (`e`), so the test can kill while one is under way. TIMEOUTS_JSON gives each
function's timeout in ms (kept under a sixth of the test queues' short visibility timeouts, as
infra/spec.py keeps them in production); INTAKE_CHUNK_ROWS, intake's checkpoint interval, small
enough that a short file takes several chunks and continuations. Runs until killed; SIGTERM stops
it cleanly."""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path


def journaled(handler, journal: int):
    def invoke(event, context):
        os.write(journal, b"s")  # one byte per write on an O_APPEND file: never torn by a kill
        try:
            return handler(event, context)
        finally:
            os.write(journal, b"e")
    return invoke


def _exit_with_parent(parent: int) -> None:
    """A test run that dies (Ctrl-C, a CI timeout) must not leave a runner polling its queues."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(3)


def main(ready_file: str, journal_file: str, timeouts_json: str, intake_chunk_rows: str) -> int:
    from app import app
    from chalicelib.local.event_runner import EventRunner, sqs_sources
    from chalicelib.platform.logging import get_logger
    from chalicelib.settings import get_settings
    from chalicelib.wiring import Container, set_container

    c = Container(get_settings(), intake_chunk_rows=int(intake_chunk_rows))
    set_container(c)
    journal = os.open(journal_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    for name in [s.function_name for s in sqs_sources(app)]:
        app.handler_map[name] = journaled(app.handler_map[name], journal)
    runner = EventRunner(app, c.client("sqs"), region=c.settings.region, wait_time_s=1, logger=get_logger(),
                         timeouts_ms=json.loads(timeouts_json), concurrency=2)
    for source in runner.sources:
        # A missing queue fails here at once: the runner itself keeps polling through errors.
        c.client("sqs").get_queue_url(QueueName=source.queue_name)
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    Path(ready_file).write_text("ready", encoding="ascii")
    runner.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
