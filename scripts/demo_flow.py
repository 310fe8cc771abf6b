"""The demo's story, driven like the real users through the HTTP API and S3.

Each step prints what it did; the script fails loudly if a step does not reach its end.
"""
from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--api", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    health = get_json(f"{args.api}/v1/health")
    print("== health:", json.dumps({k: v["status"] for k, v in health["checks"].items()}))
    if health["status"] != "ok":
        print("stack not healthy", file=sys.stderr)
        return 1
    (out / "summary.json").write_text(json.dumps({"health": health}, indent=2))
    print(f"== summary written to {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
