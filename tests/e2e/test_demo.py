"""`make demo` as a new user runs it: the stack comes up, the pipeline reaches its end, and
`make demo-stop` leaves no process behind."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_demo_reaches_its_end_and_stop_leaves_nothing_running(aws_endpoint):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAXPASS_")}
    env["VAXPASS_API_PORT"] = "8765"
    # The demo's processes record their functions' AWS calls: tests/integration/test_iam_recorded_calls.py
    # checks them against the IAM policies with the rest of the session's.
    calls = ROOT / "test-artifacts" / "iam-calls-demo.jsonl"
    calls.parent.mkdir(exist_ok=True)
    calls.write_text("")
    env["IAM_CALLS_FILE"] = str(calls)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests" / "iam_site"), str(ROOT)]
                                        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    try:
        # 6 minutes measured on a loaded 2-core machine with 1,106 people signed (cleaning at about
        # 30 records/s and countersigning at about 20 passports/s today): the margin is for a busier one.
        run = subprocess.run(["bash", "scripts/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=900)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert "Stop everything with:  make demo-stop" in run.stdout
        pids = {name: int((ROOT / ".run" / f"{name}.pid").read_text()) for name in ("chalice", "events")}
        assert all(_alive(p) for p in pids.values())
        summary = json.loads((ROOT / "demo-output" / "summary.json").read_text())
        batch = summary["batch"]
        assert batch["status"] == "COMPLETE" and batch["received"] == batch["accepted"] + batch["rejected"]
        assert summary["national_counters"]["received"] >= batch["accepted"] - batch["duplicates"]
        # One facility head signs a thousand people at once, and every stage prints its throughput.
        assert summary["issuing"]["people_signed"] >= 1000
        assert summary["issuing"]["passports_valid"] == summary["issuing"]["people_signed"]
        assert set(summary["throughput"]) == {"intake_rows_per_s", "cleaning_records_per_s",
                                              "facility_signing_people_per_s", "countersigning_passports_per_s",
                                              "citizen_fetches_per_s"}
        assert "records/s" in run.stdout and "passports/s" in run.stdout
    finally:
        stop = subprocess.run(["bash", "scripts/demo-stop.sh"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
    assert stop.returncode == 0
    assert not any(_alive(p) for p in pids.values())
    assert not (ROOT / ".run" / "chalice.pid").exists() and not (ROOT / ".run" / "events.pid").exists()
    # the LocalStack that `make test` started is not the demo's to stop
    assert subprocess.run(["curl", "-fs", f"{aws_endpoint}/_localstack/health"], capture_output=True).returncode == 0
