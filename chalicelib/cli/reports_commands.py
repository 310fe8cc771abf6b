"""`reports`: operator jobs behind the progress reports."""
from __future__ import annotations

import json
import sys

from chalicelib.cli import _types as t
from chalicelib.cli._util import command, group


def register(sub) -> None:
    g = group(sub, "reports", "progress reports and their counters")
    p = command(g, "reconcile",
                "recompute the counters from records and passports (full scans) and print each drift "
                "as a JSON line, then each stranded person (attested by a facility, no passport, no "
                "pending countersign message) and each held one (a ministry revocation holds them), then "
                "each record stored but never cleaned; exit 1 if any counter drifted, anyone is stranded "
                "or any record was never cleaned", _reconcile)
    p.add_argument("--fix", action="store_true",
                   help="set drifted counters to the recomputed values (only where no event moved them "
                        "meanwhile) and release the claims of stranded people so their facility's next "
                        "signing batch offers them again; run while the pipeline is quiet")
    p.add_argument("--requeue", action="store_true",
                   help="queue the records stored but never cleaned (listed as never_cleaned lines) for "
                        "cleaning again")
    p.add_argument("--grace-minutes", type=t.whole_number(0, 10**6), default=60, metavar="N",
                   help="a record stored less than N minutes ago may still be queued: not listed (default 60)")


def _reconcile(args) -> int:
    from datetime import timedelta

    from chalicelib.cli._util import utc_now
    from chalicelib.reports.reconcile import Stranded
    from chalicelib.wiring import container

    drifts = container().reconciler.run(fix=args.fix)
    for d in drifts:
        print(json.dumps(d.to_dict(), ensure_ascii=False))
    unissued = container().reconciler.unissued(utc_now(), fix=args.fix)
    for s in unissued:
        print(json.dumps(s.to_dict(), ensure_ascii=False))
    stranded = [s for s in unissued if isinstance(s, Stranded)]
    unfixed = sum(1 for d in drifts if d.fixed is False)
    uncleaned = container().never_cleaned.run(grace=timedelta(minutes=args.grace_minutes), requeue=args.requeue)
    for line in uncleaned:
        print(json.dumps(line, ensure_ascii=False))
    print(json.dumps({"drifts": len(drifts), "fixed": sum(1 for d in drifts if d.fixed),
                      "not_fixed": unfixed if args.fix else len(drifts), "stranded": len(stranded),
                      "held": len(unissued) - len(stranded),
                      "never_cleaned": len(uncleaned), "requeued": len(uncleaned) if args.requeue else 0}),
          file=sys.stderr)
    # Drift, stranded people and never-cleaned records are incidents even when repaired: the exit
    # code lets a scheduled job alert on them. A held person is the ministry's decision, not one.
    return 1 if drifts or stranded or uncleaned else 0
