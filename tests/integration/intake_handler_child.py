"""Runs the real intake handler, fed by the local event runner from this run's intake queue, in a
process of its own, and prints its peak RSS: Lambda gives handle_intake 256 MB per process.

    python -m tests.integration.intake_handler_child BATCH_ID TIMEOUT_S

Polls until the batch is COMPLETE or FAILED (or the time is up), then prints one JSON line.
The peak is VmHWM, this process's own high-water mark: getrusage's ru_maxrss starts from the
parent's RSS at fork (Linux keeps it across exec), and the parent here is pytest."""
from __future__ import annotations

import json
import resource
import sys
import time


def peak_rss_mb() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # an upper bound


def main(batch_id: str, timeout_s: float) -> int:
    from app import app
    from chalicelib.local.event_runner import EventRunner
    from chalicelib.wiring import container

    c = container()
    rss_start = peak_rss_mb()
    runner = EventRunner(app, c.client("sqs"), region=c.settings.region, wait_time_s=1)
    source = next(s for s in runner.sources if s.function_name == "handle_intake")
    deadline = time.monotonic() + timeout_s
    item = None
    while time.monotonic() < deadline:
        runner.poll_once(source, wait_time_s=1)
        item = c.batches.get(batch_id)
        if item is not None and item["status"] in ("COMPLETE", "FAILED"):
            break
    print(json.dumps({"rss_start_mb": rss_start,
                      "rss_peak_mb": peak_rss_mb(),
                      "status": item["status"] if item else None, "error_code": item["error_code"] if item else None,
                      "error_message": item["error_message"] if item else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2])))
