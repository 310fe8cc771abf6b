"""`dlq`: inspect and replay dead-letter queues."""
from __future__ import annotations

import json
import sys

from chalicelib.cli import _types as t
from chalicelib.cli._util import command, group
from chalicelib.resource_names import QUEUES


def register(sub) -> None:
    g = group(sub, "dlq", "inspect and replay the dead-letter queues")
    p = command(g, "list", "show messages in QUEUE's DLQ with the reason they failed", _list)
    p.add_argument("queue", choices=QUEUES)
    p.add_argument("--max", type=t.positive_int, default=10)
    p = command(g, "replay", "move messages from QUEUE's DLQ back to QUEUE (after fixing the cause)", _replay)
    p.add_argument("queue", choices=QUEUES)
    p.add_argument("--max", type=t.positive_int, help="replay at most this many messages")


def _list(args) -> int:
    from chalicelib.wiring import container

    for m in container().dead_letters.peek(args.queue, args.max):
        print(json.dumps(m, ensure_ascii=False))
    return 0


def _replay(args) -> int:
    from chalicelib.wiring import container

    n = container().dead_letters.replay(args.queue, args.max)
    print(f"replayed {n} message(s) from {container().settings.dlq(args.queue)}", file=sys.stderr)
    return 0
