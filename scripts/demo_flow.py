"""The demo's story, driven like the real users: a province's file through S3, facilities
through the HTTP API. Each step prints what it did; the script fails loudly if a step does not
reach its end."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
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
    # One facility gives every dose of the file, so its head signs 1,000+ people at once.
    # A registry larger than the file's people, so few of them are drawn twice: about 1,100 sign.
    ap.add_argument("--people", type=int, default=5000)
    ap.add_argument("--records", type=int, default=3200)
    ap.add_argument("--facilities", type=int, default=1)
    ap.add_argument("--min-signed", type=int, default=1000, help="fail if the facility signs fewer people at once")
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
    print(f"== 2. synthetic registry ({args.people} people) and a dirty file of province 001 ({args.records} records)")
    cli("synth", "--people", str(args.people), "--records", str(args.records), "--error-rate", "0.15",
        "--seed", "2022", "--facility-province", "001", "--facilities", str(args.facilities), "--out", str(synth))

    print("== 3. importing the population registry copy into DynamoDB, and registering the province's "
          "facilities (intake accepts records only of registered facilities)")
    cli("registry", "import", str(synth / "registry.csv"))
    print("   " + cli("facility", "import", str(synth / "facilities.csv")).strip())

    print("== 4. province 001 uploads the file to S3; intake and cleaning run through the event runner")
    from chalicelib.wiring import container

    uploaded = time.monotonic()
    batch = json.loads(cli("upload", str(synth / "records.csv"), "--province", "001", "--no-wait-cleaning",
                           "--report-out", str(out / "rejected-rows.csv")))
    intake_s = time.monotonic() - uploaded
    print(f"   intake: {batch['received']} rows in {intake_s:.1f}s = {batch['received'] / intake_s:.0f} rows/s "
          "(upload, S3 event, intake handler; the CLI polls every second)")
    deadline = time.monotonic() + 600
    while batch["cleaned"] < batch["accepted"] - batch["duplicates"]:
        if time.monotonic() > deadline:
            raise SystemExit(f"cleaning stalled: {batch['cleaned']} of {batch['accepted']} records cleaned")
        time.sleep(0.5)
        batch = container().batch_progress.get(batch["batch_id"])
    # Cleaning starts with intake's first chunk, as in production: timed from the upload.
    cleaning_s = time.monotonic() - uploaded
    summary["batch"] = {k: v for k, v in batch.items() if k != "rejected_rows_report"}
    summary["throughput"] = {"intake_rows_per_s": round(batch["received"] / intake_s, 1),
                             "cleaning_records_per_s": round(batch["cleaned"] / cleaning_s, 1)}
    print(f"   cleaning: {batch['cleaned']} records in {cleaning_s:.1f}s = {batch['cleaned'] / cleaning_s:.0f} "
          "records/s from the upload (the cleaning worker runs as intake queues chunks)")
    print(f"   batch {batch['batch_id']}: received {batch['received']}, accepted {batch['accepted']}, "
          f"rejected {batch['rejected']}, cleaned {batch['cleaned']}")

    print("== 5. cleaning outcomes kept by the pipeline (national counters), and the offline engine's")
    counter = container().counters.totals(["NATIONAL"]).get("NATIONAL", {})  # the sum of its shards
    online = {k: int(counter.get(k, 0)) for k in (
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

    example = next((r for r in results if r["outcome"] == "MISMATCH" and r["suggestion"]), None)
    if example:
        with open(synth / "records.csv", encoding="utf-8") as records:
            rec = next(line for line in records if line.startswith(example["record_id"]))
        facility = rec.split(",")[1]
        # The facility signs in (a dev token from the local issuer) and reads its own record.
        token = cli("token", "staff", "--role", "facility", "--facility-id", facility).strip()
        view = get_json(f"{args.api}/v1/vaccination-records/{example['record_id']}", token)
        summary["example_mismatch"] = view
        print(f"== 6. a facility looks at record {example['record_id']} ({view['state']}):")
        print(f"   {view['cleaning']['explanation']}")
        print(f"   suggestion: {json.dumps(view['cleaning']['suggestion'], ensure_ascii=False)}")

    summary["issuing"] = sign_countersign_and_verify(args.api, out, results, synth, summary["throughput"])
    if summary["issuing"]["people_signed"] < args.min_signed:
        raise SystemExit(f"the facility signed {summary['issuing']['people_signed']} people at once, "
                         f"not the {args.min_signed} the demo shows")

    print("== 12. the audit log (attestations) against its KMS-signed checkpoints in the write-once bucket")
    audit = json.loads(cli("audit", "verify"))
    summary["audit"] = audit
    print(f"   {audit['head']['sequence']} entries, head {audit['head']['entry_hash'][:16]}..., anchored by "
          f"checkpoint #{audit['anchor']['sequence']} ({audit['anchor']['time']})")

    summary["travel_checks"] = travel_checks(args.api, summary["issuing"]["citizen"])

    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    print(f"== summary written to {out / 'summary.json'}")
    return 0


def post_json(url: str, body: dict, token: str) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def get_bytes(url: str, token: str) -> bytes:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}", "Accept": "image/png"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.read()


def sign_countersign_and_verify(api: str, out: Path, results: list[dict], synth: Path, throughput: dict) -> dict:
    """Steps 7-11: the facility signs its verified people, the ministry countersigns with KMS,
    citizens fetch their passports, and a verifier checks them against the published trust list."""
    from concurrent.futures import ThreadPoolExecutor

    records = {r["record_id"]: r for r in csv_rows(synth / "records.csv")}
    verified = [r for r in results if r["outcome"] in ("VERIFIED", "VERIFIED_NORMALIZED")]
    per_facility = Counter(records[r["record_id"]]["facility_id"] for r in verified)
    facility, _ = per_facility.most_common(1)[0]
    province = records[next(r["record_id"] for r in verified
                            if records[r["record_id"]]["facility_id"] == facility)]["province_code"].zfill(3)

    print("== 7. the ministry's DSCs for the KMS keys, published in the trust list")
    cli("keys", "provision-kms", "--dir", str(out / "pki"))
    print(f"== 8. facility {facility}: a government CA (dev), its signing certificate, registered")
    # A second `make demo` keeps the CA and the facility's key of the first: the CLI never replaces
    # them (it would orphan every certificate the CA issued), and re-registering them is harmless.
    if not (out / "gov-ca" / "ca.pem").exists():
        cli("facility", "ca", "init", "--out", str(out / "gov-ca"))
    cli("facility", "ca", "register", "--cert", str(out / "gov-ca" / "ca.pem"))
    if not (out / "facility-keys" / f"{facility}.pem").exists():
        cli("facility", "cert", "--ca-dir", str(out / "gov-ca"), "--facility-id", facility, "--province", province,
            "--out", str(out / "facility-keys"))
    cli("facility", "register", "--facility-id", facility, "--name", f"Trạm Y tế {facility}", "--province", province,
        "--head", "BS. Nguyễn Thị Lan", "--cert", str(out / "facility-keys" / f"{facility}.pem"))

    token = cli("token", "staff", "--role", "facility", "--facility-id", facility, "--province", province).strip()
    started = time.monotonic()
    manifest = post_json(f"{api}/v1/facilities/{facility}/signing-batches", {}, token)
    batch_file = out / "signing-batch.json"
    batch_file.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"== 9. the facility head signs {manifest['count']} people at once (Merkle root "
          f"{manifest['merkle_root'][:16]}...) with the facility's key, offline")
    cli("facility", "sign", "--key", str(out / "facility-keys" / f"{facility}.key.pem"), "--batch", str(batch_file),
        "--out", str(out / "signing-batch.sig.json"))
    sig = json.loads((out / "signing-batch.sig.json").read_text())
    attestation = post_json(f"{api}/v1/signing-batches/{manifest['batch_id']}/signature", {
        "signature": sig["signature"], "algorithm": sig["algorithm"], "certificate": sig["certificate"]}, token)
    signing_s = time.monotonic() - started
    throughput["facility_signing_people_per_s"] = round(manifest["count"] / signing_s, 1)
    print(f"   attestation #{attestation['sequence']} in the audit log; {attestation['messages_queued']} "
          f"countersign messages queued; manifest, offline signature and attestation of {manifest['count']} "
          f"people in {signing_s:.1f}s = {manifest['count'] / signing_s:.0f} people/s")

    print("== 10. central countersigning with the KMS DSC key (event runner); citizens fetch their passports")
    people = [e["citizen_id"] for e in manifest["entries"]]
    started = time.monotonic()
    issued = wait_for_passports(len(set(people)), started + 600)
    countersign_s = time.monotonic() - started
    throughput["countersigning_passports_per_s"] = round(issued / countersign_s, 1)
    print(f"   countersigning: {issued} passports in {countersign_s:.1f}s = {issued / countersign_s:.0f} passports/s "
          "(one KMS Sign each)")
    qr_dir = out / "qr"
    qr_dir.mkdir(exist_ok=True)
    mint = citizen_tokens()

    def fetch(cid: str) -> tuple[dict, bytes]:
        citizen = mint(cid)
        return get_json(f"{api}/v1/passports/me", citizen), get_bytes(f"{api}/v1/passports/me/qr.png", citizen)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        fetched_all = list(pool.map(fetch, people))
    fetch_s = time.monotonic() - started
    hc1_lines = []
    for n, (cid, (passport, png)) in enumerate(zip(people, fetched_all), start=1):
        (qr_dir / f"{cid}.png").write_bytes(png)
        hc1_lines.append(passport["hc1"])
        if n <= 3:
            d = passport["display"]
            print(f"   {d['name']} ({d['date_of_birth']}): {d['vaccine']} dose {d['dose']}/{d['series_doses']} "
                  f"on {d['vaccination_date']}, valid until {passport['valid_until']}, {passport['status']}")
    fetched = len(fetched_all)
    throughput["citizen_fetches_per_s"] = round(fetched / fetch_s, 1)
    print(f"   {fetched} citizens fetched their passport and QR image in {fetch_s:.1f}s = {fetched / fetch_s:.0f}/s "
          "(GET /v1/passports/me and /qr.png, 4 at a time)")
    (out / "passports.txt").write_text("\n".join(hc1_lines) + "\n")

    print("== 11. a verifier checks every HC1 and QR image against GET /v1/trust-list")
    (out / "trust-list.json").write_text(json.dumps(get_json(f"{api}/v1/trust-list")))
    verdicts = [json.loads(line) for line in subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "verify", "--trust-list", str(out / "trust-list.json")],
        cwd=ROOT, input="\n".join(hc1_lines) + "\n", stdout=subprocess.PIPE, text=True).stdout.splitlines()]
    import zxingcpp
    from PIL import Image

    from_images = [zxingcpp.read_barcodes(Image.open(qr_dir / f"{cid}.png"))[0].text for cid in people]
    valid = sum(v["valid"] for v in verdicts)
    print(f"   {valid}/{len(verdicts)} passports valid; {sum(a == b for a, b in zip(from_images, hc1_lines))}"
          f"/{len(people)} QR images decode to the same HC1")
    if valid != len(people) or from_images != hc1_lines:
        raise SystemExit("verification failed")
    return {"facility": facility, "batch_id": manifest["batch_id"], "people_signed": manifest["count"],
            "passports_fetched": fetched, "passports_valid": valid, "qr_dir": str(qr_dir), "citizen": people[0]}


def travel_checks(api: str, citizen_id: str) -> dict:
    print("== 13. travel checks: Austria's and Germany's rules imported, a citizen asks before each trip")
    subprocess.run([sys.executable, "-m", "chalicelib.cli", "rules", "import", str(ROOT / "examples" / "rules")],
                   cwd=ROOT, check=True)
    token = citizen_tokens()(citizen_id)
    checks = {}
    for country in ("AT", "DE"):
        check = get_json(f"{api}/v1/passports/me/travel-check?country={country}", token)
        checks[country] = check
        verdict = "passes" if check["passes"] else f"does not pass ({', '.join(check['failed'])})"
        print(f"   {country}: the passport {verdict}")
        for rule in check["rules"]:
            print(f"      {rule['identifier']} {rule['result']}: {rule['description'][:90]}")
    return checks


def wait_for_passports(people: int, deadline: float) -> int:
    """Passports issued nationally (the counters), once they reach `people`."""
    from chalicelib.wiring import container

    while True:
        issued = int(container().counters.totals(["NATIONAL"]).get("NATIONAL", {}).get("passports_issued") or 0)
        if issued >= people:
            return issued
        if time.monotonic() > deadline:
            raise SystemExit(f"countersigning stalled: {issued} of {people} passports issued")
        time.sleep(0.5)


def citizen_tokens():
    """Mints citizen tokens in this process from the dev issuer (`vaxpass token citizen` does the
    same; a process per citizen would cost the demo minutes at a thousand citizens)."""
    from datetime import datetime, timezone

    from chalicelib.auth import dev_issuer
    from chalicelib.auth.principal import principal_from_claims
    from chalicelib.wiring import container

    s = container().settings
    issuer = dev_issuer.DevIssuer.from_file(s.dev_jwt_key_file, issuer=s.jwt_issuer, audience=s.jwt_audience,
                                            clock=lambda: datetime.now(timezone.utc))
    return lambda cid: issuer.mint(principal_from_claims(dev_issuer.claims_for(dev_issuer.citizen(cid))),
                                   ttl_s=3600)


def csv_rows(path: Path) -> list[dict]:
    import csv

    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


if __name__ == "__main__":
    sys.exit(main())
