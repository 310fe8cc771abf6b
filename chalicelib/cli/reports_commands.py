"""`reports`: operator jobs behind the progress reports."""
from __future__ import annotations

import json
import sys

from chalicelib.cli._util import command, group


def register(sub) -> None:
    g = group(sub, "reports", "progress reports and their counters")
    p = command(g, "reconcile",
                "recompute the counters from records and passports (full scans) and print each drift "
                "as a JSON line, then each stranded person (attested by a facility, no passport, no "
                "pending countersign message); exit 1 if any counter drifted or anyone is stranded", _reconcile)
    p.add_argument("--fix", action="store_true",
                   help="set drifted counters to the recomputed values (only where no event moved them "
                        "meanwhile) and release the claims of stranded people so their facility's next "
                        "signing batch offers them again; run while the pipeline is quiet")


def _reconcile(args) -> int:
    from chalicelib.cli._util import utc_now
    from chalicelib.wiring import container

    drifts = container().reconciler.run(fix=args.fix)
    for d in drifts:
        print(json.dumps(d.to_dict(), ensure_ascii=False))
    stranded = container().reconciler.stranded(utc_now(), fix=args.fix)
    for s in stranded:
        print(json.dumps(s.to_dict(), ensure_ascii=False))
    unfixed = sum(1 for d in drifts if d.fixed is False)
    print(json.dumps({"drifts": len(drifts), "fixed": sum(1 for d in drifts if d.fixed),
                      "not_fixed": unfixed if args.fix else len(drifts), "stranded": len(stranded)}), file=sys.stderr)
    # Drift and stranded people are incidents even when repaired: the exit code lets a scheduled
    # job alert on them.
    return 1 if drifts or stranded else 0
