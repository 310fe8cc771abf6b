"""`upload`: a province sends a batch file to S3, follows its progress and gets the report."""
from __future__ import annotations

import os
import sys
import threading
import time

from chalicelib.cli import _types as t
from chalicelib.cli._util import command


def register(sub) -> None:
    p = command(sub, "upload", "upload a batch file (CSV, JSONL, XLSX) for a province, wait for it "
                "and download the rejected-rows report", _upload)
    p.add_argument("file", type=t.readable_file, help="the batch file")
    p.add_argument("--province", required=True, type=t.province, help="province code (1 to 3 digits)")
    p.add_argument("--report-out", type=t.output_file, help="where to write the rejected-rows report "
                   "(default: FILE.rejected-rows.csv)")
    p.add_argument("--timeout", type=t.positive_seconds, default=1800,
                   help="seconds to wait for the batch (default 1800)")
    p.add_argument("--no-wait-cleaning", action="store_true",
                   help="stop waiting once intake is done, without waiting for cleaning")


class _Progress:
    def __init__(self, total: int) -> None:
        self._total = max(total, 1)
        self._done = 0
        self._lock = threading.Lock()
        self.shown = False

    def __call__(self, n: int) -> None:
        with self._lock:
            self._done += n
            pct = 100 * self._done / self._total
            bar = "#" * int(pct / 4)
            self.shown = True
            print(f"\rupload [{bar:<25}] {pct:5.1f}%", end="", file=sys.stderr, flush=True)


def _upload(args) -> int:
    from chalicelib import errors
    from chalicelib.intake.service import batch_id_for_upload
    from chalicelib.wiring import container

    province = args.province
    c = container()
    s3 = c.client("s3")
    bucket = c.settings.bucket("intake")
    key = f"incoming/{province}/{os.path.basename(args.file)}"
    progress = _Progress(os.path.getsize(args.file))
    try:
        s3.upload_file(str(args.file), bucket, key, Callback=progress)
    except BaseException:
        if progress.shown:
            print(file=sys.stderr)  # end the progress line, so the error is a line of its own
        raise
    etag = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    batch_id = batch_id_for_upload(bucket, key, etag)
    print(f"\nuploaded s3://{bucket}/{key}; batch {batch_id}", file=sys.stderr)

    deadline = time.monotonic() + args.timeout
    batch = None
    while time.monotonic() < deadline:
        try:
            batch = c.batch_progress.get(batch_id)
        except errors.NotFound:
            batch = None
        if batch:
            cleaned_all = batch["cleaned"] >= batch["accepted"] - batch["duplicates"]
            print(f"\r{batch['status']:<10} received {batch['received']:,} accepted {batch['accepted']:,} "
                  f"rejected {batch['rejected']:,} cleaned {batch['cleaned']:,}", end="", file=sys.stderr, flush=True)
            done = batch["status"] == "COMPLETE" and (args.no_wait_cleaning or cleaned_all)
            if batch["status"] == "FAILED" or done:
                break
        time.sleep(1)
    print(file=sys.stderr)
    if not batch or batch["status"] not in ("COMPLETE", "FAILED"):
        print("timed out waiting for the batch", file=sys.stderr)
        return 1
    if batch.get("rejected_rows_report"):
        out = args.report_out or f"{args.file}.rejected-rows.csv"
        rep = batch["rejected_rows_report"]
        s3.download_file(rep["bucket"], rep["key"], str(out))
        print(f"rejected-rows report: {out}", file=sys.stderr)
    import json

    print(json.dumps({k: v for k, v in batch.items() if k != "rejected_rows_report"}, ensure_ascii=False))
    if batch["status"] == "FAILED":
        print(f"batch failed: {batch['error_code']}: {batch['error_message']}", file=sys.stderr)
        return 1
    return 0
