"""The demo's story, driven like the real users: a province's file through S3, facilities
through the HTTP API. Each step prints what it did; the script fails loudly if a step does not
reach its end."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def get_json(url: str, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as resp:
        return json.loads(resp.read())


def cli(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "chalicelib.cli", *args], cwd=ROOT, check=True,
                          stdout=subprocess.PIPE, text=True)
    return proc.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--api", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--people", type=int, default=800)
    ap.add_argument("--records", type=int, default=1000)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {}

    health = get_json(f"{args.api}/v1/health")
    print("== 1. health:", json.dumps({k: v["status"] for k, v in health["checks"].items()}))
    if health["status"] != "ok":
        print("stack not healthy", file=sys.stderr)
        return 1

    synth = out / "synth"
    print(f"== 2. synthetic registry ({args.people} people) and a dirty province file ({args.records} records)")
    cli("synth", "--people", str(args.people), "--records", str(args.records), "--error-rate", "0.15",
        "--seed", "2022", "--out", str(synth))

    print("== 3. importing the population registry copy into DynamoDB")
    cli("registry", "import", str(synth / "registry.csv"))

    print("== 4. province 001 uploads the file to S3; intake and cleaning run through the event runner")
    batch = json.loads(cli("upload", str(synth / "records.csv"), "--province", "001",
                           "--report-out", str(out / "rejected-rows.csv")))
    summary["batch"] = batch
    print(f"   batch {batch['batch_id']}: received {batch['received']}, accepted {batch['accepted']}, "
          f"rejected {batch['rejected']}, cleaned {batch['cleaned']}")

    print("== 5. cleaning outcomes kept by the pipeline (national counters), and the offline engine's")
    from chalicelib.wiring import container

    counter = container().tables.Counter.get("NATIONAL", "TOTAL")
    online = {k: int(getattr(counter, k) or 0) for k in (
        "received", "verified", "verified_normalized", "mismatched", "not_found", "ambiguous", "invalid",
        "corrected")}
    summary["national_counters"] = online
    print("   pipeline: " + ", ".join(f"{k} {v}" for k, v in online.items()))
    cli("clean", "--registry", str(synth / "registry.csv"), "--records", str(synth / "records.csv"),
        "--out", str(out / "offline-results.jsonl"))
    results = [json.loads(line) for line in (out / "offline-results.jsonl").read_text().splitlines()]
    tally = Counter(r["outcome"] for r in results)
    summary["offline_outcomes"] = dict(tally)
    print("   offline:  " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items())))

    example = next((r for r in results if r["outcome"] == "MISMATCH"), None)
    if example:
        rec = next(line for line in open(synth / "records.csv", encoding="utf-8") if line.startswith(example["record_id"]))
        facility = rec.split(",")[1]
        # The facility signs in (a dev token from the local issuer) and reads its own record.
        token = cli("token", "staff", "--role", "facility", "--facility-id", facility).strip()
        view = get_json(f"{args.api}/v1/vaccination-records/{example['record_id']}", token)
        summary["example_mismatch"] = view
        print(f"== 6. a facility looks at record {example['record_id']} ({view['state']}):")
        print(f"   {view['cleaning']['explanation']}")
        print(f"   suggestion: {json.dumps(view['cleaning']['suggestion'], ensure_ascii=False)}")

    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    print(f"== summary written to {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
