"""`events`: the local event source mapping (SQS -> Chalice handlers in this process)."""
from __future__ import annotations

import signal
import sys

from chalicelib.cli import _types as t
from chalicelib.cli._errors import CliError
from chalicelib.cli._util import command, group


def register(sub) -> None:
    g = group(sub, "events", "run the app's SQS handlers locally against the real queues")
    p = command(g, "run", "poll every queue the app listens to and invoke its handler (Ctrl-C stops)", _run)
    p.add_argument("--drain", action="store_true",
                   help="process until all queues are empty, then exit (instead of running forever)")
    p.add_argument("--wait", type=t.whole_number(0, 20), default=2,
                   help="long-poll wait in seconds, 0 to 20 (SQS's limit; default 2)")
    p.add_argument("--concurrency", type=t.whole_number(1, 64), default=4,
                   help="concurrent invocations per handler, like Lambda instances (default 4)")


def _run(args) -> int:
    from pathlib import Path

    import chalicelib

    # app.py sits next to chalicelib/ in the checkout (the console script runs from anywhere).
    root = Path(chalicelib.__file__).resolve().parent.parent
    if not (root / "app.py").is_file():
        raise CliError("events run", f"needs the source checkout's app.py next to {root / 'chalicelib'}")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from app import app
    from chalicelib.local.event_runner import EventRunner
    from chalicelib.platform.logging import get_logger
    from chalicelib.wiring import container

    c = container()
    runner = EventRunner(app, c.client("sqs"), region=c.settings.region, wait_time_s=args.wait,
                         logger=get_logger(), concurrency=args.concurrency)
    sqs = c.client("sqs")
    for source in runner.sources:
        # Fails now, in one line, if AWS is out of reach or a queue is missing: the runner itself
        # keeps polling through errors (a LocalStack blip), which would hide a wrong setup.
        sqs.get_queue_url(QueueName=source.queue_name)
    names = ", ".join(f"{s.queue_name} -> {s.function_name}" for s in runner.sources)
    print(f"event runner: {names or 'no SQS handlers'}", flush=True)
    if args.drain:
        runner.drain()
        print(f"drained: {runner.stats}", flush=True)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    try:
        runner.run_forever()
    except KeyboardInterrupt:
        runner.stop()
    return 0
