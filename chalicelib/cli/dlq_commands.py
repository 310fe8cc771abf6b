"""`dlq`: inspect and replay dead-letter queues. `dlq list` masks personal data; `--reveal` shows
it to the operator the AWS credentials name, and writes that to the access log first."""
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
    p.add_argument("--reveal", action="store_true",
                   help="show names, birth dates, citizen ids and phones unmasked; written to the access log "
                        "under your AWS identity and each citizen shown")
    p = command(g, "replay", "move messages from QUEUE's DLQ back to QUEUE (after fixing the cause)", _replay)
    p.add_argument("queue", choices=QUEUES)
    p.add_argument("--max", type=t.positive_int, help="replay at most this many messages")


def _list(args) -> int:
    from chalicelib.wiring import container

    for m in container().dead_letter_inspection.list(args.queue, args.max, reveal=args.reveal):
        print(json.dumps(m, ensure_ascii=False))
    return 0


def _replay(args) -> int:
    from chalicelib.wiring import container

    n = container().dead_letters.replay(args.queue, args.max)
    print(f"replayed {n} message(s) from {container().settings.dlq(args.queue)}", file=sys.stderr)
    return 0
